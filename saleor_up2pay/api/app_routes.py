"""The installation endpoints: the manifest, its logo, and the register (token exchange) call.

Both ``/api/register`` and ``/api/register/`` are routed (the app never redirects: a 3xx on the
register POST makes Saleor believe the installation worked while the token is lost).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from saleor_up2pay import jsonbody
from saleor_up2pay.saleor.definitions import LOGO_PATH, MANIFEST_PATH, REGISTER_PATH
from saleor_up2pay.saleor.manifest import build_manifest, logo_path
from saleor_up2pay.saleor.register import MissingAuthToken, check_saleor_api_url, register
from saleor_up2pay.services import ServicesDep

router = APIRouter()


@router.get(MANIFEST_PATH)
@router.get(MANIFEST_PATH + "/", include_in_schema=False)
async def manifest(services: ServicesDep) -> dict[str, Any]:
    """The app manifest, with absolute URLs from APP_URL."""
    return build_manifest(services.settings)


@router.get(LOGO_PATH)
async def logo() -> FileResponse:
    """The brand logo the manifest points to (Saleor fetches it after installation)."""
    return FileResponse(logo_path(), media_type="image/png")


@router.post(REGISTER_PATH)
@router.post(REGISTER_PATH + "/", include_in_schema=False)
async def register_app(request: Request, services: ServicesDep) -> dict[str, bool]:
    """Saleor hands over the app token; it is proven, then stored encrypted.

    Unauthenticated: the body is capped (:mod:`saleor_up2pay.api.limits`) and parsed with a
    nesting limit; anything but ``{"auth_token": "<non-empty string>"}`` is 400.
    """
    saleor_api_url = check_saleor_api_url(request.headers.get("saleor-api-url"))
    try:
        body = jsonbody.loads(await request.body())
    except ValueError:  # not JSON, not UTF-8, or nested too deeply
        body = None
    token = body.get("auth_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        msg = "Missing auth token."
        raise MissingAuthToken(msg)
    await register(services, saleor_api_url, token)
    return {"success": True}
