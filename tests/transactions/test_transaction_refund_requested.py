"""TRANSACTION_REFUND_REQUESTED against the sandbox: refunds of each leg, now or the next day."""

from __future__ import annotations

import json
import time
from decimal import Decimal

from saleor_up2pay.jobs import JobQueue
from tests.conftest import RECORDED, require_shared
from tests.transactions.payment_world import (
    World,
    event_types,
    leg_item,
    next_day,
    paid_checkout,
)

DAY = 86_400


class TestRefund:
    async def test_voucher_refunds_next_day_each_with_its_own_reference(self, world: World) -> None:
        """Two partial refunds of a meal voucher: REFUND_SUCCESS each, distinct pspReferences."""
        _, items, paid = await paid_checkout(world, "20.00")
        item = leg_item(items)
        await next_day(world)

        await world.request_action(item.id, "REFUND", "3.20")
        await world.request_action(item.id, "REFUND", "5.00")

        refunds = [e for e in item.events if e.type == "REFUND_SUCCESS"]
        assert [e.amount for e in refunds] == [Decimal("3.20"), Decimal("5.00")]
        assert len({e.psp_reference for e in refunds}) == 2
        assert item.amounts["refunded"] == Decimal("8.20")
        assert item.amounts["charged"] == Decimal("11.80")
        assert item.actions == ["REFUND"]
        [voucher] = await world.sandbox_transactions(paid["reference"])
        assert voucher["refunded_amount"] == 820
        assert {r["transaction_number"] for r in voucher["refunds"]} == {
            int(e.psp_reference) for e in refunds
        }

    async def test_card_complement_refund(self, world: World) -> None:
        """The LIMOCB item is refunded on its own transaction (ACQUEREUR LIMOCB)."""
        _, items, paid = await paid_checkout(world, "44.80", outcome="split", voucher_amount=2000)
        complement = leg_item(items, complement=True)
        await next_day(world)

        await world.request_action(complement.id, "REFUND", "24.80")

        assert event_types(complement)[-1] == "REFUND_SUCCESS"
        assert complement.amounts["refunded"] == Decimal("24.80")
        assert complement.actions == []
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        assert legs["LIMOCB"]["refunded_amount"] == 2480
        assert legs["APETIZ"]["refunded_amount"] == 0

    async def test_holiday_voucher_refund_is_refused_with_the_reason(self, world: World) -> None:
        """Chèque-Vacances Connect: REFUND_FAILURE saying it cannot be refunded, nothing sent."""
        _, items, paid = await paid_checkout(world, "15.10", "CVCONNECT")
        item = leg_item(items)
        await next_day(world)

        await world.request_action(item.id, "REFUND")

        failure = item.events[-1]
        assert failure.type == "REFUND_FAILURE"
        assert "cannot be refunded" in failure.message
        assert item.amounts["refunded"] == 0
        [voucher] = await world.sandbox_transactions(paid["reference"])
        assert voucher["refunds"] == []

    async def test_same_day_refund_is_pending_then_executed_and_reported(
        self, world: World
    ) -> None:
        """On the day of the payment the refund is accepted as pending, run at D+1, then reported."""
        _, items, paid = await paid_checkout(world, "20.00")
        item = leg_item(items)

        await world.request_action(item.id, "REFUND", "4.00")

        request = item.events[-1]
        assert request.type == "REFUND_REQUEST"
        assert request.include is True
        assert item.amounts["refundPending"] == Decimal("4.00")
        assert item.amounts["refunded"] == 0
        queue = JobQueue(world.services.redis)
        job_ids = [
            j async for j in world.services.redis.scan_iter(match="up2pay:*:jobs:job:refund:*")
        ]
        assert len(job_ids) == 1
        # Only the INFO event carrying the item's actions runs today (never `actions` in the
        # asynchronous answer: recorded fact 25); the refund waits for tomorrow.
        assert await world.run_jobs() == 1
        info = item.events[-1]
        assert info.type == "INFO"
        assert info.psp_reference == request.psp_reference
        assert item.actions == ["REFUND"]
        assert not item.actions_stored_raw
        assert await world.run_jobs() == 0  # not before tomorrow

        await next_day(world)
        # A deferred refund runs at 00:05 Paris time the day after: a day and ten minutes on
        # is past it whatever the time of day the test runs at.
        await world.run_jobs(clock=lambda: time.time() + DAY + 600)

        success = item.events[-1]
        assert success.type == "REFUND_SUCCESS"
        assert success.psp_reference == request.psp_reference
        assert item.amounts["refundPending"] == 0
        assert item.amounts["refunded"] == Decimal("4.00")
        [voucher] = await world.sandbox_transactions(paid["reference"])
        assert voucher["refunded_amount"] == 400
        assert await queue.pending_count() == 0

    async def test_refund_delivery_with_top_level_errors_is_accepted(self, world: World) -> None:
        """Saleor's refund payload with an ``errors`` array (recorded) is still refunded."""
        _, items, _ = await paid_checkout(world, "20.00")
        item = leg_item(items)
        await next_day(world)
        recorded = require_shared(RECORDED / "webhooks" / "04-transaction-refund-requested.json")
        payload = json.loads(json.loads(recorded.read_text())["request"]["body_text"])
        payload.pop("recipient")
        payload["transaction"]["id"] = item.id
        payload["transaction"]["pspReference"] = item.psp_reference
        assert payload["errors"]

        response = await world.fake.send_webhook(
            world.app_url, "TRANSACTION_REFUND_REQUESTED", payload=payload
        )

        assert response.status_code == 200
        answer = response.json()
        assert answer["result"] == "REFUND_SUCCESS"
        assert answer["amount"] == "3.2"

    async def test_unknown_transaction_is_a_refund_failure(self, world: World) -> None:
        """An item without any IPN gets REFUND_FAILURE with a reason, not an HTTP error."""
        checkout = world.saleor.create_checkout("20.00")
        item = world.saleor.seed_initialized_item(checkout.id, "20.00")
        item.amounts["charged"] = Decimal("20.00")

        await world.request_action(item.id, "REFUND", "5.00")

        assert item.events[-1].type == "REFUND_FAILURE"
        assert "No Up2pay payment" in item.events[-1].message
