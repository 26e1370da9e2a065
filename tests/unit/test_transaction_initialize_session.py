"""TRANSACTION_INITIALIZE_SESSION use case alone: eligible amount, minimum, return URL, replay."""

from __future__ import annotations

from decimal import Decimal

from saleor_up2pay.activity import ActivityLog
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.results import (
    RecordedAnswer,
    SessionActionRequired,
    SessionFailure,
)
from tests.unit.session_fakes import (
    RETURN_URL,
    URL,
    initialize_session,
    meal_configuration,
    tis_payload,
)

APETIZ = {"method": "APETIZ", "returnUrl": RETURN_URL}


class TestInitializeSession:
    async def test_eligible_amount_starts_a_session(self, services: Services) -> None:
        await meal_configuration(services)
        outcome = await initialize_session(services).execute(URL, tis_payload("24.50", APETIZ))

        assert isinstance(outcome, SessionActionRequired)
        assert outcome.amount == Decimal("24.50")
        assert outcome.data["up2pay"]["eligibleAmount"] == "24.50"
        assert "eligible amount 24.50 of 42.40" in outcome.message
        fields = dict(outcome.data["up2pay"]["form"]["fields"])
        assert "<totalQuantity>4</totalQuantity>" in fields["PBX_SHOPPINGCART"]
        (entry,) = await ActivityLog(services.redis).latest(URL)
        assert "eligible amount 24.50 of 42.40" in entry.message

    async def test_more_than_eligible_is_refused_with_the_code(self, services: Services) -> None:
        await meal_configuration(services)
        outcome = await initialize_session(services).execute(URL, tis_payload("24.51", APETIZ))

        assert isinstance(outcome, SessionFailure)
        up2pay = outcome.dump()["data"]["up2pay"]
        assert outcome.dump()["result"] == "CHARGE_FAILURE"
        assert (up2pay["code"], up2pay["eligibleAmount"]) == ("AMOUNT_ABOVE_ELIGIBLE", "24.50")

    async def test_below_the_configured_minimum_is_refused(self, services: Services) -> None:
        await meal_configuration(services, method_minimums={"APETIZ": "1.50"})
        outcome = await initialize_session(services).execute(URL, tis_payload("1.49", APETIZ))
        assert isinstance(outcome, SessionFailure)
        assert outcome.errors[0].code == "AMOUNT_BELOW_MINIMUM"

    async def test_return_url_off_the_storefront_origins_is_refused(
        self, services: Services
    ) -> None:
        await meal_configuration(services)
        data = {**APETIZ, "returnUrl": "https://evil.example/x"}
        outcome = await initialize_session(services).execute(URL, tis_payload("10.00", data))
        assert isinstance(outcome, SessionFailure)
        assert outcome.errors[0].code == "RETURN_URL_NOT_ALLOWED"

    async def test_repeat_replays_the_stored_answer(self, services: Services) -> None:
        await meal_configuration(services)
        use_case = initialize_session(services)
        first = await use_case.execute(URL, tis_payload("20.00", APETIZ))
        again = await use_case.execute(URL, tis_payload("20.00", APETIZ))

        assert isinstance(first, SessionActionRequired)
        assert isinstance(again, RecordedAnswer)
        assert again.dump() == first.dump()

    async def test_malformed_payload_is_a_failure_naming_the_field(
        self, services: Services
    ) -> None:
        payload = tis_payload("20.00", APETIZ)
        del payload["transaction"]
        outcome = await initialize_session(services).execute(URL, payload)
        assert isinstance(outcome, SessionFailure)
        assert outcome.errors[0].code == "INVALID_PAYLOAD"
        assert "transaction" in outcome.errors[0].message
