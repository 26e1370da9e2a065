"""Sandbox configuration: the merchant accounts it knows, where it keeps its keys, IPN timeout."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from saleor_up2pay.settings import Settings, SettingsError

_HEX_KEY = re.compile(r"[0-9A-Fa-f]{128}")


@dataclass(frozen=True)
class SandboxAccount:
    """One merchant account (SITE, RANG, IDENTIFIANT and its HMAC key), as in the back office."""

    site: str
    rang: str
    identifiant: str
    hmac_key: str = field(repr=False)

    def __post_init__(self) -> None:
        # Formats of the manual's "Assistance" section: SITE 7 digits, RANG 2-3, IDENTIFIANT 1-9.
        if not re.fullmatch(r"\d{7}", self.site):
            msg = f"site {self.site!r}: 7 digits expected"
            raise ValueError(msg)
        if not re.fullmatch(r"\d{2,3}", self.rang):
            msg = f"rang {self.rang!r}: 2 or 3 digits expected"
            raise ValueError(msg)
        if not re.fullmatch(r"\d{1,9}", self.identifiant):
            msg = f"identifiant {self.identifiant!r}: 1 to 9 digits expected"
            raise ValueError(msg)
        if not _HEX_KEY.fullmatch(self.hmac_key):
            msg = (
                f"account {self.site}/{self.rang}: the HMAC key must be 128 hexadecimal characters"
            )
            raise ValueError(msg)

    @property
    def key(self) -> tuple[str, int]:
        """Lookup key: Up2pay treats RANG ``32`` and ``032`` as the same rank (protocol §2.2)."""
        return (self.site, int(self.rang))


# The public Up2pay/Paybox test account the app uses by default (protocol §5, Settings defaults).
DEFAULT_ACCOUNT = SandboxAccount(
    site="1999888", rang="32", identifiant="107904482", hmac_key="0123456789ABCDEF" * 8
)


def parse_accounts(spec: str) -> tuple[SandboxAccount, ...]:
    """Parse ``site:rang:identifiant:key;...`` (the ``SANDBOX_ACCOUNTS`` setting)."""
    accounts = []
    for raw_item in spec.split(";"):
        item = raw_item.strip()
        if not item:
            continue
        parts = [p.strip() for p in item.split(":")]
        if len(parts) != 4:
            msg = "each account is site:rang:identifiant:hmac_key, accounts separated by ';'"
            raise ValueError(msg)
        accounts.append(SandboxAccount(*parts))
    return tuple(accounts)


@dataclass(frozen=True)
class SandboxConfig:
    """Everything :func:`saleor_up2pay.sandbox.create_sandbox_app` needs."""

    data_dir: Path
    """Signing keys live in ``<data_dir>/sandbox/`` (generated once, then reused)."""
    accounts: tuple[SandboxAccount, ...] = (DEFAULT_ACCOUNT,)
    ipn_timeout_seconds: float = 20.0
    """Up2pay gives up on an IPN after about 20 s (protocol §3.2)."""
    max_attempts: int = 3
    """Payment attempts per hosted-page session (protocol §3.2: "3 tentatives maximum")."""

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "sandbox"

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxConfig:
        """The default test account plus ``SANDBOX_ACCOUNTS``; keys under ``DATA_DIR``."""
        try:
            extra = parse_accounts(settings.sandbox_accounts)
        except ValueError as exc:
            raise SettingsError(f"SANDBOX_ACCOUNTS: {exc}") from None
        accounts = {DEFAULT_ACCOUNT.key: DEFAULT_ACCOUNT}
        for account in extra:
            accounts[account.key] = account
        return cls(data_dir=settings.data_dir, accounts=tuple(accounts.values()))
