"""TRANSACTION_INITIALIZE_SESSION use case alone: eligible amount, minimum, return URL, replay."""

from __future__ import annotations

from decimal import Decimal

from saleor_up2pay.activity import ActivityLog
from saleor_up2pay.configuration import ConfigurationInput
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


class TestRepeatsAndCaches:
    """A repeat always gets the first answer; a configuration change reaches new sessions."""

    async def test_repeat_after_the_configuration_changed_still_replays(
        self, services: Services
    ) -> None:
        """The storefront origin was removed since: a new request is refused, a repeat is not."""
        await meal_configuration(services)
        use_case = initialize_session(services)
        first = await use_case.execute(URL, tis_payload("20.00", APETIZ))
        await meal_configuration(services, storefront_origins=["https://other.example"])

        again = await use_case.execute(URL, tis_payload("20.00", APETIZ))
        other = await use_case.execute(URL, tis_payload("20.00", APETIZ, key="idem-2"))

        assert isinstance(again, RecordedAnswer)
        assert again.dump() == first.dump()
        assert isinstance(other, SessionFailure)
        assert other.errors[0].code == "RETURN_URL_NOT_ALLOWED"

    async def test_a_repeat_writes_no_second_activity_line(self, services: Services) -> None:
        await meal_configuration(services)
        use_case = initialize_session(services)
        for _ in range(3):
            await use_case.execute(URL, tis_payload("20.00", APETIZ))
        assert len(await ActivityLog(services.redis).latest(URL)) == 1

    async def test_configuration_saved_in_another_process_applies_within_the_ttl(
        self, services: Services
    ) -> None:
        """This process caches the channel's configuration for CONFIG_CACHE_SECONDS at most."""
        from saleor_up2pay.configuration.repository import (
            CONFIG_CACHE_SECONDS,
            ConfigurationRepository,
        )

        now = [1000.0]
        services.configurations = ConfigurationRepository(
            services.redis, services.secretbox, services.settings, clock=lambda: now[0]
        )
        other_process = ConfigurationRepository(
            services.redis, services.secretbox, services.settings
        )
        await meal_configuration(services)
        use_case = initialize_session(services)
        ok = await use_case.execute(URL, tis_payload("20.00", APETIZ, key="a"))
        assert isinstance(ok, SessionActionRequired)

        (config,) = await other_process.list(URL)
        await other_process.save(
            URL,
            ConfigurationInput(
                **config.model_dump(
                    include=set(ConfigurationInput.model_fields)
                    - {"hmac_key", "storefront_origins"}
                ),
                storefront_origins=["https://other.example"],
            ),
        )
        now[0] += CONFIG_CACHE_SECONDS + 0.1
        refused = await use_case.execute(URL, tis_payload("20.00", APETIZ, key="b"))
        assert isinstance(refused, SessionFailure)
        assert refused.errors[0].code == "RETURN_URL_NOT_ALLOWED"

    async def test_configuration_saved_in_this_process_applies_at_once(
        self, services: Services
    ) -> None:
        await meal_configuration(services)
        use_case = initialize_session(services)
        assert isinstance(
            await use_case.execute(URL, tis_payload("20.00", APETIZ, key="a")),
            SessionActionRequired,
        )
        await meal_configuration(services, storefront_origins=["https://other.example"])
        refused = await use_case.execute(URL, tis_payload("20.00", APETIZ, key="b"))
        assert isinstance(refused, SessionFailure)
