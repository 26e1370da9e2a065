"""Liveness and readiness probes: both cheap, neither touches Saleor or Up2pay."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from saleor_up2pay.services import ServicesDep

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Redis answers a PING."""
    try:
        await services.redis.ping()
    except Exception:
        return JSONResponse({"status": "unavailable", "redis": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "redis": "ok"})
