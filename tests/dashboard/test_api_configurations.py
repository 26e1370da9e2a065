"""Configurations, channel mapping and activity through the API, as the page uses them."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from saleor_up2pay.activity import ActivityEntry, ActivityLog
from saleor_up2pay.configuration import ConfigurationRepository
from saleor_up2pay.services import Services
from tests.dashboard.conftest import KEY, SAVE, Dashboard, config_input

CONFIGS = "query { configurations { id name keyHint environment methods captureMode channels } }"
CHANNELS = """
query { channels { slug name currencyCode isActive eligible inSaleor configurationId } }
"""
MAP = """
mutation Map($slug: String!, $config: ID) {
  mapChannel(channelSlug: $slug, configurationId: $config) {
    channel { slug configurationId eligible }
    errors { field code message }
  }
}
"""
DELETE = """
mutation Delete($id: ID!) {
  deleteConfiguration(id: $id) { deletedId errors { field code message } }
}
"""


async def save(dashboard: Dashboard, **overrides: Any) -> dict[str, Any]:
    data = await dashboard.gql(SAVE, {"input": config_input(**overrides)})
    payload: dict[str, Any] = data["saveConfiguration"]
    return payload


class TestSaveConfiguration:
    async def test_created_configuration_shows_only_the_key_hint(
        self, dashboard: Dashboard, repo: ConfigurationRepository
    ) -> None:
        """After saving, the answer and the list show the last four characters, never the key."""
        payload = await save(dashboard)
        assert payload["errors"] == []
        created = payload["configuration"]
        assert created["keyHint"] == KEY[-4:]
        assert created["environment"] == "TEST"
        assert created["methods"] == ["APETIZ", "SODEXO"]
        listed = await dashboard.post(CONFIGS)
        assert KEY not in listed.text
        assert listed.json()["data"]["configurations"][0]["keyHint"] == KEY[-4:]
        stored = await repo.get(dashboard.saleor.api_url, created["id"])
        assert stored.hmac_key.get_secret_value() == KEY

    async def test_schema_has_no_way_to_read_a_key(self, dashboard: Dashboard) -> None:
        """No output type of the API has a field holding the HMAC key."""
        data = await dashboard.gql('query { __type(name: "Configuration") { fields { name } } }')
        names = [f["name"] for f in data["__type"]["fields"]]
        assert "keyHint" in names
        assert not [n for n in names if "key" in n.lower() and n != "keyHint"]

    async def test_empty_key_keeps_the_stored_key(
        self, dashboard: Dashboard, repo: ConfigurationRepository
    ) -> None:
        """Editing without typing the key changes the other fields and keeps the key."""
        created = (await save(dashboard))["configuration"]
        updated = await save(dashboard, id=created["id"], hmacKey="", name="Renamed", rang="001")
        assert updated["errors"] == []
        assert updated["configuration"]["name"] == "Renamed"
        assert updated["configuration"]["keyHint"] == KEY[-4:]
        stored = await repo.get(dashboard.saleor.api_url, created["id"])
        assert (stored.rang, stored.hmac_key.get_secret_value()) == ("001", KEY)

    @pytest.mark.parametrize(
        ("field", "value", "code"),
        [
            ("name", "", "name_required"),
            ("site", "199988", "site_format"),
            ("rang", "4", "rang_format"),
            ("identifiant", "1234567890", "identifiant_format"),
            ("hmacKey", "XYZ", "hmac_key_format"),
            ("hmacKey", "", "hmac_key_required"),
            ("methods", [], "methods_required"),
        ],
    )
    async def test_invalid_field_is_reported_and_nothing_saved(
        self,
        dashboard: Dashboard,
        repo: ConfigurationRepository,
        field: str,
        value: Any,
        code: str,
    ) -> None:
        """Each invalid field comes back with its name, code and a message; nothing is stored."""
        payload = await save(dashboard, **{field: value})
        assert payload["configuration"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)]
        assert payload["errors"][0]["message"]
        assert await repo.list(dashboard.saleor.api_url) == []

    async def test_unknown_enum_value_is_refused_by_the_schema(self, dashboard: Dashboard) -> None:
        """An environment outside sandbox/test/live is a GraphQL validation error."""
        response = await dashboard.post(SAVE, {"input": config_input(environment="PROD")})
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

    async def test_updating_a_deleted_configuration_says_so(self, dashboard: Dashboard) -> None:
        """Saving over an id that does not exist is an error on the id, not a creation."""
        payload = await save(dashboard, id="cfg-gone", hmacKey="")
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("id", "not_found")]


class TestChannels:
    async def test_channels_come_from_saleor_with_currency_and_eligibility(
        self, dashboard: Dashboard
    ) -> None:
        """Every Saleor channel is listed with its currency; non-euro ones are not eligible."""
        data = await dashboard.gql(CHANNELS)
        rows = {c["slug"]: c for c in data["channels"]}
        assert set(rows) == {"boutique-fr", "store-us", "outlet-be"}
        assert rows["boutique-fr"]["eligible"] is True
        assert rows["store-us"] == {
            "slug": "store-us",
            "name": "US Store",
            "currencyCode": "USD",
            "isActive": True,
            "eligible": False,
            "inSaleor": True,
            "configurationId": None,
        }
        calls = [c for c in dashboard.saleor.calls if "channels" in c.root_fields]
        assert calls[0].app_id == dashboard.saleor.app_id  # read with the app token

    async def test_mapping_a_euro_channel_is_used_by_payments(
        self, dashboard: Dashboard, repo: ConfigurationRepository
    ) -> None:
        """After mapping, the payment flows read that configuration for the channel."""
        config_id = (await save(dashboard))["configuration"]["id"]
        data = await dashboard.gql(MAP, {"slug": "boutique-fr", "config": config_id})
        assert data["mapChannel"] == {
            "channel": {"slug": "boutique-fr", "configurationId": config_id, "eligible": True},
            "errors": [],
        }
        url = dashboard.saleor.api_url
        assert (await repo.for_channel(url, "boutique-fr")).id == config_id
        assert (await repo.for_channel(url, "outlet-be")).id == "default"
        listed = await dashboard.gql(CONFIGS)
        assert listed["configurations"][0]["channels"] == ["boutique-fr"]

    async def test_non_euro_channel_cannot_be_mapped(
        self, dashboard: Dashboard, repo: ConfigurationRepository
    ) -> None:
        """A USD channel is refused with a message; nothing is stored."""
        config_id = (await save(dashboard))["configuration"]["id"]
        data = await dashboard.gql(MAP, {"slug": "store-us", "config": config_id})
        errors = data["mapChannel"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [
            ("channelSlug", "channel_not_eligible")
        ]
        assert "USD" in errors[0]["message"]
        assert await repo.channel_mapping(dashboard.saleor.api_url) == {}

    async def test_unknown_channel_is_refused(self, dashboard: Dashboard) -> None:
        """A slug Saleor does not list cannot be mapped."""
        config_id = (await save(dashboard))["configuration"]["id"]
        data = await dashboard.gql(MAP, {"slug": "nope", "config": config_id})
        assert data["mapChannel"]["errors"][0]["code"] == "unknown_channel"

    async def test_unmapping_returns_to_default(
        self, dashboard: Dashboard, repo: ConfigurationRepository
    ) -> None:
        """Mapping to null puts the channel back on the default configuration."""
        config_id = (await save(dashboard))["configuration"]["id"]
        await dashboard.gql(MAP, {"slug": "boutique-fr", "config": config_id})
        data = await dashboard.gql(MAP, {"slug": "boutique-fr", "config": None})
        assert data["mapChannel"]["channel"]["configurationId"] is None
        assert await repo.channel_mapping(dashboard.saleor.api_url) == {}

    async def test_configuration_in_use_cannot_be_deleted(self, dashboard: Dashboard) -> None:
        """Deleting a configuration a channel uses is refused until the channel moves."""
        config_id = (await save(dashboard))["configuration"]["id"]
        await dashboard.gql(MAP, {"slug": "boutique-fr", "config": config_id})
        refused = await dashboard.gql(DELETE, {"id": config_id})
        assert refused["deleteConfiguration"]["errors"][0]["code"] == "configuration_in_use"
        assert "boutique-fr" in refused["deleteConfiguration"]["errors"][0]["message"]
        await dashboard.gql(MAP, {"slug": "boutique-fr", "config": None})
        deleted = await dashboard.gql(DELETE, {"id": config_id})
        assert deleted["deleteConfiguration"] == {"deletedId": config_id, "errors": []}
        assert (await dashboard.gql(CONFIGS))["configurations"] == []

    async def test_saleor_down_is_an_error_the_page_shows(self, dashboard: Dashboard) -> None:
        """When Saleor fails, the channel list answers a readable error with a code."""

        def broken(*_: Any) -> Any:
            from tests.fakes.fake_saleor import GraphQLErrors

            raise GraphQLErrors("boom", status=502)

        dashboard.saleor.resolvers["channels"] = broken
        response = await dashboard.post(CHANNELS)
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "SALEOR_UNAVAILABLE"
        assert "Saleor" in error["message"]


class TestActivity:
    async def test_latest_entries_are_listed_newest_first(
        self, dashboard: Dashboard, services: Services
    ) -> None:
        """Notifications and GAE calls recorded for the instance are shown, newest first."""
        log = ActivityLog(services.redis)
        url = dashboard.saleor.api_url
        await log.record(
            url,
            ActivityEntry(
                kind="ipn",
                channel="boutique-fr",
                reference="CMD-1",
                leg="APETIZ",
                amount=Decimal("12.50"),
                outcome="CHARGE_SUCCESS",
                message="Paid",
                psp_reference="61234567",
            ),
        )
        await log.record(
            url, ActivityEntry(kind="gae", reference="CMD-1", outcome="REFUND_FAILURE")
        )
        await log.record(
            "https://other.example.com/graphql/", ActivityEntry(kind="ipn", outcome="X")
        )
        data = await dashboard.gql(
            "query { activity { kind channel reference leg amount currency outcome message pspReference } }"
        )
        assert [e["outcome"] for e in data["activity"]] == ["REFUND_FAILURE", "CHARGE_SUCCESS"]
        assert data["activity"][1] == {
            "kind": "ipn",
            "channel": "boutique-fr",
            "reference": "CMD-1",
            "leg": "APETIZ",
            "amount": "12.50",
            "currency": "EUR",
            "outcome": "CHARGE_SUCCESS",
            "message": "Paid",
            "pspReference": "61234567",
        }

    async def test_activity_never_shows_a_secret(
        self, dashboard: Dashboard, services: Services
    ) -> None:
        """Even a message that carries a key-like value is shown redacted."""
        url = dashboard.saleor.api_url
        await ActivityLog(services.redis).record(
            url, ActivityEntry(kind="gae", outcome="FAILED", message=f"HMAC={KEY} refused")
        )
        response = await dashboard.post("query { activity { message } }")
        assert KEY not in response.text
        assert response.json()["data"]["activity"][0]["message"] == "HMAC=[redacted] refused"
        assert dashboard.saleor.installation is not None
        assert dashboard.saleor.installation.token not in response.text


class TestPage:
    async def test_page_is_framed_by_dashboard_origins_only(self, dashboard: Dashboard) -> None:
        """CSP frame-ancestors lists the configured Dashboard origins and the installed store."""
        response = await dashboard.client.get(
            "/app", params={"saleorApiUrl": dashboard.saleor.api_url, "domain": "x"}
        )
        assert response.status_code == 200
        csp = response.headers["content-security-policy"]
        ancestors = re.search(r"frame-ancestors ([^;]+)", csp)
        assert ancestors is not None
        assert ancestors.group(1).split() == [
            "https://dashboard.saleor.io",
            "https://*.saleor.cloud",
            dashboard.saleor.base_url,
        ]
        assert "script-src 'self'" in csp
        assert "x-frame-options" not in response.headers

    async def test_uninstalled_store_origin_is_not_trusted(self, dashboard: Dashboard) -> None:
        """A saleorApiUrl that did not install the app does not widen frame-ancestors."""
        response = await dashboard.client.get(
            "/app", params={"saleorApiUrl": "https://evil.example.com/graphql/"}
        )
        assert "evil.example.com" not in response.headers["content-security-policy"]
        assert "evil.example.com" not in response.text

    async def test_page_loads_only_its_own_assets(self, dashboard: Dashboard) -> None:
        """No third-party script or style: every asset is served by the app itself."""
        page = await dashboard.client.get("/app")
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources
        assert all(s.startswith("/app/static/") for s in sources), sources
        for source in sources:
            asset = await dashboard.client.get(source)
            assert asset.status_code == 200, source
            assert "http://" not in asset.text.replace("http://www.w3.org", "")
            assert "https://" not in asset.text
        assert (await dashboard.client.get("/app/static/../routes.py")).status_code == 404

    async def test_page_works_without_a_store(self, dashboard: Dashboard) -> None:
        """Opened outside the Dashboard the page still loads (and explains itself)."""
        page = await dashboard.client.get("/app")
        assert page.status_code == 200
        assert "Open this page from the Saleor Dashboard" in page.text


class TestInvalidDocument:
    async def test_input_echoed_by_a_coercion_error_hides_the_key(
        self, dashboard: Dashboard, repo: ConfigurationRepository
    ) -> None:
        """An incomplete input is refused with a readable error that never quotes the HMAC key."""
        incomplete = {"hmacKey": KEY, "site": "1999888"}
        with capture_logs() as logs:
            response = await dashboard.post(SAVE, {"input": incomplete})
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "required field" in body["errors"][0]["message"]
        assert KEY not in response.text
        assert KEY not in repr(logs)
        assert any(entry["event"] == "dashboard.api_invalid_document" for entry in logs)
        assert await repo.list(dashboard.saleor.api_url) == []
