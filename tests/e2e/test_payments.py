"""Voucher payments end to end over real HTTP: storefront → app → sandbox → IPN → Saleor."""

from __future__ import annotations

from decimal import Decimal

from saleor_up2pay.jobs import JobQueue
from tests.e2e.conftest import LATER_JOBS, Stack


def charged(stack: Stack, item_id: str) -> Decimal:
    return stack.item(item_id).amounts["charged"]


class TestVoucherOnly:
    async def test_voucher_pays_the_whole_checkout(self, stack: Stack) -> None:
        """Apetiz pays 15.10: one item charged 15.10, named, with metadata; the checkout completes."""
        checkout = stack.saleor.create_checkout("15.10")
        init = await stack.initialize(checkout.id, "APETIZ")
        item_id = init["transaction"]["id"]
        paid = await stack.pay(init, "voucher")
        (transaction,) = paid["transactions"]
        await stack.settled()
        item = stack.item(item_id)
        assert item.amounts["charged"] == Decimal("15.10")
        assert item.name == "Up2pay · Bimpli (Apetiz)"
        assert item.actions == ["REFUND"]
        reference = init["data"]["up2pay"]["reference"]
        assert item.private_metadata["up2pay.reference"] == reference
        assert item.private_metadata["up2pay.leg"] == "APETIZ"
        assert item.private_metadata["up2pay.numappel"] == str(transaction["call_number"])
        assert item.private_metadata["up2pay.numtrans"] == str(transaction["transaction_number"])

        process = await stack.saleor.transaction_process(stack.app_url, item_id, {})
        assert process["transactionEvent"]["type"] == "CHARGE_SUCCESS"
        completed = stack.saleor.checkout_complete(checkout.id)
        assert completed["errors"] == []
        assert stack.saleor.order_status(completed["order"]["id"]) == {
            "authorizeStatus": "FULL",
            "chargeStatus": "FULL",
        }

    async def test_process_before_the_ipn_waits_then_reports_success(self, stack: Stack) -> None:
        """transactionProcess before any IPN changes no amount; after the IPN it is a success."""
        checkout = stack.saleor.create_checkout("12.00")
        init = await stack.initialize(checkout.id, "SODEXO")
        item_id = init["transaction"]["id"]
        early = await stack.saleor.transaction_process(stack.app_url, item_id, {})
        assert early["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert stack.saleor.checkout_status(checkout.id)["authorizeStatus"] == "NONE"
        await stack.pay(init, "voucher")
        await stack.settled()
        later = await stack.saleor.transaction_process(stack.app_url, item_id, {})
        assert later["transactionEvent"]["type"] == "CHARGE_SUCCESS"
        assert charged(stack, item_id) == Decimal("12.00")


class TestVoucherAndComplement:
    async def test_complement_ipn_first(self, stack: Stack) -> None:
        """Apetiz 20.00 + card 24.80, complement IPN first: two items, FULL, order FULL."""
        checkout = stack.saleor.create_checkout("44.80")
        init = await stack.initialize(checkout.id, "APETIZ")
        item_id = init["transaction"]["id"]
        await stack.pay(init, "split", voucher_amount=2000, ipn_order="complement_first")
        await stack.settled()
        items = stack.saleor.items_of(checkout.id)
        assert [i.name for i in items] == ["Up2pay · Bimpli (Apetiz)", "Up2pay · card complement"]
        assert charged(stack, item_id) == Decimal("20.00")
        assert items[1].amounts["charged"] == Decimal("24.80")
        assert items[1].private_metadata["up2pay.leg"] == "LIMOCB"
        assert items[1].actions == ["REFUND"]
        assert stack.saleor.checkout_status(checkout.id) == {
            "authorizeStatus": "FULL",
            "chargeStatus": "FULL",
        }
        completed = stack.saleor.checkout_complete(checkout.id)
        assert completed["errors"] == []
        assert len(stack.saleor.items_of(completed["order"]["id"])) == 2

    async def test_every_ipn_delivered_five_times(self, stack: Stack) -> None:
        """Each leg's IPN sent 5 times: one event per leg, exact amounts."""
        checkout = stack.saleor.create_checkout("30.00")
        init = await stack.initialize(checkout.id, "UPCHEQUDEJ")
        paid = await stack.pay(init, "split", voucher_amount=1000, ipn_repeat=5)
        assert len(paid["ipns"]) == 10
        await stack.settled()
        items = stack.saleor.items_of(checkout.id)
        assert len(items) == 2
        for item, amount in zip(items, ["10.00", "20.00"], strict=True):
            successes = [e for e in item.events if e.type == "CHARGE_SUCCESS"]
            assert len(successes) == 1
            assert item.amounts["charged"] == Decimal(amount)
        assert len(await stack.legs(init["data"]["up2pay"]["reference"])) == 2

    async def test_partial_voucher_without_complement_stays_partial(self, stack: Stack) -> None:
        """When the complement is refused, the checkout stays PARTIAL and cannot complete."""
        checkout = stack.saleor.create_checkout("30.00")
        init = await stack.initialize(checkout.id, "APETIZ")
        await stack.pay(init, "complement_refused", voucher_amount=1000)
        await stack.settled()
        assert stack.saleor.checkout_status(checkout.id)["authorizeStatus"] == "PARTIAL"
        completed = stack.saleor.checkout_complete(checkout.id)
        assert completed["errors"][0]["code"] == "CHECKOUT_NOT_FULLY_PAID"


class TestRefusals:
    async def test_refused_then_accepted(self, stack: Stack) -> None:
        """Refused then paid on the same page: the storefront's transactionProcess sees the success.

        Saleor answers transactionProcess with the item's first final event without asking the
        app, so the refused attempt (still a CHARGE_FAILURE) is reported after the success.
        """
        checkout = stack.saleor.create_checkout("15.00")
        init = await stack.initialize(checkout.id, "APETIZ")
        item_id = init["transaction"]["id"]
        paid = await stack.pay(init, "voucher", refused_attempts=1)
        assert len(paid["ipns"]) == 2
        back = await stack.http.get(paid["return_url"], follow_redirects=False)
        assert "outcome=accepted" in back.headers["location"]
        await stack.settled()
        item = stack.item(item_id)
        types = [e.type for e in item.events if e.include]
        assert types.count("CHARGE_FAILURE") == 1
        assert types.count("CHARGE_SUCCESS") == 1
        assert types.index("CHARGE_SUCCESS") < types.index("CHARGE_FAILURE")
        assert item.amounts["charged"] == Decimal("15.00")
        process = await stack.saleor.transaction_process(stack.app_url, item_id, {})
        assert process["transactionEvent"]["type"] == "CHARGE_SUCCESS"
        assert stack.saleor.checkout_status(checkout.id)["chargeStatus"] == "FULL"
        assert stack.saleor.checkout_complete(checkout.id)["errors"] == []

    async def test_refused_and_shopper_leaves(self, stack: Stack) -> None:
        """A refusal after which the shopper comes back is a CHARGE_FAILURE with the reason."""
        checkout = stack.saleor.create_checkout("15.00")
        init = await stack.initialize(checkout.id, "SODEXO")
        item_id = init["transaction"]["id"]
        paid = await stack.pay(init, "refused")
        back = await stack.http.get(paid["return_url"], follow_redirects=False)
        assert "outcome=refused" in back.headers["location"]
        await stack.settled()
        failures = [e for e in stack.item(item_id).events if e.type == "CHARGE_FAILURE"]
        assert len(failures) == 1
        assert failures[0].include
        process = await stack.saleor.transaction_process(stack.app_url, item_id, {})
        assert process["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert process["transactionEvent"]["pspReference"] == failures[0].psp_reference
        assert stack.saleor.checkout_status(checkout.id)["authorizeStatus"] == "NONE"

    async def test_cancelled_on_the_payment_page(self, stack: Stack) -> None:
        """A shopper who cancels comes back through the app; transactionProcess says cancelled."""
        checkout = stack.saleor.create_checkout("15.00")
        init = await stack.initialize(checkout.id, "APETIZ")
        item_id = init["transaction"]["id"]
        paid = await stack.pay(init, "cancelled")
        assert paid["ipns"] == []
        back = await stack.http.get(paid["return_url"], follow_redirects=False)
        assert back.status_code == 303
        assert "outcome=cancelled" in back.headers["location"]
        process = await stack.saleor.transaction_process(stack.app_url, item_id, {})
        assert process["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert stack.saleor.checkout_status(checkout.id)["authorizeStatus"] == "NONE"


class TestSaleorDown:
    async def test_ipns_while_saleor_is_down_are_reported_when_it_returns(
        self, stack: Stack
    ) -> None:
        """Saleor answering 503 loses nothing: both legs are reported once it is back."""
        checkout = stack.saleor.create_checkout("44.80")
        init = await stack.initialize(checkout.id, "APETIZ")
        stack.saleor.down = True
        paid = await stack.pay(init, "split", voucher_amount=2000)
        assert all(d["status_code"] == 200 for d in paid["ipns"]), paid["ipns"]
        reference = init["data"]["up2pay"]["reference"]
        legs = await stack.legs(reference)
        assert len(legs) == 2
        assert not any(leg.reported for leg in legs)
        assert stack.saleor.checkout_status(checkout.id)["authorizeStatus"] == "NONE"
        stack.saleor.down = False
        await stack.settled()
        assert stack.saleor.checkout_status(checkout.id) == {
            "authorizeStatus": "FULL",
            "chargeStatus": "FULL",
        }
        assert all(leg.reported for leg in await stack.legs(reference))

    async def test_pending_reports_survive_an_app_restart(self, stack: Stack) -> None:
        """IPNs stored while Saleor is down are reported by the next app process."""
        checkout = stack.saleor.create_checkout("15.00")
        init = await stack.initialize(checkout.id, "APETIZ")
        item_id = init["transaction"]["id"]
        stack.saleor.down = True
        await stack.pay(init, "voucher")
        stack.restart_app()
        due = await JobQueue(stack.redis).pending_ids()
        assert len([job for job in due if not str(job).startswith(LATER_JOBS)]) == 1  # the report
        assert charged(stack, item_id) == 0
        stack.saleor.down = False
        await stack.settled()
        assert charged(stack, item_id) == Decimal("15.00")
