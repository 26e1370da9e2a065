"""HTTP side of the dashboard: the page at ``GET /app``, its assets, and ``POST /api/graphql``.

Framing: the page sends ``Content-Security-Policy: frame-ancestors`` listing ``DASHBOARD_ORIGINS``
(default: Saleor's hosted Dashboard and Saleor Cloud) plus the origin of the ``saleorApiUrl`` it
is opened for, when that instance has installed the app (a self-hosted Dashboard served with its
API). A Dashboard on any other origin must be added to ``DASHBOARD_ORIGINS``. The same list is
handed to the page, which only accepts App Bridge messages from its parent on one of those origins.

The API checks the Dashboard token before reading the request body, so a call without a valid
token reads and writes nothing.
"""

from __future__ import annotations

import html
import re
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from graphql import GraphQLError
from saleor_up2pay import __version__, jsonbody
from saleor_up2pay.dashboard.auth import API_URL_HEADER, TOKEN_HEADER, authenticate
from saleor_up2pay.dashboard.schema import ApiContext, schema, scrub_message
from saleor_up2pay.errors import AppError, BadRequest
from saleor_up2pay.saleor.definitions import APP_PAGE_PATH
from saleor_up2pay.services import Services, ServicesDep

log = structlog.get_logger(__name__)

router = APIRouter(tags=["dashboard"])

GRAPHQL_PATH = "/api/graphql"
STATIC_PATH = APP_PAGE_PATH + "/static"
MAX_BODY_BYTES = 64 * 1024
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_ASSETS = {
    "order.js": "text/javascript; charset=utf-8",
    "order.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "logo.svg": "image/svg+xml",
}


@cache
def _asset(name: str) -> bytes:
    return resources.files("saleor_up2pay.dashboard").joinpath("static", name).read_bytes()


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # never copy userinfo into a header
    if parts.scheme not in {"http", "https"} or not host or not _HOST_RE.fullmatch(host):
        return None
    return f"{parts.scheme}://{host}"


async def frame_ancestors(services: Services, saleor_api_url: str | None) -> list[str]:
    """Origins allowed to frame the page for this request (see the module docstring)."""
    origins = list(services.settings.dashboard_origins)
    if saleor_api_url and len(saleor_api_url) < 2048:
        origin = _origin(saleor_api_url)
        if origin and origin not in origins and await services.auth_store.get(saleor_api_url):
            origins.append(origin)
    return origins


def _csp(ancestors: list[str]) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors " + (" ".join(ancestors) if ancestors else "'none'"),
        ]
    )


async def framed_page(
    request: Request, services: Services, asset: str, api_path: str
) -> HTMLResponse:
    """An HTML page of the app framed by the Dashboard: placeholders filled, strict headers.

    ``frame-ancestors`` admits the Dashboard origins and the installed Saleor's own origin only.
    """
    ancestors = await frame_ancestors(services, request.query_params.get("saleorApiUrl"))
    base = urlsplit(services.settings.app_url).path.rstrip("/")
    text = (
        _asset(asset)
        .decode()
        .replace("{{BASE}}", html.escape(base))
        .replace("{{VERSION}}", html.escape(__version__))
        .replace("{{API}}", html.escape(base + api_path))
        .replace("{{ORIGINS}}", html.escape(" ".join(ancestors)))
    )
    return HTMLResponse(
        text,
        headers={
            "Content-Security-Policy": _csp(ancestors),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get(APP_PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, services: ServicesDep) -> HTMLResponse:
    """The configuration page shown in the Dashboard's iframe (App Bridge speaks to it)."""
    return await framed_page(request, services, "index.html", GRAPHQL_PATH)


@router.get(STATIC_PATH + "/{name}", include_in_schema=False)
async def asset(name: str) -> Response:
    """The page's own scripts and styles (shipped in the package; nothing to build)."""
    media_type = _ASSETS.get(name)
    if media_type is None:
        return Response(status_code=404)
    return Response(
        _asset(name),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@router.post(GRAPHQL_PATH, include_in_schema=False)
async def graphql_api(request: Request, services: ServicesDep) -> JSONResponse:
    """The configuration API. The token is checked before the body is even read."""
    session = await authenticate(
        services, request.headers.get(API_URL_HEADER), request.headers.get(TOKEN_HEADER)
    )
    query, variables, operation_name = _parse_body(await read_body(request))
    context = ApiContext(services=services, session=session, repository=services.configurations)
    result = await schema.execute(
        query, variable_values=variables, context_value=context, operation_name=operation_name
    )
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_format_error(error) for error in result.errors]
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest("The request is too large.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest("The request is too large.")
    return body


def _parse_body(raw: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    try:
        payload = jsonbody.loads(raw)
    except jsonbody.JsonTooDeep:
        raise BadRequest("The request body nests too deeply.") from None
    except ValueError:
        raise BadRequest("The request body is not JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        raise BadRequest("The request body needs a GraphQL 'query'.")
    variables = payload.get("variables")
    operation_name = payload.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("'variables' must be an object.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequest("'operationName' must be a string.")
    return payload["query"], variables, operation_name


def _format_error(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    formatted: dict[str, Any] = {"path": error.path} if error.path else {}
    if isinstance(original, AppError):
        formatted.update(message=original.public_message, extensions={"code": original.public_code})
    elif original is None or isinstance(original, GraphQLError):
        # Syntax, validation or variable-coercion error of the request itself: safe to show once
        # the values it quotes are scrubbed (an invalid input echoes the HMAC key sent).
        formatted.update(
            message=scrub_message(error.message), extensions={"code": "GRAPHQL_VALIDATION_FAILED"}
        )
    else:
        formatted.update(
            message="The app hit an internal error.", extensions={"code": "INTERNAL_ERROR"}
        )
    return formatted
