"""Liveness and readiness probes: both cheap, neither touches Saleor or Up2pay."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from saleor_up2pay.services import ServicesDep

router = APIRouter()

READY_TIMEOUT_SECONDS = 2.0
"""A Redis that accepts connections but does not answer makes the app not ready, quickly."""


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Redis answers a PING (within READY_TIMEOUT_SECONDS)."""
    try:
        await asyncio.wait_for(services.redis.ping(), READY_TIMEOUT_SECONDS)
    except Exception:  # any failure (refused, timeout, auth) means "not ready", never a 500
        return JSONResponse({"status": "unavailable", "redis": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "redis": "ok"})
