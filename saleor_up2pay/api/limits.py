"""Request body limits per route, enforced before a byte is buffered, and ``nosniff`` everywhere.

A pure ASGI middleware (installed by :func:`install_limits`):

- a ``Content-Length`` above the route's limit is answered 413 at once, the body never read;
- a body sent without a length (chunked) or longer than announced is counted while the route reads
  it, and reading stops with :class:`~saleor_up2pay.errors.PayloadTooLarge` (413) as soon as the
  count passes the limit, so at most one chunk over the limit is ever held in memory;
- every answer carries ``X-Content-Type-Options: nosniff``.

The limits are one table, :data:`BODY_LIMITS` (documented in ``docs/security.md``): the largest
real message each caller sends, with a wide margin. Authentication comes after, in the routes;
these limits are what an unauthenticated caller can make the app hold.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from saleor_up2pay.api.asgi import route_path
from saleor_up2pay.errors import PayloadTooLarge

KIB = 1024
MIB = 1024 * KIB

BODY_LIMITS: tuple[tuple[str, int], ...] = (
    # Up2pay's IPN: about 600 bytes (our PBX_RETOUR variables and a 172-character signature).
    ("/api/up2pay/ipn", 8 * KIB),
    # Saleor's token exchange: {"auth_token": "..."}, under 100 bytes.
    ("/api/register", 16 * KIB),
    # Saleor's webhook deliveries: 0.3 to 2 KB recorded; a checkout with many lines grows them.
    ("/api/webhooks/", 1 * MIB),
    # The dashboard's configuration API (its route also caps what it reads at this size).
    ("/api/graphql", 64 * KIB),
)
"""Path prefix → largest request body accepted, in bytes; first match wins."""

DEFAULT_BODY_LIMIT = 64 * KIB
"""Any other path: none of the app's other routes reads a body."""

_NOSNIFF = (b"x-content-type-options", b"nosniff")


def body_limit(path: str) -> int:
    """The body limit of a request path (see :data:`BODY_LIMITS`)."""
    for prefix, limit in BODY_LIMITS:
        if path.startswith(prefix):
            return limit
    return DEFAULT_BODY_LIMIT


def _too_large_message(limit: int) -> str:
    return f"The request body is larger than this endpoint accepts ({limit} bytes)."


class LimitsMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _with_nosniff(message)
            await send(message)

        limit = body_limit(route_path(scope))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reject(send_nosniff, limit)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(_too_large_message(limit))
            return message

        await self.app(scope, limited_receive, send_nosniff)


def _with_nosniff(start: Message) -> Message:
    """``start`` with ``nosniff`` added, unless the route set the header itself. The headers
    are not copied one by one: a new list is made only when the header is added (once per
    answer, on the app's every request)."""
    headers = start.get("headers") or ()
    for name, _ in headers:
        if name.lower() == _NOSNIFF[0]:
            return start
    return {**start, "headers": [*headers, _NOSNIFF]}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _reject(send: Send, limit: int) -> None:
    error = PayloadTooLarge(_too_large_message(limit))
    body = json.dumps(error.to_json()).encode()
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": error.status_code,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


def install_limits(app: FastAPI) -> None:
    """Add :class:`LimitsMiddleware` to ``app`` (inside Starlette's error middleware)."""
    app.add_middleware(LimitsMiddleware)
