"""Fixtures of the dashboard tests: a fake Saleor with channels, the app installed in it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from saleor_up2pay.configuration import ConfigurationRepository
from saleor_up2pay.services import Services
from tests.conftest import SCHEMA_PATH, require_shared
from tests.fakes.fake_saleor import (
    FakeSaleor,
    GraphQLCall,
    GraphQLErrors,
    permission_denied,
    running,
)

CHANNELS: list[dict[str, Any]] = [
    {
        "id": "Q2hhbm5lbDox",
        "slug": "boutique-fr",
        "name": "Boutique France",
        "currencyCode": "EUR",
        "isActive": True,
    },
    {
        "id": "Q2hhbm5lbDoy",
        "slug": "store-us",
        "name": "US Store",
        "currencyCode": "USD",
        "isActive": True,
    },
    {
        "id": "Q2hhbm5lbDoz",
        "slug": "outlet-be",
        "name": "Outlet Belgique",
        "currencyCode": "EUR",
        "isActive": False,
    },
]


def resolve_channels(_: dict[str, Any], call: GraphQLCall) -> list[dict[str, Any]]:
    """Saleor's ``channels``: the app token is required (AUTHENTICATED_APP)."""
    if call.app_id is None:
        raise GraphQLErrors([permission_denied("channels")], data={"channels": None})
    return CHANNELS


@pytest.fixture
def fake_saleor() -> Iterator[FakeSaleor]:
    """A fake Saleor on loopback that lists three channels (EUR, USD, inactive EUR)."""
    require_shared(SCHEMA_PATH)
    with running() as fake:
        fake.resolvers["channels"] = resolve_channels
        yield fake


@dataclass
class Dashboard:
    """Calls the configuration API the way the page does."""

    client: httpx.AsyncClient
    saleor: FakeSaleor

    def token(self, **claims: Any) -> str:
        return self.saleor.dashboard_token(**claims)

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = "",
        api_url: str | None = "",
    ) -> httpx.Response:
        headers = {"content-type": "application/json"}
        token = self.token() if token == "" else token
        api_url = self.saleor.api_url if api_url == "" else api_url
        if token is not None:
            headers["authorization-bearer"] = token
        if api_url is not None:
            headers["saleor-api-url"] = api_url
        return await self.client.post(
            "/api/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a document with a good token; fails the test on any GraphQL error."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
async def dashboard(
    fake_saleor: FakeSaleor, app_client: httpx.AsyncClient, services: Services
) -> Dashboard:
    """The app installed in the fake Saleor, and a client speaking like the page."""
    installation = await fake_saleor.install(services.settings.app_url, client=app_client)
    assert installation.register_response.status_code == 200, installation.register_response.text
    return Dashboard(client=app_client, saleor=fake_saleor)


@pytest.fixture
def repo(services: Services) -> ConfigurationRepository:
    return ConfigurationRepository(services.redis, services.secretbox, services.settings)


SAVE = """
mutation Save($input: ConfigurationInput!) {
  saveConfiguration(input: $input) {
    configuration { id name environment site rang identifiant keyHint methods captureMode isDefault channels }
    errors { field code message }
  }
}
"""

KEY = "A1B2C3D4" * 16


def config_input(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Boutique test",
        "environment": "TEST",
        "site": "1999888",
        "rang": "32",
        "identifiant": "107904482",
        "hmacKey": KEY,
        "methods": ["APETIZ", "SODEXO"],
        "captureMode": "FOLLOW_SALEOR",
    }
    data.update(overrides)
    return data
