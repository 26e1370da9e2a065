"""Issue 5's promise end to end: what a merchant sets on the page is what the checkout offers."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tests.conftest import RECORDED, require_shared
from tests.dashboard.conftest import SAVE, Dashboard, config_input

MAP = """
mutation Map($slug: String!, $config: ID) {
  mapChannel(channelSlug: $slug, configurationId: $config) {
    channel { slug configurationId eligible }
    errors { field code message }
  }
}
"""


def gateway_payload(channel: str) -> dict[str, Any]:
    """The recorded PAYMENT_GATEWAY_INITIALIZE_SESSION body, moved to ``channel``."""
    path = require_shared(RECORDED / "webhooks" / "01-payment-gateway-initialize-session.json")
    payload: dict[str, Any] = json.loads(
        json.loads(path.read_text())["request"]["body_text"], parse_float=Decimal
    )
    payload.pop("recipient", None)
    payload["sourceObject"]["channel"]["slug"] = channel
    return payload


async def offered_methods(dashboard: Dashboard, channel: str) -> list[str]:
    """Methods the app offers a checkout of ``channel`` (a signed delivery, as Saleor sends)."""
    response = await dashboard.saleor.send_webhook(
        "http://app.test",
        "PAYMENT_GATEWAY_INITIALIZE_SESSION",
        payload=gateway_payload(channel),
        client=dashboard.client,
    )
    assert response.status_code == 200, response.text
    return [method["id"] for method in response.json()["data"]["methods"]]


class TestConfiguredChannelOffersTheChosenVouchers:
    async def test_checkout_offers_what_the_page_configured(self, dashboard: Dashboard) -> None:
        """A configuration saved and mapped on the page decides the vouchers of that channel only."""
        assert await offered_methods(dashboard, "boutique-fr") == [
            "APETIZ",
            "SODEXO",
            "UPCHEQUDEJ",
            "CVCONNECT",
        ]
        saved = await dashboard.gql(
            SAVE, {"input": config_input(environment="SANDBOX", methods=["SODEXO", "CVCONNECT"])}
        )
        assert saved["saveConfiguration"]["errors"] == []
        config_id = saved["saveConfiguration"]["configuration"]["id"]
        mapped = await dashboard.gql(MAP, {"slug": "boutique-fr", "config": config_id})
        assert mapped["mapChannel"]["errors"] == []

        assert await offered_methods(dashboard, "boutique-fr") == ["SODEXO", "CVCONNECT"]
        assert len(await offered_methods(dashboard, "outlet-be")) == 4

    async def test_unmapping_restores_the_default_offer(self, dashboard: Dashboard) -> None:
        """Putting the channel back on the default configuration offers the default methods."""
        saved = await dashboard.gql(SAVE, {"input": config_input(methods=["APETIZ"])})
        config_id = saved["saveConfiguration"]["configuration"]["id"]
        await dashboard.gql(MAP, {"slug": "boutique-fr", "config": config_id})
        assert await offered_methods(dashboard, "boutique-fr") == ["APETIZ"]

        await dashboard.gql(MAP, {"slug": "boutique-fr", "config": None})
        assert len(await offered_methods(dashboard, "boutique-fr")) == 4
