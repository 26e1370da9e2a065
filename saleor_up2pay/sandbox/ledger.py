"""What the sandbox remembers: transactions (one per leg and attempt), its clock, hosts' health.

In memory, guarded by one asyncio lock held only for short, non-awaiting sections. A transaction
follows the life the notes describe (protocol §4.3, §4.8; manual §2.1.2.2, §4.2-§4.3):
authorized -> captured (possibly partially: the rest is voided) -> remitted at the end of its
capture day -> refunded, possibly several times; or cancelled before remittance.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


class Status(StrEnum):
    """``STATUS`` values of an inquiry (00017), as Up2pay spells them (protocol §4.3)."""

    AUTHORIZED = "Autorisé"
    CAPTURED = "Capturé"
    CANCELLED = "Annulé"
    REFUNDED = "Remboursé"
    REFUSED = "Refusé"
    PENDING = "En attente"
    """Not documented by Up2pay: the sandbox's guess for a transaction still waiting for the
    issuer (``E=99999``), see docs/sandbox.md."""


PENDING_CODE = "99999"


@dataclass
class Transaction:
    """One transaction known to GAE: a leg of one payment attempt."""

    site: str
    rang: int
    reference: str
    call_number: int
    number: int
    card_type: str
    amount: int
    error_code: str
    authorization: str | None
    created: datetime
    capture_due: date | None = None
    """Set for deferred payments (PBX_DIFF): captured by the platform on that day."""
    captured_amount: int | None = None
    captured_day: date | None = None
    cancelled: bool = False
    refunds: list[tuple[int, int, date]] = field(default_factory=list)
    """(refund transaction number, amount, day) of each refund."""

    @property
    def accepted(self) -> bool:
        return self.error_code == "00000"

    @property
    def refunded(self) -> int:
        return sum(amount for _, amount, _ in self.refunds)

    def settle(self, today: date) -> None:
        """Apply what the platform does by itself as days pass (deferred capture)."""
        if (
            self.capture_due is not None
            and self.captured_amount is None
            and not self.cancelled
            and today >= self.capture_due
        ):
            self.captured_amount = self.amount
            self.captured_day = self.capture_due

    def remitted(self, today: date) -> bool:
        """Captured transactions are remitted to the bank at the end of their capture day."""
        return self.captured_day is not None and today > self.captured_day

    def status(self) -> Status:
        if self.error_code == PENDING_CODE:
            return Status.PENDING
        if not self.accepted:
            return Status.REFUSED
        if self.cancelled:
            return Status.CANCELLED
        if self.refunds:
            return Status.REFUNDED
        if self.captured_amount is not None:
            return Status.CAPTURED
        return Status.AUTHORIZED

    def remittance(self, today: date) -> str:
        """``REMISE``: empty until remitted, then a remittance number."""
        if not self.remitted(today) or self.captured_day is None:
            return ""
        return self.captured_day.strftime("%Y%m%d")

    def to_json(self, today: date) -> dict[str, object]:
        self.settle(today)
        return {
            "site": self.site,
            "rang": self.rang,
            "reference": self.reference,
            "call_number": self.call_number,
            "transaction_number": self.number,
            "card_type": self.card_type,
            "amount": self.amount,
            "error_code": self.error_code,
            "authorization": self.authorization,
            "status": self.status().value,
            "captured_amount": self.captured_amount,
            "refunded_amount": self.refunded,
            "refunds": [{"transaction_number": n, "amount": a} for n, a, _ in self.refunds],
            "remitted": self.remitted(today),
        }


class Clock:
    """Paris time, moved forward by whole days on request (to reach "the day after")."""

    def __init__(self) -> None:
        self.offset_days = 0

    def now(self) -> datetime:
        return datetime.now(PARIS) + timedelta(days=self.offset_days)

    def today(self) -> date:
        return self.now().date()


def _counter(base: int, span: int) -> itertools.count[int]:
    # Starts from the time so numbers from a previous run are not handed out again (the app
    # uses S as its idempotency key); below 2**31, as Up2pay's own numbers are.
    return itertools.count(base + int(time.time() * 1000) % span)


class Numbers:
    """Unique call numbers (T) and transaction numbers (S)."""

    def __init__(self) -> None:
        self._calls = _counter(100_000_000, 800_000_000)  # 9 digits
        self._transactions = _counter(1_000_000_000, 900_000_000)  # 10 digits

    def call(self) -> int:
        return next(self._calls)

    def transaction(self) -> int:
        return next(self._transactions)
