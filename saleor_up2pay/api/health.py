"""Liveness and readiness probes: both cheap, neither touches Saleor or Up2pay.

- ``GET /healthz`` (liveness): the process is up and answers HTTP. Restart the container only
  when this fails.
- ``GET /readyz`` (readiness): the app can serve payments now, i.e. its Redis answers. 503 with
  the reason per check while it cannot (route traffic elsewhere, do not restart); the Docker
  image's HEALTHCHECK uses this one.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from saleor_up2pay.redis_store import Redis
from saleor_up2pay.services import ServicesDep

router = APIRouter()

READY_TIMEOUT_SECONDS = 2.0
"""A Redis that accepts connections but does not answer makes the app not ready, quickly."""

REASON_MAX_CHARS = 200


def _reason(exc: BaseException) -> str:
    """``ExceptionType: message`` on one line, short (the Redis client never puts the URL's
    password in its messages)."""
    if isinstance(exc, TimeoutError):
        return f"TimeoutError: no answer within {READY_TIMEOUT_SECONDS:g} s"
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text[:REASON_MAX_CHARS]


async def _ping_once(redis: Redis) -> None:
    """PING Redis on a new connection of the app's settings, without the client's retries (they
    would turn every refused connection into a timeout and hide the reason). On a Redis
    Cluster: PING every primary (through the cluster client)."""
    if isinstance(redis, RedisCluster):
        await redis.ping(target_nodes=RedisCluster.PRIMARIES)
        return
    pool = redis.connection_pool
    connection = pool.connection_class(**{**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)})
    try:
        await connection.connect()  # type: ignore[no-untyped-call]
        await connection.send_command("PING")
        await connection.read_response()
    finally:
        await connection.disconnect()


@router.get("/", include_in_schema=False)
async def index(services: ServicesDep) -> dict[str, str]:
    """What this server is, and where to go next (instead of a bare 404)."""
    base = services.settings.app_url.rstrip("/")
    return {
        "app": "Up2pay e-Transactions (saleor-up2pay)",
        "manifest": f"{base}/api/manifest",
        "install": "Saleor Dashboard → Apps → Install external app, with the manifest URL",
        "liveness": f"{base}/healthz",
        "readiness": f"{base}/readyz",
    }


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: Redis answers a PING within READY_TIMEOUT_SECONDS; else 503 saying why."""
    try:
        await asyncio.wait_for(_ping_once(services.redis), READY_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure (refused, timeout, auth) means "not ready", never a 500
        return JSONResponse(
            {"status": "unavailable", "checks": {"redis": _reason(exc)}}, status_code=503
        )
    return JSONResponse({"status": "ok", "checks": {"redis": "ok"}})
