"""One ``POST`` route per Saleor webhook definition: verify, hand to the use case, answer JSON.

The router is built when the app is assembled, from an explicit ``{event: handler}`` map
(:data:`saleor_up2pay.wiring.WEBHOOK_HANDLERS`); an event of
:data:`~saleor_up2pay.saleor.definitions.WEBHOOKS` with no handler in the map answers 500
``HANDLER_MISSING`` (after verification) instead of breaking start-up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response

from saleor_up2pay.errors import AppError
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


def _endpoint(
    definition: WebhookDefinition, handlers: Mapping[str, WebhookHandler]
) -> Callable[[Request], Awaitable[Response]]:
    event = definition.event
    seconds = WEBHOOK_SECONDS.labels(event)

    async def receive(request: Request) -> Response:
        started = time.perf_counter()
        result = "error"
        try:
            body = await _answer(request)
            result = str(body.get("result") or "ok")
            return render(body)
        except AppError as exc:
            result = exc.public_code
            raise
        finally:
            WEBHOOKS_ANSWERED.labels(event, result).inc()
            seconds.observe(time.perf_counter() - started)

    async def _answer(request: Request) -> dict[str, Any]:
        services = services_of(request)
        raw_body = await request.body()
        ctx = await verify_request(services, definition, request.headers, raw_body)
        handler = handlers.get(event)
        if handler is None:
            log.error("saleor.webhook_handler_missing", saleor_event=event)
            msg = "This event is not handled by the app yet."
            raise HandlerMissing(msg)
        with structlog.contextvars.bound_contextvars(
            saleor_api_url=ctx.saleor_api_url, event=event
        ):
            answer = await handler(services, ctx)
            return answer.dump()

    receive.__name__ = "webhook_" + definition.event.lower()
    return receive


def webhook_router(handlers: Mapping[str, WebhookHandler]) -> APIRouter:
    """One route per definition, answered by ``handlers[definition.event]`` (read per request)."""
    unknown = set(handlers) - {definition.event for definition in WEBHOOKS}
    if unknown:
        msg = f"handlers for events the app does not subscribe to: {sorted(unknown)}"
        raise ValueError(msg)
    router = APIRouter()
    for definition in WEBHOOKS:
        router.add_api_route(
            definition.path,
            _endpoint(definition, handlers),
            methods=["POST"],
            include_in_schema=False,
        )
    return router
