"""TRANSACTION_CANCELATION_REQUESTED use case with a fake GAE."""

from __future__ import annotations

from saleor_up2pay.services import Services
from saleor_up2pay.transactions.results import ActionFailure, ActionSuccess
from saleor_up2pay.transactions.transaction_cancelation_requested import CancelRequested
from saleor_up2pay.up2pay import Operation
from saleor_up2pay.up2pay.models import Leg
from tests.unit.order_action_fakes import URL, Clock, FakeGae, deps, request, stored_leg


class TestCancelationRequested:
    async def test_card_complement_is_voided_at_up2pay(self, services: Services) -> None:
        await stored_leg(services, Leg.LIMOCB, "8.50")
        gae = FakeGae()
        outcome = await CancelRequested(deps(services, gae, Clock())).execute(
            URL, request("CANCEL", "8.50")
        )
        assert isinstance(outcome, ActionSuccess)
        assert [op for op, _ in gae.calls] == [Operation.CANCEL]
        assert outcome.actions == []

    async def test_voucher_leg_cannot_be_cancelled(self, services: Services) -> None:
        await stored_leg(services, Leg.APETIZ, "20.00")
        gae = FakeGae()
        outcome = await CancelRequested(deps(services, gae, Clock())).execute(
            URL, request("CANCEL", "20.00")
        )
        assert isinstance(outcome, ActionFailure)
        assert "only the card complement" in outcome.message
        assert gae.calls == []
