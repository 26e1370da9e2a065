"""The public keys Up2pay's IPN and browser-return signatures are checked with."""

from __future__ import annotations

from pathlib import Path

from saleor_up2pay.settings import Settings
from saleor_up2pay.up2pay.signature import PublicKeys

SANDBOX_PUBLIC_KEY_FILES = ("pubkey.pem", "pubkey_RSA_2048.pem")


class IpnKeys:
    """The public keys IPN signatures are checked with.

    Up2pay's shipped keys, plus ``UP2PAY_PUBLIC_KEYS``, plus — only when the default environment
    is ``sandbox`` — the local sandbox's public keys under ``DATA_DIR/sandbox/`` (the sandbox
    creates them on first start, possibly after the app, so a failed check looks again once).
    """

    def __init__(self, extra_paths: tuple[str, ...], sandbox_dir: Path | None) -> None:
        self._extra = extra_paths
        self._sandbox_dir = sandbox_dir
        self._loaded_paths: tuple[str, ...] = ()
        self._keys: PublicKeys | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> IpnKeys:
        sandbox_dir = (
            settings.data_dir / "sandbox" if settings.up2pay_environment == "sandbox" else None
        )
        return cls(tuple(settings.up2pay_public_keys), sandbox_dir)

    def _paths(self) -> tuple[str, ...]:
        found = list(self._extra)
        if self._sandbox_dir is not None:
            for name in SANDBOX_PUBLIC_KEY_FILES:
                path = self._sandbox_dir / name
                if path.is_file() and str(path) not in found:
                    found.append(str(path))
        return tuple(found)

    def keys(self, *, refresh: bool = False) -> PublicKeys:
        """The current key set; ``refresh`` reloads it if key files appeared since."""
        if self._keys is None or refresh:
            paths = self._paths()
            if self._keys is None or paths != self._loaded_paths:
                self._keys = PublicKeys.shipped(paths)
                self._loaded_paths = paths
        return self._keys
