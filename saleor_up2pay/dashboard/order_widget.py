"""HTTP side of the order page widget: ``GET /app/order`` and its small JSON API.

The Dashboard (Saleor 3.22+) shows the page in the order details as the manifest extension
``ORDER_DETAILS_WIDGETS`` / ``WIDGET`` (and as the ``ORDER_DETAILS_MORE_ACTIONS`` / ``POPUP``
"Refund across legs" action, same page with ``?view=refund``). What the page relies on:

- the iframe URL's query string: ``saleorApiUrl`` and ``orderId``. Dashboard 3.22/3.23 adds
  ``orderId`` (the order's global ID) to the URL of order widgets (``GET``) and popups, and puts
  the **app's** global ID in ``id``; the page therefore reads ``orderId``, and ``id`` only when it
  is an order's global ID (``Order:…``). ``theme`` and ``locale`` when given;
- App Bridge for the token (``handshake`` / ``tokenRefresh``), the theme and the locale, exactly
  like the configuration page.

Every API call is authenticated like the configuration page's
(:func:`~saleor_up2pay.dashboard.auth.authenticate`: the Dashboard token verified with the JWKS
stored for that instance, ``HANDLE_PAYMENTS`` required) before its body is read. The use cases
are in :mod:`.order_legs`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from saleor_up2pay import jsonbody
from saleor_up2pay.dashboard import order_legs
from saleor_up2pay.dashboard.auth import (
    API_URL_HEADER,
    TOKEN_HEADER,
    DashboardSession,
    authenticate,
)
from saleor_up2pay.dashboard.refund_split import InvalidSplitRequest, Strategy
from saleor_up2pay.dashboard.routes import MAX_BODY_BYTES, framed_page, read_body
from saleor_up2pay.errors import BadRequest
from saleor_up2pay.saleor.definitions import ORDER_WIDGET_PATH
from saleor_up2pay.services import Services, ServicesDep

router = APIRouter(tags=["dashboard"])
_M = TypeVar("_M", bound=BaseModel)

ORDER_PAGE_PATH = ORDER_WIDGET_PATH
ORDER_API_PATH = "/api/order-widget"

_ID_PATTERN = r"^[A-Za-z0-9=+/_:.\-]+$"
_MONEY_PATTERN = r"^\d{1,9}(\.\d{1,2})?$"


def _id(default: Any = ...) -> Any:
    return Field(default, min_length=1, max_length=200, pattern=_ID_PATTERN)


def _money() -> Any:
    return Field(min_length=1, max_length=20, pattern=_MONEY_PATTERN)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderBody(_Body):
    order_id: str = _id()


class ProposeBody(OrderBody):
    amount: str = _money()
    strategy: Strategy


class Part(_Body):
    transaction_id: str = _id()
    amount: str = _money()


class ConfirmBody(OrderBody):
    parts: list[Part] = Field(min_length=1, max_length=10)
    reason: str | None = Field(default=None, max_length=1000)
    reason_reference: str | None = _id(None)


class CheckBody(OrderBody):
    transaction_id: str = _id()


class GrantBody(OrderBody):
    granted_refund_id: str = _id()


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BadRequest("Not an amount.") from None


@router.get(ORDER_PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
async def order_page(request: Request, services: ServicesDep) -> HTMLResponse:
    """The widget page framed in the order details (and the refund popup, ``?view=refund``)."""
    return await framed_page(request, services, "order.html", ORDER_API_PATH)


async def _session(request: Request, services: Services) -> DashboardSession:
    return await authenticate(
        services, request.headers.get(API_URL_HEADER), request.headers.get(TOKEN_HEADER)
    )


async def _body(request: Request, model: type[_M]) -> _M:
    raw = await read_body(request)
    try:
        data = jsonbody.loads(raw)
    except ValueError:
        raise BadRequest("The request body is not JSON.") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:3])
        raise BadRequest(f"The request does not fit: {fields or 'body'}.") from None


def _json(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post(ORDER_API_PATH + "/legs", include_in_schema=False)
async def legs(request: Request, services: ServicesDep) -> JSONResponse:
    """Every Up2pay leg of the order, what can be done with it and when."""
    session = await _session(request, services)
    body = await _body(request, OrderBody)
    return _json(await order_legs.order_view(services, session, body.order_id))


@router.post(ORDER_API_PATH + "/propose", include_in_schema=False)
async def propose(request: Request, services: ServicesDep) -> JSONResponse:
    """Per-leg amounts for one refund amount and strategy (nothing is asked of Saleor)."""
    session = await _session(request, services)
    body = await _body(request, ProposeBody)
    try:
        proposal = await order_legs.propose(
            services, session, body.order_id, _decimal(body.amount), body.strategy
        )
    except InvalidSplitRequest as exc:
        raise BadRequest(str(exc)) from None
    return _json(proposal)


@router.post(ORDER_API_PATH + "/confirm", include_in_schema=False)
async def confirm(request: Request, services: ServicesDep) -> JSONResponse:
    """Staff confirmed the parts: one ``transactionRequestAction(REFUND)`` per leg."""
    session = await _session(request, services)
    body = await _body(request, ConfirmBody)
    parts = [(p.transaction_id, _decimal(p.amount)) for p in body.parts]
    result = await order_legs.confirm(
        services,
        session,
        body.order_id,
        parts,
        reason=body.reason,
        reason_reference=body.reason_reference,
    )
    return _json(result)


@router.post(ORDER_API_PATH + "/grant", include_in_schema=False)
async def grant(request: Request, services: ServicesDep) -> JSONResponse:
    """Staff picked a granted refund: ``transactionRequestRefundForGrantedRefund`` on its leg."""
    session = await _session(request, services)
    body = await _body(request, GrantBody)
    return _json(
        await order_legs.refund_grant(services, session, body.order_id, body.granted_refund_id)
    )


@router.post(ORDER_API_PATH + "/check", include_in_schema=False)
async def check(request: Request, services: ServicesDep) -> JSONResponse:
    """ "Check with Up2pay now": inquiry on one leg, differences reported to Saleor."""
    session = await _session(request, services)
    body = await _body(request, CheckBody)
    return _json(await order_legs.check_leg(services, session, body.order_id, body.transaction_id))


__all__ = ["MAX_BODY_BYTES", "ORDER_API_PATH", "ORDER_PAGE_PATH", "router"]
