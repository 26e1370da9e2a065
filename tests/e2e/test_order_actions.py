"""Order-page actions end to end: refunds per leg, CV-Connect refusal, partial capture, D+1 rule."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from saleor_up2pay.jobs import JobQueue
from tests.e2e.conftest import Stack


async def paid_order(
    stack: Stack, total: str, method: str, outcome: str = "voucher", **options: Any
) -> tuple[str, list[str]]:
    """A checkout paid through the sandbox and completed; returns the order and its item ids."""
    checkout = stack.saleor.create_checkout(total)
    init = await stack.initialize(checkout.id, method)
    await stack.pay(init, outcome, **options)
    await stack.settled()
    completed = stack.saleor.checkout_complete(checkout.id)
    assert completed["errors"] == [], completed
    order_id = completed["order"]["id"]
    return order_id, [i.id for i in stack.saleor.items_of(order_id)]


def last_event(stack: Stack, item_id: str, type_prefix: str) -> Any:
    return [e for e in stack.item(item_id).events if e.type.startswith(type_prefix)][-1]


class TestRefunds:
    async def test_refund_of_each_leg(self, stack: Stack) -> None:
        """The next day, a partial voucher refund and a full complement refund both succeed."""
        _, (voucher, complement) = await paid_order(
            stack, "44.80", "APETIZ", "split", voucher_amount=2000
        )
        await stack.next_day()
        await stack.saleor.transaction_request_action(stack.app_url, voucher, "REFUND", "5.00")
        await stack.saleor.transaction_request_action(stack.app_url, complement, "REFUND")
        await stack.settled()
        assert last_event(stack, voucher, "REFUND_").type == "REFUND_SUCCESS"
        assert stack.item(voucher).amounts["refunded"] == Decimal("5.00")
        assert stack.item(voucher).amounts["charged"] == Decimal("15.00")
        assert stack.item(complement).amounts["refunded"] == Decimal("24.80")
        assert stack.item(complement).amounts["charged"] == 0
        refund_psps = {
            e.psp_reference
            for item in (voucher, complement)
            for e in stack.item(item).events
            if e.type == "REFUND_SUCCESS"
        }
        assert len(refund_psps) == 2

    async def test_refund_from_a_granted_refund(self, stack: Stack) -> None:
        """A granted refund sent to the complement leg is refunded like a manual one."""
        order_id, (_, complement) = await paid_order(
            stack, "44.80", "APETIZ", "split", voucher_amount=2000
        )
        await stack.next_day()
        grant = stack.saleor.grant_refund(order_id, complement, "19.90")
        await stack.saleor.transaction_request_refund_for_granted_refund(stack.app_url, grant["id"])
        await stack.settled()
        item = stack.item(complement)
        assert last_event(stack, complement, "REFUND_").type == "REFUND_SUCCESS"
        assert (item.amounts["refunded"], item.amounts["charged"]) == (
            Decimal("19.90"),
            Decimal("4.90"),
        )

    async def test_same_day_refund_is_pending_then_done_the_next_day(self, stack: Stack) -> None:
        """A refund asked on the payment day is pending, then executed and reported at D+1."""
        _, (voucher,) = await paid_order(stack, "15.00", "SODEXO")
        await stack.saleor.transaction_request_action(stack.app_url, voucher, "REFUND", "4.00")
        assert stack.item(voucher).amounts["refundPending"] == Decimal("4.00")
        assert stack.item(voucher).amounts["refunded"] == 0
        await stack.next_day()
        # A day passes for the job queue too: the deferred refund becomes due now.
        queue = JobQueue(stack.redis)
        jobs = await queue.pending_ids()
        assert jobs
        for job_id in jobs:
            await queue.set_due(job_id, time.time())
        await stack.settled()
        item = stack.item(voucher)
        assert (item.amounts["refundPending"], item.amounts["refunded"]) == (
            Decimal(0),
            Decimal("4.00"),
        )

    async def test_cv_connect_refund_is_refused_with_the_reason(self, stack: Stack) -> None:
        """A Chèque-Vacances Connect leg cannot be refunded: REFUND_FAILURE saying why."""
        _, (item_id,) = await paid_order(stack, "15.10", "CVCONNECT")
        await stack.next_day()
        await stack.saleor.transaction_request_action(stack.app_url, item_id, "REFUND", "5.00")
        failure = last_event(stack, item_id, "REFUND_")
        assert failure.type == "REFUND_FAILURE"
        assert "cannot be refunded" in failure.message
        assert stack.item(item_id).amounts["charged"] == Decimal("15.10")


class TestCapture:
    async def test_partial_capture_of_a_conecs_leg_reports_the_cancelled_rest(
        self, stack: Stack
    ) -> None:
        """Capturing 12.00 of a 20.00 Apetiz authorization charges 12.00 and cancels 8.00."""
        checkout = stack.saleor.create_checkout("20.00", channel="channel-eur-auth")
        init = await stack.initialize(checkout.id, "APETIZ")
        item_id = init["transaction"]["id"]
        assert init["transactionEvent"]["type"] == "AUTHORIZATION_ACTION_REQUIRED"
        await stack.pay(init, "voucher")
        await stack.settled()
        assert stack.item(item_id).amounts["authorized"] == Decimal("20.00")
        assert stack.item(item_id).actions == ["CHARGE"]
        completed = stack.saleor.checkout_complete(checkout.id)
        assert completed["errors"] == []
        await stack.saleor.transaction_request_action(stack.app_url, item_id, "CHARGE", "12.00")
        await stack.settled()
        item = stack.item(item_id)
        assert item.amounts["charged"] == Decimal("12.00")
        assert item.amounts["canceled"] == Decimal("8.00")
        assert item.amounts["authorized"] == 0
