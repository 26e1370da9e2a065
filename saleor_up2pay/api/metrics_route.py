"""``GET /metrics``: Prometheus exposition, behind a bearer token (``METRICS_TOKEN``).

With ``METRICS_TOKEN`` unset the route answers 404: nothing about the app's traffic is public by
default. With it, a scrape must send ``Authorization: Bearer <METRICS_TOKEN>`` (compared in
constant time); anything else is 401. What is exposed: :mod:`saleor_up2pay.metrics`.
"""

from __future__ import annotations

import hmac

import structlog
from fastapi import APIRouter, Request, Response
from redis.exceptions import RedisError

from saleor_up2pay.metrics import CONTENT_TYPE_LATEST, redis_families, render
from saleor_up2pay.services import ServicesDep
from saleor_up2pay.wiring import job_handlers

log = structlog.get_logger(__name__)

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, services: ServicesDep) -> Response:
    """Every process's counters, and the queue and problem gauges read from Redis now."""
    token = services.settings.metrics_token
    if token is None:
        return Response(status_code=404)
    given = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    try:
        gauges = await redis_families(services.redis, job_handlers(services), services.job_queue)
    except (RedisError, OSError) as exc:  # the counters are still worth having
        log.warning("metrics.redis_unavailable", error=type(exc).__name__)
        gauges = []
    return Response(
        render(gauges), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )
