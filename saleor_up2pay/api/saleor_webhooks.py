"""One ``POST`` route per Saleor webhook definition: verify, hand to the use case, answer JSON.

The routes are built when the app is assembled, from an explicit ``{event: handler}`` map
(:data:`saleor_up2pay.wiring.WEBHOOK_HANDLERS`); an event of
:data:`~saleor_up2pay.saleor.definitions.WEBHOOKS` with no handler in the map answers 500
``HANDLER_MISSING`` (after verification) instead of breaking start-up.

In the app, deliveries are answered by :class:`WebhookEndpoints`, a plain ASGI endpoint ahead of
FastAPI's router (installed by :func:`install_webhooks`, inside the body limits): the session
webhooks are called on every checkout payment, and route matching, dependency solving and the
exception-handler stack cost about a third of their time (``make bench``, issue 12 part D).
The router of :func:`webhook_router` keeps the same paths (other methods get its 405) and
answers the same way when used alone.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from saleor_up2pay.api import asgi
from saleor_up2pay.errors import (
    STORE_ERRORS,
    AppError,
    app_error_response,
    store_unavailable_response,
)
from saleor_up2pay.metrics import WEBHOOK_SECONDS, WEBHOOKS_ANSWERED
from saleor_up2pay.saleor.definitions import WEBHOOKS, WebhookDefinition
from saleor_up2pay.saleor.webhooks import (
    HandlerMissing,
    WebhookAnswer,
    WebhookContext,
    verify_request,
)
from saleor_up2pay.services import Services, services_of

log = structlog.get_logger(__name__)

WebhookHandler = Callable[[Services, WebhookContext], Awaitable[WebhookAnswer]]
"""A use case's entry point for one event (see :data:`saleor_up2pay.wiring.WEBHOOK_HANDLERS`)."""


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    msg = f"{type(value).__name__} is not JSON serialisable"
    raise TypeError(msg)


def render(body: dict[str, Any]) -> Response:
    """HTTP 200 with the use case's JSON (``Decimal`` written as a string, as Saleor accepts)."""
    content = json.dumps(body, default=_json_default, ensure_ascii=False)
    return Response(content, media_type="application/json")


async def _delivered(
    services: Services,
    definition: WebhookDefinition,
    handlers: Mapping[str, WebhookHandler],
    headers: Mapping[str, str],
    read_body: Callable[[], Awaitable[bytes]],
) -> Response:
    """One delivery, counted and timed: verified, handed to its use case, rendered.

    Raises the :class:`~saleor_up2pay.errors.AppError` of a refusal (or of the use case).
    """
    event = definition.event
    started = time.perf_counter()
    result = "error"
    try:
        raw_body = await read_body()
        ctx = await verify_request(services, definition, headers, raw_body)
        handler = handlers.get(event)  # read per delivery (tests replace entries)
        if handler is None:
            log.error("saleor.webhook_handler_missing", saleor_event=event)
            msg = "This event is not handled by the app yet."
            raise HandlerMissing(msg)
        with structlog.contextvars.bound_contextvars(
            saleor_api_url=ctx.saleor_api_url, event=event
        ):
            body = (await handler(services, ctx)).dump()
        result = str(body.get("result") or "ok")
        return render(body)
    except AppError as exc:
        result = exc.public_code
        raise
    finally:
        WEBHOOKS_ANSWERED.labels(event, result).inc()
        WEBHOOK_SECONDS.labels(event).observe(time.perf_counter() - started)


def _endpoint(
    definition: WebhookDefinition, handlers: Mapping[str, WebhookHandler]
) -> Callable[[Request], Awaitable[Response]]:
    async def receive(request: Request) -> Response:
        return await _delivered(
            services_of(request), definition, handlers, request.headers, request.body
        )

    receive.__name__ = "webhook_" + definition.event.lower()
    return receive


class WebhookEndpoints:
    """Every ``POST`` on a webhook definition's path, as a plain ASGI endpoint (see the module
    docstring); anything else goes on to the app. Refusals and faults are rendered as FastAPI's
    error handlers render them (:func:`~saleor_up2pay.errors.app_error_response`); an
    unexpected exception goes up to Starlette's 500."""

    def __init__(self, app: ASGIApp, handlers: Mapping[str, WebhookHandler]) -> None:
        _check_handlers(handlers)
        self.app = app
        self._handlers = handlers
        self._definitions = {definition.path: definition for definition in WEBHOOKS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        definition = (
            self._definitions.get(asgi.route_path(scope))
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if definition is None:
            await self.app(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        response: Response
        try:
            response = await _delivered(
                services,
                definition,
                self._handlers,
                Headers(scope=scope),
                functools.partial(asgi.read_body, receive),
            )
        except AppError as exc:
            response = app_error_response(exc, definition.path)
        except STORE_ERRORS as exc:
            response = store_unavailable_response(exc, definition.path)
        await response(scope, receive, send)


def install_webhooks(app: FastAPI, handlers: Mapping[str, WebhookHandler]) -> None:
    """Add :class:`WebhookEndpoints`; call it before ``install_limits`` so the body limits (and
    ``nosniff``) wrap it."""
    app.add_middleware(WebhookEndpoints, handlers=handlers)


def _check_handlers(handlers: Mapping[str, WebhookHandler]) -> None:
    unknown = set(handlers) - {definition.event for definition in WEBHOOKS}
    if unknown:
        msg = f"handlers for events the app does not subscribe to: {sorted(unknown)}"
        raise ValueError(msg)


def webhook_router(handlers: Mapping[str, WebhookHandler]) -> APIRouter:
    """One route per definition, answered by ``handlers[definition.event]`` (read per request)."""
    _check_handlers(handlers)
    router = APIRouter()
    for definition in WEBHOOKS:
        router.add_api_route(
            definition.path,
            _endpoint(definition, handlers),
            methods=["POST"],
            include_in_schema=False,
        )
    return router
