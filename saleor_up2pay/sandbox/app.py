"""The sandbox's ASGI app: Up2pay's public endpoints on a main and a backup "host", plus an API.

Up2pay endpoints (``/`` = main host, ``/backup`` = backup host, sharing one ledger):
``GET|POST /php/`` hosted page, ``POST /PPPS.php`` GAE, ``GET /load.html`` availability.
Keys: ``GET /pubkey.pem`` (1024-bit), ``GET /pubkey_RSA_2048.pem``.
Shopper page: ``GET|POST /sandbox/checkout/{session}``.
Test API (JSON): ``POST /sandbox/api/pay``, ``GET|POST /sandbox/api/clock``,
``POST /sandbox/api/availability``, ``POST /sandbox/api/gae-faults``,
``GET /sandbox/api/transactions``, ``GET /sandbox/api/ipn-log``, ``POST /sandbox/api/reset``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal
from urllib.parse import parse_qsl

import httpx
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from saleor_up2pay.sandbox import gae, pages
from saleor_up2pay.sandbox.config import SandboxConfig
from saleor_up2pay.sandbox.core import Availability, GaeFault, PaymentSession, Sandbox
from saleor_up2pay.sandbox.hosted_page import (
    HostedPageError,
    PaymentRequest,
    validate_payment_request,
)
from saleor_up2pay.sandbox.payments import (
    MAX_IPN_REPEAT,
    Choice,
    IpnOrder,
    Outcome,
    OutcomeError,
    PaymentResult,
    play,
    resolve_pending,
)

HostName = Literal["main", "backup"]
HOST_PREFIXES: dict[str, str] = {"main": "", "backup": "/backup"}
FORM_TYPE = "application/x-www-form-urlencoded"
GAE_MEDIA_TYPE = "text/plain; charset=ISO-8859-1"


def _read_pairs(raw: str) -> list[tuple[str, str]]:
    """Form fields in the order received: the HMAC is computed over that order (§2.5)."""
    try:
        return parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise HostedPageError("00002", "the fields are not valid UTF-8 form data") from None


async def _request_pairs(request: Request) -> list[tuple[str, str]]:
    if request.method == "GET":
        return _read_pairs(request.url.query)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != FORM_TYPE:
        raise HostedPageError("00002", f"the form must be posted as {FORM_TYPE}")
    body = await request.body()
    try:
        return _read_pairs(body.decode("ascii"))
    except UnicodeDecodeError:
        raise HostedPageError("00002", "the form body must be URL-encoded") from None


async def _open_session(
    sandbox: Sandbox, pairs: list[tuple[str, str]], host: str
) -> PaymentSession:
    request: PaymentRequest = validate_payment_request(pairs, sandbox.accounts)
    async with sandbox.lock:
        paid = (request.account.site, int(request.account.rang), request.reference)
        if paid in sandbox.paid_references:
            raise HostedPageError("00015", f"PBX_CMD {request.reference} is already paid")
        return sandbox.new_session(request, host)


def _checkout_path(session_id: str) -> str:
    return f"/sandbox/checkout/{session_id}"


class PayBody(BaseModel):
    """Drive a whole payment without HTML: a form (or an open session) and the outcome."""

    fields: list[tuple[str, str]] | None = Field(
        default=None, description="The PBX_* fields in form order (as built by the merchant)."
    )
    form: str | None = Field(default=None, description="Or the URL-encoded form body, as is.")
    session: str | None = Field(default=None, description="Or a session opened by /php/.")
    host: HostName = "main"
    outcome: Outcome
    voucher_amount: int | None = Field(default=None, description="Cents paid by the voucher.")
    refusal_code: str = "00105"
    refused_attempts: int = Field(default=0, ge=0, le=2)
    ipn_order: IpnOrder = IpnOrder.VOUCHER_FIRST
    ipn_repeat: int = Field(default=1, ge=1, le=MAX_IPN_REPEAT)
    ipn_concurrent: bool = False
    send_ipn: bool = True
    drop_ipn_card_types: list[str] = Field(default_factory=list, max_length=10)


class PendingBody(BaseModel):
    transaction_number: int
    result: Literal["accepted", "refused"]
    refusal_code: str = "00105"
    send_ipn: bool = True


class ClockBody(BaseModel):
    days: int = Field(default=0, ge=-3650, le=3650)
    reset: bool = False


class AvailabilityBody(BaseModel):
    host: HostName = "main"
    status: Availability


class FaultBody(BaseModel):
    host: HostName = "main"
    code: Annotated[str, Field(pattern=r"^\d{5}$")] = "00001"
    count: int = Field(default=1, ge=0, le=1000)
    executed: bool = False


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _result_json(results: list[PaymentResult], sandbox: Sandbox) -> dict[str, object]:
    last = results[-1]
    today = sandbox.clock.today()
    return {
        "session": last.session.id,
        "call_number": last.session.call_number,
        "reference": last.session.request.reference,
        "return_kind": last.return_kind,
        "return_url": last.return_url,
        "finished": last.finished,
        "transactions": [t.to_json(today) for r in results for t in r.transactions],
        "ipns": [d.to_json() for r in results for d in r.deliveries],
    }


def _pending_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(prefix="/sandbox/api")

    @router.post("/pending/resolve")
    async def pending_resolve(body: PendingBody) -> JSONResponse:
        """The issuer accepts or refuses a pending (99999) transaction; its final IPN is sent."""
        try:
            transaction, deliveries = await resolve_pending(
                sandbox,
                body.transaction_number,
                accepted=body.result == "accepted",
                refusal_code=body.refusal_code,
                send_ipn=body.send_ipn,
            )
        except OutcomeError as exc:
            return _error(409, "OUTCOME", str(exc))
        return JSONResponse(
            {
                "transaction": transaction.to_json(sandbox.clock.today()),
                "ipns": [d.to_json() for d in deliveries],
            }
        )

    return router


def _api_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(prefix="/sandbox/api")

    @router.post("/pay")
    async def pay(body: PayBody) -> JSONResponse:
        """Open a session (from fields/form) or use one, play refused attempts then the outcome."""
        try:
            if body.session is not None:
                session_id = body.session
            else:
                if body.fields is not None:
                    pairs = [(name, value) for name, value in body.fields]
                elif body.form is not None:
                    pairs = _read_pairs(body.form)
                else:
                    return _error(422, "BAD_REQUEST", "give fields, form or session")
                if sandbox.availability[body.host] is not Availability.UP:
                    return _error(503, "UNAVAILABLE", f"the {body.host} host is down")
                session_id = (await _open_session(sandbox, pairs, body.host)).id
        except HostedPageError as exc:
            return _error(400, exc.code, exc.message)

        def choice(outcome: Outcome, voucher_amount: int | None = None) -> Choice:
            return Choice(
                outcome,
                voucher_amount=voucher_amount,
                refusal_code=body.refusal_code,
                ipn_order=body.ipn_order,
                ipn_repeat=body.ipn_repeat,
                ipn_concurrent=body.ipn_concurrent,
                send_ipn=body.send_ipn,
                drop_ipn_card_types=tuple(body.drop_ipn_card_types),
            )

        results = []
        try:
            for _ in range(body.refused_attempts):
                results.append(await play(sandbox, session_id, choice(Outcome.RETRY)))
            results.append(
                await play(sandbox, session_id, choice(body.outcome, body.voucher_amount))
            )
        except OutcomeError as exc:
            return _error(409, "OUTCOME", str(exc))
        return JSONResponse(_result_json(results, sandbox))

    @router.get("/clock")
    async def clock() -> dict[str, object]:
        return {
            "today": sandbox.clock.today().isoformat(),
            "offset_days": sandbox.clock.offset_days,
        }

    @router.post("/clock")
    async def move_clock(body: ClockBody) -> dict[str, object]:
        """Move the sandbox's calendar (e.g. ``{"days": 1}`` to allow a refund)."""
        async with sandbox.lock:
            sandbox.clock.offset_days = 0 if body.reset else sandbox.clock.offset_days + body.days
        return await clock()

    @router.post("/availability")
    async def availability(body: AvailabilityBody) -> dict[str, str]:
        """``degraded``: load.html says KO; ``down``: everything answers 503."""
        async with sandbox.lock:
            sandbox.availability[body.host] = body.status
        return {host: status.value for host, status in sandbox.availability.items()}

    @router.post("/gae-faults")
    async def gae_faults(body: FaultBody) -> dict[str, object]:
        """The next ``count`` authenticated GAE calls on ``host`` answer ``code``."""
        async with sandbox.lock:
            if body.count == 0:
                sandbox.faults.pop(body.host, None)
            else:
                sandbox.faults[body.host] = GaeFault(body.code, body.count, body.executed)
        return {"host": body.host, "code": body.code, "count": body.count}

    @router.get("/transactions")
    async def transactions(
        reference: str | None = None, call_number: int | None = None
    ) -> dict[str, object]:
        today = sandbox.clock.today()
        async with sandbox.lock:
            items = [
                t.to_json(today)
                for t in sandbox.transactions.values()
                if (reference is None or t.reference == reference)
                and (call_number is None or t.call_number == call_number)
            ]
        return {"transactions": items}

    @router.get("/executions")
    async def executions(transaction_number: int | None = None) -> dict[str, object]:
        """Every capture, cancel and refund executed (the ledger fault tests count against)."""
        async with sandbox.lock:
            items = [
                e.to_json()
                for e in sandbox.executions
                if transaction_number is None or e.transaction_number == transaction_number
            ]
        return {"executions": items}

    @router.get("/ipn-log")
    async def ipn_log(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, object]:
        return {"ipns": [d.to_json() for d in list(sandbox.ipn_log)[-limit:]]}

    @router.post("/reset")
    async def reset() -> dict[str, bool]:
        async with sandbox.lock:
            sandbox.reset()
        return {"reset": True}

    return router


