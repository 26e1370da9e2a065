"""TRANSACTION_CHARGE_REQUESTED use case with a fake GAE (fast; no server, no sandbox)."""

from __future__ import annotations

from decimal import Decimal

from saleor_up2pay.jobs import JobQueue
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.legs import LegRepository
from saleor_up2pay.transactions.results import ActionFailure, ActionSuccess
from saleor_up2pay.transactions.transaction_charge_requested import ChargeRequested
from saleor_up2pay.up2pay import GaeOutcome, Operation
from saleor_up2pay.up2pay.models import Leg
from tests.unit.order_action_fakes import URL, Clock, FakeGae, deps, request, stored_leg


class TestChargeRequested:
    async def test_partial_capture_books_the_voided_rest_and_queues_its_event(
        self, services: Services
    ) -> None:
        """A partial capture succeeds, the rest is cancelled on the leg and reported later."""
        record = await stored_leg(services, Leg.APETIZ, "30.00")
        gae = FakeGae()
        outcome = await ChargeRequested(deps(services, gae, Clock())).execute(
            URL, request("CHARGE", "20.00")
        )
        assert isinstance(outcome, ActionSuccess)
        assert outcome.amount == Decimal("20.00")
        assert [(op, call["amount"]) for op, call in gae.calls] == [(Operation.CAPTURE, 2000)]
        leg = await LegRepository(services.redis).get_by_numtrans(URL, record.numtrans)
        assert leg is not None
        assert (leg.captured_amount, leg.cancelled_amount) == (Decimal("20.00"), Decimal("10.00"))
        assert await JobQueue(services.redis).pending_count() == 1  # the CANCEL_SUCCESS report

    async def test_refused_capture_releases_the_reservation(self, services: Services) -> None:
        """Up2pay refusing the capture is CHARGE_FAILURE and leaves the leg capturable."""
        record = await stored_leg(services, Leg.LIMOCB, "12.00")
        outcome = await ChargeRequested(
            deps(services, FakeGae(GaeOutcome.REFUSED), Clock())
        ).execute(URL, request("CHARGE", "12.00"))
        assert isinstance(outcome, ActionFailure)
        assert "refused the capture" in outcome.message
        assert outcome.actions == ["CHARGE", "CANCEL"]
        leg = await LegRepository(services.redis).get_by_numtrans(URL, record.numtrans)
        assert leg is not None
        assert leg.captured_amount == 0

    async def test_more_than_authorized_is_refused_without_calling_gae(
        self, services: Services
    ) -> None:
        await stored_leg(services, Leg.LIMOCB, "12.00")
        gae = FakeGae()
        outcome = await ChargeRequested(deps(services, gae, Clock())).execute(
            URL, request("CHARGE", "15.00")
        )
        assert isinstance(outcome, ActionFailure)
        assert "only 12.00 €" in outcome.message
        assert gae.calls == []

    async def test_malformed_payload_is_a_charge_failure(self, services: Services) -> None:
        """A payload that does not fit the document's model is answered, not a 500."""
        outcome = await ChargeRequested(deps(services, FakeGae(), Clock())).execute(
            URL, {"transaction": {"id": "x"}}
        )
        assert isinstance(outcome, ActionFailure)
        assert outcome.message.startswith("Saleor's request is incomplete: action")
