"""TRANSACTION_CHARGE_REQUESTED against the sandbox: captures of each leg, concurrent captures."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from saleor_up2pay.activity import ActivityLog
from tests.transactions.payment_world import (
    World,
    event_types,
    leg_item,
    paid_checkout,
)

DAY = 86_400


class TestCharge:
    async def test_partial_capture_of_a_meal_voucher_reports_the_cancelled_rest(
        self, world: World
    ) -> None:
        """Capturing 20 of 30 authorized: CHARGE_SUCCESS, then CANCEL_SUCCESS of the other 10."""
        _, items, paid = await paid_checkout(world, "30.00", channel="channel-eur-auth")
        item = leg_item(items)
        assert item.actions == ["CHARGE"]

        await world.request_action(item.id, "CHARGE", "20.00")
        await world.run_jobs()

        assert item.amounts["charged"] == Decimal("20.00")
        assert item.amounts["canceled"] == Decimal("10.00")
        assert item.amounts["authorized"] == 0
        assert event_types(item)[-1] == "CANCEL_SUCCESS"
        assert item.actions == ["REFUND"]
        [voucher] = await world.sandbox_transactions(paid["reference"])
        assert voucher["captured_amount"] == 2000

    async def test_full_capture_of_the_card_complement(self, world: World) -> None:
        """The LIMOCB leg is captured with its own ACQUEREUR; no remainder to report."""
        _, items, paid = await paid_checkout(
            world, "44.80", channel="channel-eur-auth", outcome="split", voucher_amount=2000
        )
        complement = leg_item(items, complement=True)
        assert complement.actions == ["CANCEL", "CHARGE"]

        await world.request_action(complement.id, "CHARGE")
        await world.run_jobs()

        assert complement.amounts["charged"] == Decimal("24.80")
        assert "CANCEL_SUCCESS" not in event_types(complement)
        assert complement.actions == ["REFUND"]
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        assert legs["LIMOCB"]["captured_amount"] == 2480
        assert legs["APETIZ"]["captured_amount"] is None

    async def test_gae_error_is_a_charge_failure_with_a_readable_message(
        self, world: World
    ) -> None:
        """Up2pay answering an error code gives CHARGE_FAILURE with the meaning, and is logged."""
        _, items, _ = await paid_checkout(world, "30.00", channel="channel-eur-auth")
        item = leg_item(items)
        response = await world.http.post(
            f"{world.sandbox_url}/sandbox/api/gae-faults", json={"code": "00003", "count": 5}
        )
        response.raise_for_status()

        await world.request_action(item.id, "CHARGE", "30.00")
        # 00003 may hide an executed capture: answered pending, settled once an inquiry tells.
        await world.run_jobs()

        failure = item.events[-1]
        assert failure.type == "CHARGE_FAILURE"
        assert "00003" in failure.message
        assert item.amounts["charged"] == 0
        entries = await ActivityLog(world.services.redis).latest(world.fake.api_url)
        gae = [e for e in entries if e.kind == "gae"]
        assert gae
        assert gae[0].outcome == "capture:failed"
        assert "0123456789ABCDEF" not in gae[0].model_dump_json()


class TestConcurrentCharges:
    async def test_two_concurrent_captures_cannot_exceed_the_authorization(
        self, world: World
    ) -> None:
        """Captures of 15 and 15.10 on a 24.80 complement at once: one is captured, one refused."""
        _, items, paid = await paid_checkout(
            world, "44.80", channel="channel-eur-auth", outcome="split", voucher_amount=2000
        )
        complement = leg_item(items, complement=True)

        answers = await asyncio.gather(
            world.request_action(complement.id, "CHARGE", "15.00"),
            world.request_action(complement.id, "CHARGE", "15.10"),
        )
        await world.run_jobs()

        assert len(answers) == 2
        results = sorted(e.type for e in complement.events if e.type.startswith("CHARGE_"))
        assert results == ["CHARGE_FAILURE", "CHARGE_REQUEST", "CHARGE_REQUEST", "CHARGE_SUCCESS"]
        failure = next(e for e in complement.events if e.type == "CHARGE_FAILURE")
        assert "Nothing is left to capture" in failure.message
        # One capture per authorization: the uncaptured rest is released, not left capturable.
        charged = complement.amounts["charged"]
        assert charged in {Decimal("15.00"), Decimal("15.10")}
        assert complement.amounts["canceled"] == Decimal("24.80") - charged
        assert complement.amounts["authorized"] == Decimal("0")
        assert "CHARGE" not in complement.actions
        entries = await ActivityLog(world.services.redis).latest(world.fake.api_url)
        assert len([e for e in entries if e.kind == "gae"]) == 1  # the refused one never left
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        assert legs["LIMOCB"]["captured_amount"] == int(charged * 100)

    async def test_two_identical_concurrent_requests_are_one_capture(self, world: World) -> None:
        """Byte-identical deliveries are one operation (Saleor's redelivery looks the same):
        captured once at Up2pay, both answered with its pspReference."""
        _, items, paid = await paid_checkout(
            world, "44.80", channel="channel-eur-auth", outcome="split", voucher_amount=2000
        )
        complement = leg_item(items, complement=True)

        await asyncio.gather(
            world.request_action(complement.id, "CHARGE", "15.00"),
            world.request_action(complement.id, "CHARGE", "15.00"),
        )
        await world.run_jobs()

        assert complement.amounts["charged"] == Decimal("15.00")
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        executions = await world.executions(legs["LIMOCB"]["transaction_number"])
        assert [e["operation"] for e in executions] == ["capture"]

    async def test_concurrent_partial_captures_of_a_meal_voucher(self, world: World) -> None:
        """A Conecs partial capture voids the rest: a concurrent second capture finds nothing."""
        _, items, _ = await paid_checkout(world, "30.00", channel="channel-eur-auth")
        item = leg_item(items)

        await asyncio.gather(
            world.request_action(item.id, "CHARGE", "10.00"),
            world.request_action(item.id, "CHARGE", "10.50"),
        )
        await world.run_jobs()

        failure = next(e for e in item.events if e.type == "CHARGE_FAILURE")
        assert "Nothing is left to capture" in failure.message
        charged = item.amounts["charged"]
        assert charged in {Decimal("10.00"), Decimal("10.50")}
        assert item.amounts["canceled"] == Decimal("30.00") - charged
        assert item.actions == ["REFUND"]
        entries = await ActivityLog(world.services.redis).latest(world.fake.api_url)
        assert len([e for e in entries if e.kind == "gae"]) == 1

    async def test_failed_capture_releases_its_reservation(self, world: World) -> None:
        """After Up2pay refused a capture, the whole authorization can still be captured."""
        _, items, paid = await paid_checkout(
            world, "44.80", channel="channel-eur-auth", outcome="split", voucher_amount=2000
        )
        complement = leg_item(items, complement=True)
        response = await world.http.post(
            f"{world.sandbox_url}/sandbox/api/gae-faults", json={"code": "00003", "count": 1}
        )
        response.raise_for_status()

        await world.request_action(complement.id, "CHARGE", "20.00")
        assert complement.events[-1].type == "CHARGE_FAILURE"
        assert complement.actions == ["CANCEL", "CHARGE"]
        await world.request_action(complement.id, "CHARGE", "24.80")

        assert complement.events[-1].type == "CHARGE_SUCCESS"
        assert complement.amounts["charged"] == Decimal("24.80")
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        assert legs["LIMOCB"]["captured_amount"] == 2480
