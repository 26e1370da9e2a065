"""TRANSACTION_CANCELATION_REQUESTED against the sandbox: cancel, and release of abandoned funds."""

from __future__ import annotations

from decimal import Decimal

from saleor_up2pay.activity import ActivityLog
from tests.transactions.payment_world import (
    World,
    event_types,
    leg_item,
    next_day,
    paid_checkout,
)

DAY = 86_400


class TestCancel:
    async def test_card_complement_authorization_is_cancelled(self, world: World) -> None:
        """Cancelling the LIMOCB item voids it at Up2pay: CANCEL_SUCCESS, no buttons left."""
        _, items, paid = await paid_checkout(
            world, "44.80", channel="channel-eur-auth", outcome="split", voucher_amount=2000
        )
        complement = leg_item(items, complement=True)

        await world.request_action(complement.id, "CANCEL")

        assert event_types(complement)[-1] == "CANCEL_SUCCESS"
        assert complement.amounts["canceled"] == Decimal("24.80")
        assert complement.amounts["authorized"] == 0
        assert complement.actions == []
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        assert legs["LIMOCB"]["status"] == "Annulé"

    async def test_voucher_leg_cannot_be_cancelled(self, world: World) -> None:
        """A meal voucher authorization answers CANCEL_FAILURE with the reason; nothing changes."""
        _, items, paid = await paid_checkout(world, "30.00", channel="channel-eur-auth")
        item = leg_item(items)

        await world.request_action(item.id, "CANCEL")

        failure = item.events[-1]
        assert failure.type == "CANCEL_FAILURE"
        assert "cannot be cancelled" in failure.message
        assert item.amounts["authorized"] == Decimal("30.00")
        [voucher] = await world.sandbox_transactions(paid["reference"])
        assert voucher["status"] == "Autorisé"


class TestReleaseFunds:
    """Saleor releasing the funds of an abandoned checkout (§7.5): order null, no principal."""

    async def test_card_complement_of_an_abandoned_checkout_is_cancelled(
        self, world: World
    ) -> None:
        """The LIMOCB authorization is voided at Up2pay (GAE cancel) and answered CANCEL_SUCCESS."""
        checkout_id, items, paid = await paid_checkout(
            world, "44.80", channel="channel-eur-auth", outcome="split", voucher_amount=2000
        )
        complement = leg_item(items, complement=True)

        requested = await world.saleor.release_funds(world.app_url, checkout_id)

        assert requested == ["CANCEL", "CANCEL"]
        assert event_types(complement)[-1] == "CANCEL_SUCCESS"
        assert complement.amounts["canceled"] == Decimal("24.80")
        assert complement.amounts["authorized"] == 0
        assert complement.actions == []
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        assert legs["LIMOCB"]["status"] == "Annulé"
        entries = await ActivityLog(world.services.redis).latest(world.fake.api_url)
        assert any(e.kind == "gae" and e.outcome.startswith("cancel:") for e in entries)

    async def test_voucher_leg_of_an_abandoned_checkout_answers_the_reason(
        self, world: World
    ) -> None:
        """The meal-voucher authorization answers CANCEL_FAILURE saying why; Up2pay is untouched."""
        checkout_id, items, paid = await paid_checkout(
            world, "44.80", channel="channel-eur-auth", outcome="split", voucher_amount=2000
        )
        voucher = leg_item(items)

        await world.saleor.release_funds(world.app_url, checkout_id)

        failure = voucher.events[-1]
        assert failure.type == "CANCEL_FAILURE"
        assert "cannot be cancelled" in failure.message
        assert "Refund it instead" in failure.message
        assert voucher.amounts["authorized"] == Decimal("20.00")
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        assert legs["APETIZ"]["status"] == "Autorisé"

    async def test_charged_voucher_of_an_abandoned_checkout_is_refunded(self, world: World) -> None:
        """A refund request with order null on a charged voucher leg is refunded like any other."""
        checkout_id, items, paid = await paid_checkout(
            world, "44.80", outcome="split", voucher_amount=2000
        )
        voucher, complement = leg_item(items), leg_item(items, complement=True)
        await next_day(world)

        requested = await world.saleor.release_funds(world.app_url, checkout_id)

        assert requested == ["REFUND", "REFUND"]
        assert event_types(voucher)[-1] == "REFUND_SUCCESS"
        assert voucher.amounts["refunded"] == Decimal("20.00")
        assert complement.amounts["refunded"] == Decimal("24.80")
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        assert legs["APETIZ"]["refunded_amount"] == 2000
        assert legs["LIMOCB"]["refunded_amount"] == 2480

    async def test_complement_of_a_deleted_checkout_is_cancelled(self, world: World) -> None:
        """With neither checkout nor order in the request, the leg's session gives the config."""
        checkout_id, items, paid = await paid_checkout(
            world, "44.80", channel="channel-eur-auth", outcome="split", voucher_amount=2000
        )
        complement = leg_item(items, complement=True)
        world.saleor.delete_checkout(checkout_id)

        await world.request_action(complement.id, "CANCEL")

        assert event_types(complement)[-1] == "CANCEL_SUCCESS"
        legs = {t["card_type"]: t for t in await world.sandbox_transactions(paid["reference"])}
        assert legs["LIMOCB"]["status"] == "Annulé"
