"""PAYMENT_GATEWAY_INITIALIZE_SESSION with the recorded Saleor payloads, signed by the fake Saleor."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tests.conftest import RECORDED, require_shared
from tests.transactions.payment_world import World, save_configuration


def recorded_payload(name: str) -> dict[str, Any]:
    """A recorded delivery's body, without the recorded app's recipient (the fake adds its own)."""
    path = require_shared(RECORDED / "webhooks" / name)
    body = json.loads(path.read_text())["request"]["body_text"]
    payload: dict[str, Any] = json.loads(body, parse_float=Decimal)
    payload.pop("recipient", None)
    return payload


async def gateway_data(world: World, payload: dict[str, Any]) -> dict[str, Any]:
    response = await world.fake.send_webhook(
        world.app_url, "PAYMENT_GATEWAY_INITIALIZE_SESSION", payload=payload
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "data" in answer
    data: dict[str, Any] = answer["data"]
    return data


class TestGatewayInitialize:
    async def test_euro_checkout_lists_the_enabled_methods_and_amount(self, world: World) -> None:
        """Every default method is listed with its label and kind, with the amount to pay."""
        data = await gateway_data(
            world, recorded_payload("01-payment-gateway-initialize-session.json")
        )

        assert [(m["id"], m["label"], m["kind"]) for m in data["methods"]] == [
            ("APETIZ", "Bimpli (Apetiz)", "meal_voucher"),
            ("SODEXO", "Pluxee", "meal_voucher"),
            ("UPCHEQUDEJ", "Up Déjeuner", "meal_voucher"),
            ("CVCONNECT", "Chèque-Vacances Connect", "holiday_voucher"),
        ]
        # No eligibility configured: no restriction (the dashboard page warns the merchant).
        assert {m["eligibleAmount"] for m in data["methods"]} == {"44.80"}
        assert {m["reason"] for m in data["methods"]} == {None}
        meal = data["methods"][0]["limits"]
        assert meal["dailyCap"] == "25.00"
        assert meal["minimum"] is None
        assert "25,00 €" in meal["notes"][0]
        assert data["methods"][3]["limits"]["dailyCap"] is None
        assert data["amount"] == "44.8"
        assert data["currency"] == "EUR"
        assert data["errors"] == []

    async def test_order_payload_is_answered_the_same_way(self, world: World) -> None:
        """Paying an existing order (sourceObject Order) lists the methods too."""
        data = await gateway_data(
            world, recorded_payload("17-payment-gateway-initialize-session.json")
        )
        assert len(data["methods"]) == 4
        assert data["amount"] == "15.1"

    async def test_channel_configuration_limits_the_methods(self, world: World) -> None:
        """A channel mapped to a configuration offers only that configuration's methods."""
        await world.map_configuration("Holiday only", methods=["CVCONNECT"])
        data = await gateway_data(
            world, recorded_payload("01-payment-gateway-initialize-session.json")
        )
        assert [m["id"] for m in data["methods"]] == ["CVCONNECT"]

    async def test_non_euro_checkout_gets_no_method_and_an_error(self, world: World) -> None:
        """A USD checkout gets an empty list and an error the storefront can show."""
        data = await gateway_data(
            world, recorded_payload("06-payment-gateway-initialize-session.json")
        )

        assert data["methods"] == []
        assert data["errors"] == [
            {
                "code": "UNSUPPORTED_CURRENCY",
                "message": "Meal and holiday vouchers can only pay in euros; this checkout is in USD.",
            }
        ]


GROCERY = [("food", "fresh", 3, "24.50"), ("kitchenware", "home", 1, "12.00")]


class TestEligibleAmount:
    async def test_meal_voucher_is_offered_exactly_the_food_part(self, world: World) -> None:
        """Food 24.50 + a pan 12.00 + shipping 5.90: a meal voucher may pay 24.50, CV-Connect all."""
        await save_configuration(world)
        checkout = world.saleor.create_checkout(lines=GROCERY, shipping="5.90")
        data = await world.saleor.payment_gateway_initialize(world.app_url, checkout.id)

        apetiz, cv = data["methods"]
        assert data["amount"] == "42.4"  # as Saleor sent it
        assert apetiz["eligibleAmount"] == "24.50"
        assert apetiz["reason"]["code"] == "PARTLY_ELIGIBLE"
        assert "24,50 €" in apetiz["reason"]["message"]
        assert "livraison" in apetiz["reason"]["message"]
        assert cv["eligibleAmount"] == "42.40"
        assert cv["reason"] is None

    async def test_shopper_language_is_english_for_an_english_checkout(self, world: World) -> None:
        """The reason and the limits are in the checkout's language (en), French otherwise."""
        await save_configuration(world)
        checkout = world.saleor.create_checkout(lines=GROCERY, shipping="5.90", language="EN_GB")
        data = await world.saleor.payment_gateway_initialize(world.app_url, checkout.id)

        apetiz = data["methods"][0]
        assert "never shipping" in apetiz["reason"]["message"]
        assert "€25.00 a day" in apetiz["limits"]["notes"][0]

    async def test_nothing_eligible_offers_zero_with_the_reason(self, world: World) -> None:
        """A checkout without food: the meal voucher may pay 0.00, and says why."""
        await save_configuration(world, method_minimums={"APETIZ": "1.50"})
        checkout = world.saleor.create_checkout(lines=GROCERY[1:], shipping="5.90")
        data = await world.saleor.payment_gateway_initialize(world.app_url, checkout.id)

        apetiz = data["methods"][0]
        assert apetiz["eligibleAmount"] == "0.00"
        assert apetiz["reason"]["code"] == "NO_ELIGIBLE_PRODUCTS"
        assert apetiz["limits"]["minimum"] == "1.50"
