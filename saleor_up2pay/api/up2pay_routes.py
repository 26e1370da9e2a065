"""Routes Up2pay and the shopper's browser reach: the pay page, browser returns (and the IPN).

``GET /api/up2pay/pay/{reference}`` — an HTML page that posts the session's signed form to the
Up2pay hosted page at once (a script allowed by a per-response CSP nonce, and a button inside
``<noscript>``). It serves the exact form stored at TRANSACTION_INITIALIZE_SESSION.

``GET /api/up2pay/return/{reference}`` — where Up2pay sends the browser back (``PBX_EFFECTUE`` and
the others, each with our ``outcome`` parameter). The signature covers the whole query string,
our own leading parameters included (protocol §3.3). The app records the verified outcome as a
hint for TRANSACTION_PROCESS_SESSION, keeps the return's signed S, T, M, C, E and queues a
reconcile of the payment (in case its IPN is lost, :mod:`saleor_up2pay.transactions.reconcile`),
and answers 303 to the storefront's ``returnUrl`` with
``transaction`` (the Saleor transaction item id) and ``outcome`` (``accepted``, ``refused``,
``cancelled``, ``pending``, or ``unknown`` when the return could not be verified). Nothing is
ever settled from a browser return: the storefront then calls ``transactionProcess``, which
reports what the IPN said.

``GET|POST /api/up2pay/ipn`` — Up2pay's IPN, a plain ASGI endpoint (:class:`IpnEndpoint`)
installed ahead of the router by :func:`install_ipn`.
"""

from __future__ import annotations

import html
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from redis.exceptions import RedisClusterException, RedisError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from saleor_up2pay.api.asgi import read_body, route_path
from saleor_up2pay.errors import RETRY_AFTER_SECONDS, AppError, PayloadTooLarge
from saleor_up2pay.log import quiet_access_log
from saleor_up2pay.metrics import IPNS
from saleor_up2pay.redis_store import ReplicaAckMissing
from saleor_up2pay.services import Services, ServicesDep
from saleor_up2pay.transactions.ipn_received import LEFT_THE_PAGE, receive_ipn, wake_held_refusals
from saleor_up2pay.transactions.reconcile import keep_returned_leg
from saleor_up2pay.transactions.sessions import REFERENCE_PATTERN, SessionRepository
from saleor_up2pay.transactions.transaction_initialize_session import RETURN_OUTCOMES
from saleor_up2pay.up2pay import MalformedMessage, SignatureInvalid
from saleor_up2pay.up2pay.notifications import Notification, verify_return

log = structlog.get_logger(__name__)

router = APIRouter()

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _page(
    title: str, body: str, *, status_code: int, nonce: str, form_origin: str = ""
) -> Response:
    form_action = form_origin or "'none'"
    csp = (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        f"form-action {form_action}; base-uri 'none'; frame-ancestors 'none'"
    )
    document = f"""<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style nonce="{nonce}">
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem;
  color: #1f2933; text-align: center; }}
button {{ font-size: 1rem; padding: .6rem 1.4rem; cursor: pointer; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
    headers = {**_SECURITY_HEADERS, "Content-Security-Policy": csp}
    return HTMLResponse(document, status_code=status_code, headers=headers)


def _not_found(nonce: str) -> Response:
    body = (
        "<h1>Paiement introuvable</h1>"
        "<p>Ce lien de paiement n'existe pas ou a expiré. / This payment link is unknown or "
        "expired.</p>"
    )
    return _page("Paiement introuvable", body, status_code=404, nonce=nonce)


@router.get("/api/up2pay/pay/{reference}")
async def pay_page(reference: str, services: ServicesDep) -> Response:
    """Auto-post the session's signed form to the Up2pay payment page."""
    nonce = secrets.token_urlsafe(16)
    if not REFERENCE_PATTERN.fullmatch(reference):
        return _not_found(nonce)
    session = await SessionRepository(services.redis).get_by_reference(reference)
    answer = session.initialize_response if session else None
    form = ((answer or {}).get("data") or {}).get("up2pay", {}).get("form")
    if not isinstance(form, dict) or not isinstance(form.get("action"), str):
        return _not_found(nonce)
    action = str(form["action"])
    inputs = "\n".join(
        f'<input type="hidden" name="{html.escape(str(name))}" value="{html.escape(str(value))}">'
        for name, value in form.get("fields") or []
    )
    body = f"""<h1>Redirection vers le paiement…</h1>
<p>Vous allez être redirigé vers la page de paiement sécurisée Up2pay e-Transactions.</p>
<form id="up2pay-form" method="post" action="{html.escape(action)}">
{inputs}
<noscript><button type="submit">Continuer vers le paiement / Continue to payment</button></noscript>
</form>
<script nonce="{nonce}">document.getElementById("up2pay-form").submit();</script>"""
    return _page("Paiement Up2pay", body, status_code=200, nonce=nonce, form_origin=_origin(action))


