"""TRANSACTION_INITIALIZE_SESSION and the pay page, over loopback (fake Saleor, app, sandbox)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from saleor_up2pay.transactions.sessions import SessionRepository
from tests.transactions.payment_world import World, field, form_of, save_configuration

VOUCHER = {"method": "APETIZ", "returnUrl": "https://shop.example/checkout/payment"}


class TestInitialize:
    async def test_voucher_gets_a_redirect_form_and_a_pay_page(self, world: World) -> None:
        """CHARGE_ACTION_REQUIRED with the app's pay page and the ordered, signed Up2pay form."""
        checkout = world.saleor.create_checkout("44.80")
        result = await world.initialize(checkout.id, VOUCHER, amount="20.00")

        assert result["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        up2pay = result["data"]["up2pay"]
        assert up2pay["method"] == "APETIZ"
        assert up2pay["payUrl"] == f"{world.app_url}/api/up2pay/pay/{up2pay['reference']}"
        form = up2pay["form"]
        assert form["action"] == f"{world.sandbox_url}/php/"
        assert form["method"] == "POST"
        names = [name for name, _ in form["fields"]]
        assert names[0] == "PBX_SITE"
        assert names[-1] == "PBX_HMAC"
        assert field(form, "PBX_TOTAL") == "2000"
        assert field(form, "PBX_CMD") == up2pay["reference"]
        assert field(form, "PBX_TYPECARTE") == "APETIZ"
        assert field(form, "PBX_EFFECTUE").startswith(f"{world.app_url}/api/up2pay/return/")
        assert field(form, "PBX_REPONDRE_A") == f"{world.app_url}/api/up2pay/ipn"
        # Asking for a payment moves no money.
        assert world.saleor.checkout_status(checkout.id)["authorizeStatus"] == "NONE"

    async def test_session_remembers_where_the_payment_belongs(self, world: World) -> None:
        """The reference leads to the Saleor instance, item, checkout, channel, method and amount."""
        checkout = world.saleor.create_checkout("44.80")
        result = await world.initialize(checkout.id, VOUCHER, amount="20.00")
        reference = result["data"]["up2pay"]["reference"]

        session = await SessionRepository(world.services.redis).get_by_reference(reference)
        assert session is not None
        assert session.saleor_api_url == world.fake.api_url
        assert session.transaction_id == result["transaction"]["id"]
        assert session.source_id == checkout.id
        assert session.channel == "channel-eur"
        assert session.method == "APETIZ"
        assert session.amount == Decimal("20.00")
        assert session.return_url == VOUCHER["returnUrl"]

    async def test_sandbox_accepts_the_signed_form(self, world: World) -> None:
        """The form's HMAC and fields are what the Up2pay platform accepts."""
        checkout = world.saleor.create_checkout("15.10")
        result = await world.initialize(checkout.id, {**VOUCHER, "method": "CVCONNECT"})

        paid = await world.pay(form_of(result), "voucher")
        assert paid["finished"] is True
        assert [t["card_type"] for t in paid["transactions"]] == ["CVCONNECT"]

    async def test_same_idempotency_key_gives_the_same_answer(self, world: World) -> None:
        """A repeated transactionInitialize re-sends the webhook and gets the same reference and form."""
        checkout = world.saleor.create_checkout("38.18")
        first = await world.initialize(checkout.id, VOUCHER, idempotency_key="idem-1")
        second = await world.initialize(checkout.id, VOUCHER, idempotency_key="idem-1")

        assert second["transaction"]["id"] == first["transaction"]["id"]
        assert second["data"] == first["data"]

    async def test_authorization_asks_up2pay_for_an_authorization_only(self, world: World) -> None:
        """An AUTHORIZATION channel gets AUTHORIZATION_ACTION_REQUIRED and PBX_AUTOSEULE=O, re-signed."""
        checkout = world.saleor.create_checkout("30.00", channel="channel-eur-auth")
        result = await world.initialize(checkout.id, VOUCHER)

        assert result["transactionEvent"]["type"] == "AUTHORIZATION_ACTION_REQUIRED"
        form = form_of(result)
        assert field(form, "PBX_AUTOSEULE") == "O"
        paid = await world.pay(form, "voucher")
        assert paid["transactions"][0]["status"] == "Autorisé"

    async def test_configuration_can_force_charging(self, world: World) -> None:
        """With capture mode "always charge", an AUTHORIZATION request is answered as a charge."""
        await world.map_configuration(
            "Forced charge",
            "channel-eur-auth",
            methods=["APETIZ", "SODEXO"],
            capture_mode="always_charge",
            storefront_origins=["https://shop.example"],
        )
        checkout = world.saleor.create_checkout("30.00", channel="channel-eur-auth")
        result = await world.initialize(checkout.id, VOUCHER)

        assert result["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert "PBX_AUTOSEULE" not in [name for name, _ in form_of(result)["fields"]]

    @pytest.mark.parametrize(
        ("data", "code"),
        [
            (None, "INVALID_DATA"),
            ({"returnUrl": "https://shop.example/"}, "UNKNOWN_METHOD"),
            ({"method": "PAYPAL", "returnUrl": "https://shop.example/"}, "UNKNOWN_METHOD"),
            ({"method": "APETIZ"}, "INVALID_RETURN_URL"),
            ({"method": "APETIZ", "returnUrl": "/checkout"}, "INVALID_RETURN_URL"),
            ({"method": "APETIZ", "returnUrl": "javascript:alert(1)"}, "INVALID_RETURN_URL"),
        ],
    )
    async def test_invalid_storefront_data_is_a_failure_with_an_error(
        self, world: World, data: Any, code: str
    ) -> None:
        """Bad data answers 200 with CHARGE_FAILURE and an error entry, never an HTTP error."""
        checkout = world.saleor.create_checkout("20.00")
        result = await world.initialize(checkout.id, data)

        assert result["transactionEvent"]["type"] == "CHARGE_FAILURE"
        errors = result["data"]["up2pay"]["errors"]
        assert [e["code"] for e in errors] == [code]
        assert errors[0]["message"]
        event, status, _ = world.saleor.webhook_responses[-1]
        assert (event, status) == ("TRANSACTION_INITIALIZE_SESSION", 200)

    async def test_method_not_enabled_for_the_channel_is_refused(self, world: World) -> None:
        """A method the channel's configuration does not offer is a failure saying so."""
        await world.map_configuration(
            "Meal only", methods=["APETIZ"], storefront_origins=["https://shop.example"]
        )
        checkout = world.saleor.create_checkout("20.00")
        result = await world.initialize(checkout.id, {**VOUCHER, "method": "CVCONNECT"})

        assert result["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert result["data"]["up2pay"]["errors"][0]["code"] == "METHOD_NOT_ENABLED"

    async def test_non_euro_checkout_fails_with_a_clear_message(self, world: World) -> None:
        """A USD checkout gets AUTHORIZATION_FAILURE (its channel's flow) explaining euros only."""
        checkout = world.saleor.create_checkout("64.15", channel="default-channel")
        result = await world.initialize(checkout.id, VOUCHER)

        assert result["transactionEvent"]["type"] == "AUTHORIZATION_FAILURE"
        error = result["data"]["up2pay"]["errors"][0]
        assert error["code"] == "UNSUPPORTED_CURRENCY"
        assert "euros" in error["message"]
        assert "USD" in error["message"]

    async def test_order_can_be_paid_too(self, world: World) -> None:
        """An existing order (sourceObject Order) gets a session on the order."""
        order = world.saleor.create_order("15.10")
        result = await world.initialize(order.id, VOUCHER)

        assert result["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        reference = result["data"]["up2pay"]["reference"]
        session = await SessionRepository(world.services.redis).get_by_reference(reference)
        assert session is not None
        assert session.source_type == "Order"
        assert session.source_id == order.id


class TestPayPage:
    async def test_pay_page_auto_posts_the_stored_form(self, world: World) -> None:
        """The page posts exactly the signed fields, in order, under a nonce-only CSP."""
        checkout = world.saleor.create_checkout("20.00")
        result = await world.initialize(checkout.id, VOUCHER)
        up2pay = result["data"]["up2pay"]

        page = await world.http.get(up2pay["payUrl"])
        assert page.status_code == 200
        html = page.text
        assert f'action="{world.sandbox_url}/php/"' in html
        inputs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
        assert [name for name, _ in inputs] == [name for name, _ in up2pay["form"]["fields"]]
        assert dict(inputs)["PBX_HMAC"] == field(up2pay["form"], "PBX_HMAC")
        assert "<noscript><button" in html
        csp = page.headers["content-security-policy"]
        nonce = re.search(r"'nonce-([^']+)'", csp)
        assert nonce is not None
        assert f'<script nonce="{nonce.group(1)}">' in html
        assert f"form-action {world.sandbox_url}" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["cache-control"] == "no-store"

    async def test_unknown_reference_is_not_found(self, world: World) -> None:
        """A reference the app never issued gets a 404 page, not a form."""
        page = await world.http.get(f"{world.app_url}/api/up2pay/pay/Unknown123")
        assert page.status_code == 404
        assert "<form" not in page.text


GROCERY = [("food", "fresh", 3, "24.50"), ("kitchenware", "home", 1, "12.00")]


class TestEligibleAmount:
    async def test_amount_above_the_eligible_amount_is_refused(self, world: World) -> None:
        """Food 24.50 + pan 12.00 + shipping 5.90: asking the voucher for 42.40 is refused."""
        await save_configuration(world)
        checkout = world.saleor.create_checkout(lines=GROCERY, shipping="5.90")
        result = await world.initialize(checkout.id, VOUCHER, amount="42.40")

        assert result["transactionEvent"]["type"] == "CHARGE_FAILURE"
        up2pay = result["data"]["up2pay"]
        assert up2pay["code"] == "AMOUNT_ABOVE_ELIGIBLE"
        assert up2pay["eligibleAmount"] == "24.50"
        assert up2pay["errors"][0]["code"] == "AMOUNT_ABOVE_ELIGIBLE"
        assert "24,50 €" in up2pay["errors"][0]["message"]
        assert world.saleor.checkout_status(checkout.id)["authorizeStatus"] == "NONE"

    async def test_holiday_voucher_may_pay_everything(self, world: World) -> None:
        """Chèque-Vacances Connect has no product restriction: the whole total is accepted."""
        await save_configuration(world)
        checkout = world.saleor.create_checkout(lines=GROCERY, shipping="5.90")
        result = await world.initialize(checkout.id, {**VOUCHER, "method": "CVCONNECT"})

        assert result["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert field(form_of(result), "PBX_TOTAL") == "4240"

    async def test_amount_below_a_configured_minimum_is_refused(self, world: World) -> None:
        """With a 1.50 minimum for Apetiz, 1.00 is refused with AMOUNT_BELOW_MINIMUM."""
        await save_configuration(world, method_minimums={"APETIZ": "1.50"})
        checkout = world.saleor.create_checkout(lines=GROCERY, shipping="5.90")
        result = await world.initialize(checkout.id, VOUCHER, amount="1.00")

        up2pay = result["data"]["up2pay"]
        assert result["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert up2pay["code"] == "AMOUNT_BELOW_MINIMUM"
        assert up2pay["minimum"] == "1.50"
        assert up2pay["eligibleAmount"] == "24.50"

    async def test_split_voucher_for_the_food_and_another_gateway_for_the_rest(
        self, world: World
    ) -> None:
        """The storefront guide's split: voucher = eligibleAmount, a card app pays the rest."""
        await save_configuration(world)
        checkout = world.saleor.create_checkout(lines=GROCERY, shipping="5.90")
        offered = await world.saleor.payment_gateway_initialize(world.app_url, checkout.id)
        eligible = offered["methods"][0]["eligibleAmount"]
        assert eligible == "24.50"

        result = await world.initialize(checkout.id, VOUCHER, amount=eligible)
        assert result["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert result["data"]["up2pay"]["eligibleAmount"] == "24.50"
        assert "eligible amount 24.50 of 42.40" in result["transactionEvent"]["message"]
        await world.pay(form_of(result), "voucher")
        assert world.saleor.checkout_status(checkout.id)["authorizeStatus"] == "PARTIAL"

        world.saleor.seed_other_gateway_charge(checkout.id, Decimal("42.40") - Decimal(eligible))
        assert world.saleor.checkout_status(checkout.id) == {
            "authorizeStatus": "FULL",
            "chargeStatus": "FULL",
        }
        completed = world.saleor.checkout_complete(checkout.id)
        assert completed["errors"] == []
        charged = [i.amounts["charged"] for i in world.saleor.items_of(completed["order"]["id"])]
        assert charged == [Decimal("24.50"), Decimal("17.90")]

    async def test_form_carries_the_cart_quantity_and_the_billing_address(
        self, world: World
    ) -> None:
        """PBX_SHOPPINGCART and PBX_BILLING (3-D Secure v2), signed, and the sandbox takes them."""
        checkout = world.saleor.create_checkout(lines=GROCERY, shipping="5.90")
        result = await world.initialize(checkout.id, VOUCHER, amount="20.00")

        form = form_of(result)
        assert field(form, "PBX_SHOPPINGCART") == (
            '<?xml version="1.0" encoding="utf-8"?><shoppingcart><total>'
            "<totalQuantity>4</totalQuantity></total></shoppingcart>"
        )
        billing = field(form, "PBX_BILLING")
        assert "<FirstName>Camille</FirstName>" in billing
        assert "<CountryCode>250</CountryCode>" in billing
        assert "<MobilePhone>0612345678</MobilePhone>" in billing
        paid = await world.pay(form, "voucher")
        assert paid["finished"] is True


class TestReturnUrlOrigins:
    async def test_return_url_on_another_origin_is_refused(self, world: World) -> None:
        """Issue 11.5: a returnUrl outside the storefront origins is CHARGE_FAILURE (no session)."""
        checkout = world.saleor.create_checkout("20.00")
        evil = {**VOUCHER, "returnUrl": "https://evil.example/phish"}
        result = await world.initialize(checkout.id, evil)

        assert result["transactionEvent"]["type"] == "CHARGE_FAILURE"
        error = result["data"]["up2pay"]["errors"][0]
        assert error["code"] == "RETURN_URL_NOT_ALLOWED"
        assert "https://shop.example" in error["message"]

    async def test_live_configuration_without_origins_points_to_the_setting(
        self, world: World
    ) -> None:
        """A test/live configuration with no storefront origins refuses every returnUrl."""
        await save_configuration(
            world, environment="test", storefront_origins=[], meal_eligible_product_types=[]
        )
        checkout = world.saleor.create_checkout("20.00")
        result = await world.initialize(checkout.id, VOUCHER)

        error = result["data"]["up2pay"]["errors"][0]
        assert error["code"] == "RETURN_URL_NOT_ALLOWED"
        assert "Storefront origins" in error["message"]

    async def test_sandbox_without_origins_allows_localhost_only(self, world: World) -> None:
        """Sandbox configuration, no origins: localhost returns work, other hosts do not."""
        await save_configuration(world, storefront_origins=[], meal_eligible_product_types=[])
        checkout = world.saleor.create_checkout("20.00")
        local = {**VOUCHER, "returnUrl": "http://localhost:3000/checkout"}
        assert (await world.initialize(checkout.id, local))["transactionEvent"]["type"] == (
            "CHARGE_ACTION_REQUIRED"
        )
        other = world.saleor.create_checkout("20.00")
        refused = await world.initialize(other.id, VOUCHER)
        assert refused["data"]["up2pay"]["errors"][0]["code"] == "RETURN_URL_NOT_ALLOWED"
