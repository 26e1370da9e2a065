"""The loopback payment world (app + Up2pay sandbox + fake Saleor) for the use-case tests here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.conftest import SCHEMA_PATH, require_shared
from tests.transactions.payment_world import World, open_world


@pytest.fixture
async def world(tmp_path: Path, redis_url: str, redis: aioredis.Redis) -> AsyncIterator[World]:
    """The app, the sandbox and a fake Saleor on loopback, the app installed."""
    require_shared(SCHEMA_PATH)
    async for opened in open_world(tmp_path, redis_url, redis):
        yield opened