def _host_router(sandbox: Sandbox, host: str) -> APIRouter:
    router = APIRouter(prefix=HOST_PREFIXES[host])

    async def hosted_page(request: Request) -> Response:
        if sandbox.availability[host] is not Availability.UP:
            return HTMLResponse(pages.unavailable_page(), status_code=503)
        try:
            session = await _open_session(sandbox, await _request_pairs(request), host)
        except HostedPageError as exc:
            return HTMLResponse(
                pages.error_page(exc.code, exc.message),
                status_code=400,
                headers={"X-Up2pay-Error": exc.code},
            )
        return HTMLResponse(
            pages.checkout_page(
                session, _checkout_path(session.id), max_attempts=sandbox.config.max_attempts
            )
        )

    for path in ("/php/", "/php"):
        router.add_api_route(path, hosted_page, methods=["GET", "POST"])

    @router.post("/PPPS.php")
    async def ppps(request: Request) -> Response:
        if sandbox.availability[host] is not Availability.UP:
            return Response("Service Unavailable", status_code=503, media_type="text/plain")
        body = await gae.handle(sandbox, host, await request.body())
        return Response(body, media_type=GAE_MEDIA_TYPE)

    @router.get("/load.html")
    async def load() -> Response:
        status = sandbox.availability[host]
        if status is Availability.DOWN:
            return HTMLResponse("Service Unavailable", status_code=503)
        return HTMLResponse(pages.load_html(status is Availability.UP))

    return router


