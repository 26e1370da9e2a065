"""Fixtures of the Saleor adapter tests: a fake Saleor on loopback and an installed app."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from saleor_up2pay.services import Services
from tests.conftest import SCHEMA_PATH, require_shared
from tests.fakes.fake_saleor import FakeSaleor, Installation, running


@pytest.fixture
def fake_saleor() -> Iterator[FakeSaleor]:
    """A fake Saleor served over real HTTP on 127.0.0.1 (validates documents against the schema)."""
    require_shared(SCHEMA_PATH)
    with running() as fake:
        yield fake


@pytest.fixture
async def installed(
    fake_saleor: FakeSaleor, app_client: httpx.AsyncClient, services: Services
) -> Installation:
    """The app installed in the fake Saleor (manifest fetched, token registered)."""
    installation = await fake_saleor.install(services.settings.app_url, client=app_client)
    assert installation.register_response.status_code == 200, installation.register_response.text
    return installation
