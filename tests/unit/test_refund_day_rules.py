"""J+1 counted from the capture in the authorization flow; a same-day whole complement refund
is a cancel (fast, no server)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from saleor_up2pay.services import Services
from saleor_up2pay.transactions.legs import LegRepository
from saleor_up2pay.transactions.results import ActionSuccess
from saleor_up2pay.transactions.transaction_refund_requested import (
    RefundRequested,
    refund_allowed_now,
)
from saleor_up2pay.up2pay import Operation
from saleor_up2pay.up2pay.models import Leg
from tests.unit.order_action_fakes import PAID_AT, URL, Clock, FakeGae, deps, request, stored_leg


class TestRefundDay:
    async def test_an_authorization_is_refundable_the_day_after_its_capture(
        self, services: Services
    ) -> None:
        captured_at = PAID_AT + timedelta(days=3)
        record = await stored_leg(
            services, Leg.APETIZ, "30.00", captured_amount=Decimal("30.00"), captured_at=captured_at
        )
        assert not refund_allowed_now(record, captured_at + timedelta(hours=1))
        assert refund_allowed_now(record, captured_at + timedelta(days=1))

    async def test_a_same_day_whole_complement_refund_is_a_gae_cancel(
        self, services: Services
    ) -> None:
        record = await stored_leg(
            services,
            Leg.LIMOCB,
            "12.00",
            action_type="CHARGE",
            captured_amount=Decimal("12.00"),
        )
        gae = FakeGae()
        outcome = await RefundRequested(deps(services, gae, Clock())).execute(
            URL, request("REFUND", "12.00")
        )
        assert isinstance(outcome, ActionSuccess)
        assert [op for op, _ in gae.calls] == [Operation.CANCEL]
        leg = await LegRepository(services.redis).get_by_numtrans(URL, record.numtrans)
        assert leg is not None
        assert leg.refundable_amount == 0
