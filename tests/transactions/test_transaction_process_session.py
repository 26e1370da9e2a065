"""TRANSACTION_PROCESS_SESSION: the voucher leg's result once its IPN is in, never invented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from saleor_up2pay.transactions.ipn_received import REFUSAL_HOLD, receive_ipn
from tests.transactions.payment_world import World, form_of

VOUCHER = {"method": "APETIZ", "returnUrl": "https://shop.example/checkout/payment"}


def numtrans(paid: dict[str, Any], card_type: str) -> str:
    return str(
        next(t["transaction_number"] for t in paid["transactions"] if t["card_type"] == card_type)
    )


async def sandbox_pay(world: World, **body: Any) -> dict[str, Any]:
    """One attempt on the sandbox page; its IPNs are received by the app (nothing reported)."""
    response = await world.http.post(f"{world.sandbox_url}/sandbox/api/pay", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    for ipn in result["ipns"]:
        if ipn["body"]:
            await receive_ipn(world.services, ipn["body"].encode())
    return result


class TestProcess:
    async def test_before_the_ipn_the_payment_stays_pending_without_amounts(
        self, world: World
    ) -> None:
        """No IPN yet: CHARGE_ACTION_REQUIRED again, and the checkout is not counted as paid."""
        checkout = world.saleor.create_checkout("20.00")
        initialized = await world.initialize(checkout.id, VOUCHER)
        item_id = initialized["transaction"]["id"]

        first = await world.process(item_id)
        second = await world.process(item_id)

        assert first["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert second["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert first["data"]["up2pay"]["status"] == "waiting"
        assert world.saleor.checkout_status(checkout.id) == {
            "authorizeStatus": "NONE",
            "chargeStatus": "NONE",
        }

    async def test_paid_voucher_is_a_charge_success_with_its_transaction_number(
        self, world: World
    ) -> None:
        """After the IPN: CHARGE_SUCCESS, pspReference = S, the leg's amount and a refund button."""
        checkout = world.saleor.create_checkout("20.00")
        initialized = await world.initialize(checkout.id, VOUCHER)
        item_id = initialized["transaction"]["id"]
        paid = await world.pay(form_of(initialized), "voucher", report=False)

        result = await world.process(item_id)
        await world.run_jobs()

        event = result["transactionEvent"]
        assert event["type"] == "CHARGE_SUCCESS"
        assert event["pspReference"] == numtrans(paid, "APETIZ")
        assert event["amount"]["amount"] == 20.0
        item = world.saleor.item(item_id)
        assert item.actions == ["REFUND"]
        assert item.amounts["charged"] == 20
        # The IPN report and the process answer are one event in Saleor (deduplicated).
        charges = [e for e in item.events if e.type == "CHARGE_SUCCESS"]
        assert len(charges) == 1
        assert world.saleor.checkout_status(checkout.id)["chargeStatus"] == "FULL"

    async def test_split_payment_reports_only_the_voucher_part(self, world: World) -> None:
        """With a card complement, the voucher item succeeds with the voucher's own amount."""
        checkout = world.saleor.create_checkout("44.80")
        initialized = await world.initialize(checkout.id, VOUCHER)
        item_id = initialized["transaction"]["id"]
        await world.pay(form_of(initialized), "split", voucher_amount=2000, report=False)

        result = await world.process(item_id)
        await world.run_jobs()

        assert result["transactionEvent"]["type"] == "CHARGE_SUCCESS"
        assert result["transactionEvent"]["amount"]["amount"] == 20.0
        assert [leg["leg"] for leg in result["data"]["up2pay"]["legs"]] == ["APETIZ", "LIMOCB"]
        assert world.saleor.checkout_status(checkout.id) == {
            "authorizeStatus": "FULL",
            "chargeStatus": "FULL",
        }

    async def test_refused_voucher_is_a_failure_with_the_reason(self, world: World) -> None:
        """A refused attempt (and no success) gives CHARGE_FAILURE with a readable message."""
        checkout = world.saleor.create_checkout("20.00")
        initialized = await world.initialize(checkout.id, VOUCHER)
        item_id = initialized["transaction"]["id"]
        paid = await world.pay(form_of(initialized), "refused", refusal_code="00105", report=False)
        await world.http.get(paid["return_url"])  # the shopper left the payment page

        result = await world.process(item_id)
        await world.run_jobs()

        assert result["transactionEvent"]["type"] == "CHARGE_FAILURE"
        errors = result["data"]["up2pay"]["errors"]
        assert errors[0]["code"] == "PAYMENT_REFUSED"
        assert "refused" in errors[0]["message"]
        assert world.saleor.item(item_id).amounts["charged"] == 0

    async def test_refused_attempt_before_the_return_keeps_waiting(self, world: World) -> None:
        """Refused attempt, shopper still on the page: ACTION_REQUIRED saying so, no failure."""
        checkout = world.saleor.create_checkout("20.00")
        initialized = await world.initialize(checkout.id, VOUCHER)
        item_id = initialized["transaction"]["id"]
        paid = await world.pay(form_of(initialized), "refused", refusal_code="00105", report=False)

        waiting = await world.process(item_id)

        assert waiting["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert "refused an attempt" in waiting["transactionEvent"]["message"]
        assert "retry" in waiting["transactionEvent"]["message"]
        assert waiting["data"]["up2pay"]["status"] == "waiting"
        assert waiting["data"]["up2pay"]["refusedAttempts"] == 1
        item = world.saleor.item(item_id)
        assert not [e for e in item.events if e.type == "CHARGE_FAILURE"]

        await world.http.get(paid["return_url"])  # back on the storefront: the hold is over
        final = await world.process(item_id)

        assert final["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert final["data"]["up2pay"]["errors"][0]["code"] == "PAYMENT_REFUSED"

    async def test_process_between_a_refused_and_a_paid_attempt_ends_in_success(
        self, world: World
    ) -> None:
        """transactionProcess after attempt 1 is refused does not fix a failure in Saleor."""
        checkout = world.saleor.create_checkout("20.00")
        initialized = await world.initialize(checkout.id, VOUCHER)
        item_id = initialized["transaction"]["id"]
        first = await sandbox_pay(world, fields=form_of(initialized)["fields"], outcome="retry")

        waiting = await world.process(item_id)
        await world.run_jobs()
        second = await sandbox_pay(world, session=first["session"], outcome="voucher")
        await world.run_jobs()
        final = await world.process(item_id)

        assert waiting["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert final["transactionEvent"]["type"] == "CHARGE_SUCCESS"
        assert final["transactionEvent"]["pspReference"] == numtrans(second, "APETIZ")
        item = world.saleor.item(item_id)
        assert item.amounts["charged"] == 20
        finals = [e.type for e in item.events if e.type in {"CHARGE_SUCCESS", "CHARGE_FAILURE"}]
        assert finals == ["CHARGE_SUCCESS", "CHARGE_FAILURE"]

    async def test_refused_attempt_is_a_failure_once_the_hold_is_over(self, world: World) -> None:
        """No browser return for longer than the hold: the refusal is final, as reported."""
        checkout = world.saleor.create_checkout("20.00")
        initialized = await world.initialize(checkout.id, VOUCHER)
        item_id = initialized["transaction"]["id"]
        await world.pay(form_of(initialized), "refused", refusal_code="00105", report=False)
        later = datetime.now(UTC) + REFUSAL_HOLD + timedelta(seconds=1)
        world.app_services.clock = lambda: later

        result = await world.process(item_id)

        assert result["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert result["data"]["up2pay"]["errors"][0]["code"] == "PAYMENT_REFUSED"

    async def test_refused_then_accepted_reports_the_success(self, world: World) -> None:
        """Two refused attempts then a paid one: the paid attempt's S is the result."""
        checkout = world.saleor.create_checkout("20.00")
        initialized = await world.initialize(checkout.id, VOUCHER)
        item_id = initialized["transaction"]["id"]
        paid = await world.pay(form_of(initialized), "voucher", refused_attempts=2, report=False)

        result = await world.process(item_id)
        await world.run_jobs()

        accepted = [t for t in paid["transactions"] if t["error_code"] == "00000"]
        assert len(accepted) == 1
        assert result["transactionEvent"]["type"] == "CHARGE_SUCCESS"
        assert result["transactionEvent"]["pspReference"] == str(accepted[0]["transaction_number"])
        assert world.saleor.item(item_id).amounts["charged"] == 20

    async def test_authorized_voucher_is_an_authorization_success(self, world: World) -> None:
        """In an AUTHORIZATION channel the voucher is authorized, with a capture button only."""
        checkout = world.saleor.create_checkout("30.00", channel="channel-eur-auth")
        initialized = await world.initialize(checkout.id, VOUCHER)
        item_id = initialized["transaction"]["id"]
        await world.pay(form_of(initialized), "voucher", report=False)

        result = await world.process(item_id)
        await world.run_jobs()

        assert result["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS"
        item = world.saleor.item(item_id)
        assert item.actions == ["CHARGE"]
        assert item.amounts["authorized"] == 30

    async def test_unknown_transaction_is_a_failure(self, world: World) -> None:
        """An item the app never initialized is answered with a failure, not an error."""
        checkout = world.saleor.create_checkout("20.00")
        item = world.saleor.seed_initialized_item(checkout.id, "20.00")

        result = await world.process(item.id)

        assert result["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert result["data"]["up2pay"]["errors"][0]["code"] == "UNKNOWN_TRANSACTION"
