"""PAYMENT_GATEWAY_INITIALIZE_SESSION use case alone: what each method may pay."""

from __future__ import annotations

from decimal import Decimal

from saleor_up2pay.services import Services
from saleor_up2pay.transactions.payment_gateway_initialize_session import GatewayInitialize
from tests.unit.session_fakes import URL, checkout, meal_configuration


def payload(**source: object) -> dict[str, object]:
    return {"amount": None, "sourceObject": checkout(**source)}  # type: ignore[arg-type]


class TestGatewayInitialize:
    async def test_meal_voucher_gets_the_food_part_holiday_voucher_everything(
        self, services: Services
    ) -> None:
        await meal_configuration(services)
        outcome = await GatewayInitialize(services.configurations).execute(URL, payload())

        apetiz, cv = outcome.offers
        assert outcome.amount == Decimal("42.40")
        assert (apetiz.eligible, apetiz.reason and apetiz.reason.code) == (
            Decimal("24.50"),
            "PARTLY_ELIGIBLE",
        )
        assert (cv.eligible, cv.reason) == (Decimal("42.40"), None)
        entry = outcome.dump()["data"]["methods"][0]
        assert entry["eligibleAmount"] == "24.50"
        assert entry["label"] == "Bimpli (Apetiz)"

    async def test_no_mapping_means_no_restriction(self, services: Services) -> None:
        """Today's behaviour for merchants who configured nothing: the whole amount."""
        outcome = await GatewayInitialize(services.configurations).execute(URL, payload())
        assert {o.eligible for o in outcome.offers} == {Decimal("42.40")}
        assert {o.reason for o in outcome.offers} == {None}

    async def test_excluded_category_is_never_eligible(self, services: Services) -> None:
        """fr-2027 style: wine is in the food type but its category is excluded."""
        await meal_configuration(
            services, meal_rule_set="fr-2027", meal_excluded_categories=["wine"]
        )
        lines = [("food", "fresh", 1, "10.00"), ("food", "wine", 1, "15.00")]
        outcome = await GatewayInitialize(services.configurations).execute(
            URL, payload(lines=lines, shipping="0")
        )
        assert outcome.offers[0].eligible == Decimal("10.00")

    async def test_category_mapping_qualifies_a_line_too(self, services: Services) -> None:
        await meal_configuration(
            services, meal_eligible_product_types=[], meal_eligible_categories=["home"]
        )
        outcome = await GatewayInitialize(services.configurations).execute(URL, payload())
        assert outcome.offers[0].eligible == Decimal("12.00")

    async def test_english_checkout_gets_english_messages(self, services: Services) -> None:
        await meal_configuration(services)
        outcome = await GatewayInitialize(services.configurations).execute(
            URL, payload(language="EN_US")
        )
        reason = outcome.offers[0].reason
        assert reason is not None
        assert "never shipping" in reason.message
        assert "€24.50" in reason.message

    async def test_bad_payload_is_an_error_entry_not_an_exception(self, services: Services) -> None:
        outcome = await GatewayInitialize(services.configurations).execute(URL, {"amount": 1})
        assert outcome.offers == ()
        assert outcome.errors[0].code == "INVALID_PAYLOAD"
        assert "sourceObject" in outcome.errors[0].message

    async def test_non_euro_checkout_gets_no_method(self, services: Services) -> None:
        outcome = await GatewayInitialize(services.configurations).execute(
            URL, payload(currency="USD")
        )
        assert outcome.offers == ()
        assert outcome.errors[0].code == "UNSUPPORTED_CURRENCY"
