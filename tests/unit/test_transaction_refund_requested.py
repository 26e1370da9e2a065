"""TRANSACTION_REFUND_REQUESTED use case with a fake GAE and a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

from saleor_up2pay.jobs import JobQueue
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.results import ActionAccepted, ActionFailure, ActionSuccess
from saleor_up2pay.transactions.transaction_refund_requested import RefundRequested
from saleor_up2pay.up2pay import Operation
from saleor_up2pay.up2pay.models import Leg
from tests.unit.order_action_fakes import URL, Clock, FakeGae, deps, request, stored_leg

CHARGED = {"action_type": "CHARGE", "captured_amount": "20.00"}


class TestRefundRequested:
    async def test_same_day_refund_is_accepted_and_scheduled(self, services: Services) -> None:
        """On the payment day nothing goes to GAE; a job runs it the next day."""
        await stored_leg(services, Leg.APETIZ, "20.00", **CHARGED)
        gae = FakeGae()
        outcome = await RefundRequested(deps(services, gae, Clock())).execute(
            URL, request("REFUND", "5.00")
        )
        assert isinstance(outcome, ActionAccepted)
        assert "actions" not in outcome.dump()  # never in an asynchronous answer (fact 25)
        assert gae.calls == []
        queue = JobQueue(services.redis)
        # The deferred refund, and the INFO event that reports the item's new actions.
        assert await queue.pending_count() == 2

    async def test_next_day_refund_goes_to_gae(self, services: Services) -> None:
        """Moving the injected clock one day on is enough: no sleeping, no sandbox."""
        record = await stored_leg(services, Leg.APETIZ, "20.00", **CHARGED)
        gae = FakeGae()
        clock = Clock(record.paid_at + timedelta(days=1))
        outcome = await RefundRequested(deps(services, gae, clock)).execute(
            URL, request("REFUND", "5.00")
        )
        assert isinstance(outcome, ActionSuccess)
        assert [(op, call["amount"]) for op, call in gae.calls] == [(Operation.REFUND, 500)]

    async def test_holiday_voucher_is_not_refundable(self, services: Services) -> None:
        await stored_leg(services, Leg.CVCONNECT, "20.00", **CHARGED)
        outcome = await RefundRequested(deps(services, FakeGae(), Clock())).execute(
            URL, request("REFUND", "5.00")
        )
        assert isinstance(outcome, ActionFailure)
        assert "cannot be refunded through Up2pay" in outcome.message
