"""One ``POST`` route per Saleor webhook definition: verify, hand to the use case, answer JSON.

The use case is imported by name at request time (``definition.handler``), so the app starts and
answers 500 ``HANDLER_MISSING`` for an event whose use case is not written yet.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response

from saleor_up2pay.saleor.definitions import WEBHOOKS, WebhookDefinition
from saleor_up2pay.saleor.webhooks import HandlerMissing, WebhookContext, verify_request
from saleor_up2pay.services import get_services

log = structlog.get_logger(__name__)

Handler = Callable[[WebhookContext], Awaitable[dict[str, Any]]]


def resolve_handler(spec: str) -> Handler:
    """Import ``module:function``; a module or function that does not exist is HANDLER_MISSING."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the handler's own module (or its package) missing means "not written yet";
        # a missing dependency inside an existing handler is a real bug and propagates.
        if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
            raise
        log.error("saleor.webhook_handler_missing", handler=spec)
        msg = "This event is not handled by the app yet."
        raise HandlerMissing(msg) from None
    handler = getattr(module, attribute, None)
    if not callable(handler):
        log.error("saleor.webhook_handler_missing", handler=spec)
        msg = "This event is not handled by the app yet."
        raise HandlerMissing(msg)
    return handler  # type: ignore[no-any-return]


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    msg = f"{type(value).__name__} is not JSON serialisable"
    raise TypeError(msg)


def render(body: dict[str, Any]) -> Response:
    """HTTP 200 with the use case's JSON (``Decimal`` written as a string, as Saleor accepts)."""
    content = json.dumps(body, default=_json_default, ensure_ascii=False)
    return Response(content, media_type="application/json")


def _endpoint(definition: WebhookDefinition) -> Callable[[Request], Awaitable[Response]]:
    async def receive(request: Request) -> Response:
        services = get_services(request)
        raw_body = await request.body()
        ctx = await verify_request(services, definition, request.headers, raw_body)
        handler = resolve_handler(definition.handler)
        with structlog.contextvars.bound_contextvars(
            saleor_api_url=ctx.saleor_api_url, event=definition.event
        ):
            return render(await handler(ctx))

    receive.__name__ = "webhook_" + definition.event.lower()
    return receive


router = APIRouter()
for _definition in WEBHOOKS:
    router.add_api_route(
        _definition.path, _endpoint(_definition), methods=["POST"], include_in_schema=False
    )
