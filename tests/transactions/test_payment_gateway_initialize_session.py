"""PAYMENT_GATEWAY_INITIALIZE_SESSION with the recorded Saleor payloads, signed by the fake Saleor."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from saleor_up2pay.configuration import ConfigurationInput, ConfigurationRepository
from tests.conftest import RECORDED, SCHEMA_PATH, require_shared
from tests.transactions.payment_world import World, open_world


@pytest.fixture
async def world(tmp_path: Path, redis_server: Any, redis: aioredis.Redis) -> AsyncIterator[World]:
    require_shared(SCHEMA_PATH)
    async for opened in open_world(tmp_path, redis_server, redis):
        yield opened


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

        assert data["methods"] == [
            {"id": "APETIZ", "label": "Apetiz", "kind": "meal_voucher"},
            {"id": "SODEXO", "label": "Pluxee (Sodexo)", "kind": "meal_voucher"},
            {"id": "UPCHEQUDEJ", "label": "Up Chèque Déjeuner", "kind": "meal_voucher"},
            {"id": "CVCONNECT", "label": "Chèque-Vacances Connect", "kind": "holiday_voucher"},
        ]
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
        configs = ConfigurationRepository(
            world.services.redis, world.services.secretbox, world.services.settings
        )
        saved = await configs.save(
            world.fake.api_url,
            ConfigurationInput(
                name="Holiday only",
                environment="sandbox",
                site="1999888",
                rang="32",
                identifiant="107904482",
                hmac_key="0123456789ABCDEF" * 8,
                methods=["CVCONNECT"],
            ),
        )
        await configs.map_channel(world.fake.api_url, "channel-eur", saved.id)
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