def _verified(raw: str, services: ServicesDep) -> Notification | None:
    store = services.ipn_keys
    for refresh in (False, True):
        try:
            return verify_return(raw, store.keys(refresh=refresh))
        except SignatureInvalid:
            continue
        except MalformedMessage:
            return None
    return None


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in extra]
    query += list(extra.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@router.get("/api/up2pay/return/{reference}")
async def browser_return(reference: str, request: Request, services: ServicesDep) -> Response:
    """Verify the browser return, then send the shopper back to the storefront (303)."""
    nonce = secrets.token_urlsafe(16)
    if not REFERENCE_PATTERN.fullmatch(reference):
        return _not_found(nonce)
    sessions = SessionRepository(services.redis)
    session = await sessions.get_by_reference(reference)
    if session is None:
        log.warning("return.unknown_reference", reference=reference)
        return _not_found(nonce)
    # The exact bytes received: the signature covers the query string as transmitted.
    raw = request.scope.get("query_string", b"").decode("latin-1")
    notification = _verified(raw, services) if raw else None
    outcome = "unknown"
    if notification is None:
        log.warning("return.signature_invalid", reference=reference)
    elif notification.reference != reference:
        log.warning("return.reference_mismatch", reference=reference, signed=notification.reference)
    else:
        ours = dict(notification.params).get("outcome")
        outcome = ours if ours in RETURN_OUTCOMES else "unknown"
        await sessions.record_return(session.saleor_api_url, reference, outcome)
        await keep_returned_leg(services, session, notification)
        if outcome in LEFT_THE_PAGE:
            # The shopper left the payment page: refusals held back can be reported now.
            await wake_held_refusals(services, session.saleor_api_url, reference)
        log.info("return.verified", reference=reference, outcome=outcome)
    target = _with_query(
        session.return_url, {"transaction": session.transaction_id, "outcome": outcome}
    )
    return RedirectResponse(target, status_code=303, headers=_SECURITY_HEADERS)


# --- IPN (server to server; see saleor_up2pay.transactions.ipn_received) ----------------------


IPN_PATH = "/api/up2pay/ipn"
_IPN_METHODS = ("GET", "POST")


class IpnEndpoint:
    """Up2pay's IPN as a plain ASGI endpoint, ahead of FastAPI's router (see :func:`install_ipn`).

    Verified on the raw bytes, persisted, answered with an empty 200 at once. GET carries the
    variables in the query string; POST (``PBX_RUF1=POST``) in the body. A bad signature is 403
    and changes nothing; when the app's Redis is unavailable the IPN is not stored and gets 503
    with ``Retry-After``, so Up2pay retries it. Saleor is told later by the job queue. A body
    over the route's limit is 413 (:mod:`saleor_up2pay.api.limits`, the middleware around this
    one); a client that hangs up while its body is read sent nothing: logged at INFO, nothing
    stored. Any other method is 405.

    **One log line per request**, written once the answer is sent: ``method``, ``path`` (never
    the query string, which holds the IPN), ``status`` (HTTP), ``duration_ms``, ``outcome``
    (the receipt: ``accepted``, ``duplicate``, ``upgraded``, ``unknown_reference``, ``kept``; or
    why it was refused) and, for a verified IPN, ``reference``, ``numtrans``, ``leg``,
    ``error_code``, ``leg_status`` and ``amount``. Its event is ``ipn.received`` (or
    ``ipn.duplicate``) at INFO, or the refusal's (``ipn.signature_invalid``...) at its level;
    uvicorn's access line is off for this path (:func:`install_ipn`).

    No FastAPI routing, dependency solving or pydantic on this path: it is the app's hottest
    (``make bench``, issue 12), and each of those cost more than the IPN's own work.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) != IPN_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        status, level, event, fields = await _handle(scope, receive, send, method)
        level(
            event,
            method=method,
            path=scope["path"],
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            **fields,
        )


_Logged = tuple[int, Any, str, dict[str, Any]]
"""What one IPN request was: HTTP status, log method, event, fields (the answer is sent)."""


async def _handle(scope: Scope, receive: Receive, send: Send, method: str) -> _Logged:
    if method not in _IPN_METHODS:
        await _answer(send, 405, [(b"allow", b"GET, POST")])
        return 405, log.info, "ipn.method_not_allowed", {"outcome": "method_not_allowed"}
    raw = b""
    if method == "POST":
        try:
            raw = await read_body(receive)
        except ClientDisconnect:
            await _answer(send, 400)  # nobody is listening; nothing was received
            return 400, log.info, "ipn.client_disconnected", {"outcome": "client_disconnected"}
        except PayloadTooLarge as exc:
            await _answer_error(send, exc)
            fields = {"outcome": "too_large", "code": exc.public_code}
            return exc.status_code, log.warning, "app_error", fields
    if not raw:
        raw = scope.get("query_string", b"")
    services: Services = scope["app"].state.services
    status, level, event, fields = await _receive(services, raw)
    await _answer(send, status)
    return status, level, event, fields


async def _receive(services: Services, raw: bytes) -> _Logged:
    """The IPN's status code and log line (sent by the caller)."""
    try:
        receipt = await receive_ipn(services, raw)
    except SignatureInvalid:
        IPNS.labels("signature_invalid").inc()
        fields: dict[str, Any] = {"outcome": "signature_invalid", "size": len(raw)}
        return 403, log.warning, "ipn.signature_invalid", fields
    except MalformedMessage as exc:
        IPNS.labels("malformed").inc()
        return 400, log.warning, "ipn.malformed", {"outcome": "malformed", "reason": str(exc)}
    except ReplicaAckMissing as exc:
        IPNS.labels("replica_unacknowledged").inc()
        # Stored on the primary only: not acknowledged, so that a failover cannot lose an IPN
        # Up2pay was told it delivered. Sent again, it is a duplicate the intake recognises.
        fields = {"outcome": "replica_unacknowledged", "error": str(exc)}
        return 503, log.error, "ipn.replica_unacknowledged", fields
    except (RedisError, RedisClusterException) as exc:
        # RedisClusterException (no slot owner known yet, e.g. just after a failover) is not a
        # RedisError: without it here the IPN would get a 500 instead of a 503 with Retry-After.
        IPNS.labels("store_unavailable").inc()
        # Not stored, so not acknowledged: Up2pay sends the IPN again later. What was written
        # before the failure is safe to repeat (the job is queued atomically, the leg with NX).
        fields = {"outcome": "store_unavailable", "error": type(exc).__name__}
        return 503, log.error, "ipn.store_unavailable", fields
    IPNS.labels(receipt.status).inc()
    event = "ipn.duplicate" if receipt.status == "duplicate" else "ipn.received"
    fields = {
        "outcome": receipt.status,
        "reference": receipt.reference,
        "numtrans": receipt.numtrans,
        "leg": receipt.leg.value,
        "error_code": receipt.error_code,
        "leg_status": receipt.leg_status,
        "amount": receipt.amount,
    }
    return 200, log.info, event, fields


_EMPTY = [(b"content-length", b"0")]
_RETRY_AFTER = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())


async def _answer(
    send: Send, status: int, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    if status == 503:
        headers = [*(headers or []), _RETRY_AFTER]
    await send(
        {"type": "http.response.start", "status": status, "headers": [*_EMPTY, *(headers or [])]}
    )
    await send({"type": "http.response.body", "body": b""})


async def _answer_error(send: Send, exc: AppError) -> None:
    body = json.dumps(exc.to_json()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_ipn(app: FastAPI) -> None:
    """Add :class:`IpnEndpoint` as a middleware; call it before ``install_limits`` so the body
    limit (and ``nosniff``) wrap it. Uvicorn's access line is turned off for the IPN path in
    this process (the endpoint writes its own line; every other path keeps its access line)."""
    app.add_middleware(IpnEndpoint)
    quiet_access_log(IPN_PATH)