def _parse_choice(form: dict[str, str]) -> Choice:
    try:
        outcome = Outcome(form.get("outcome", ""))
        order = IpnOrder(form.get("ipn_order", IpnOrder.VOUCHER_FIRST.value))
        repeat = int(form.get("ipn_repeat", "1") or "1")
    except ValueError:
        raise OutcomeError("pick an outcome") from None
    part = None
    if outcome in {Outcome.SPLIT, Outcome.COMPLEMENT_REFUSED}:
        try:
            euros = Decimal(form.get("voucher_amount", "").replace(",", ".").strip())
        except InvalidOperation:
            raise OutcomeError("the voucher part must be an amount in euros") from None
        cents = euros * 100
        if cents != cents.to_integral_value():
            raise OutcomeError("the voucher part must be in whole cents")
        part = int(cents)
    return Choice(
        outcome,
        voucher_amount=part,
        refusal_code=form.get("refusal_code", "00105"),
        ipn_order=order,
        ipn_repeat=repeat,
        ipn_concurrent=form.get("ipn_concurrent") == "1",
        send_ipn=form.get("send_ipn") == "1",
    )


def _checkout_router(sandbox: Sandbox) -> APIRouter:
    router = APIRouter(prefix="/sandbox/checkout")

    @router.get("/{session_id}")
    async def show(session_id: str, notice: str | None = None) -> HTMLResponse:
        session = sandbox.sessions.get(session_id)
        if session is None or session.finished:
            return HTMLResponse(
                pages.error_page("00002", "unknown or finished payment session"), status_code=404
            )
        return HTMLResponse(
            pages.checkout_page(
                session,
                _checkout_path(session_id),
                notice,
                max_attempts=sandbox.config.max_attempts,
            )
        )

    @router.post("/{session_id}")
    async def choose(session_id: str, request: Request) -> Response:
        try:
            form = dict(_read_pairs((await request.body()).decode("ascii", errors="replace")))
            result = await play(sandbox, session_id, _parse_choice(form))
        except HostedPageError as exc:  # an unreadable form: say so instead of failing with 500
            return HTMLResponse(pages.error_page(exc.code, exc.message), status_code=400)
        except OutcomeError as exc:
            session = sandbox.sessions.get(session_id)
            if session is None or session.finished:
                return HTMLResponse(pages.error_page("00002", str(exc)), status_code=409)
            page = pages.checkout_page(
                session,
                _checkout_path(session_id),
                str(exc),
                max_attempts=sandbox.config.max_attempts,
            )
            return HTMLResponse(page, status_code=422)
        if result.return_kind == "retry":
            notice = "Tentative refusée : vous pouvez réessayer."
            page = pages.checkout_page(
                result.session,
                _checkout_path(session_id),
                notice,
                max_attempts=sandbox.config.max_attempts,
            )
            return HTMLResponse(page)
        if result.return_url is not None:
            return RedirectResponse(result.return_url, status_code=303)
        messages = {"accepted": "Paiement accepté", "cancelled": "Paiement annulé"}
        message = messages.get(result.return_kind, "Paiement refusé")
        return HTMLResponse(pages.finished_page(result.return_kind, None, message))

    return router


def create_sandbox_app(config: SandboxConfig, *, http: httpx.AsyncClient | None = None) -> FastAPI:
    """The sandbox. ``http`` sends the IPNs (tests pass one bound to their receiver)."""
    sandbox = Sandbox(config, http=http)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sandbox.keys.private_key(1024)  # create the key at start, not during the first payment
        try:
            yield
        finally:
            await sandbox.aclose()

    app = FastAPI(
        title="Up2pay sandbox",
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.sandbox = sandbox

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> str:
        return pages.index_page(str(request.base_url))

    @app.get("/pubkey.pem")
    async def pubkey() -> Response:
        return Response(sandbox.keys.public_pem(1024), media_type="application/x-pem-file")

    @app.get("/pubkey_RSA_2048.pem")
    async def pubkey_2048() -> Response:
        # Generated on first use (a moment for 2048 bits): off the event loop.
        pem = await asyncio.to_thread(sandbox.keys.public_pem, 2048)
        return Response(pem, media_type="application/x-pem-file")

    for host in HOST_PREFIXES:
        app.include_router(_host_router(sandbox, host))
    app.include_router(_checkout_router(sandbox))
    app.include_router(_api_router(sandbox))
    app.include_router(_pending_router(sandbox))
    return app
