"""TRANSACTION_INITIALIZE_SESSION: start a voucher payment and hand the storefront a signed form.

The storefront calls ``transactionInitialize`` with ``paymentGateway.data`` =
``{"method": "APETIZ", "returnUrl": "https://shop.example/checkout/payment"}``. The app answers
``CHARGE_ACTION_REQUIRED`` (or ``AUTHORIZATION_ACTION_REQUIRED`` when Saleor asks for an
authorization and the configuration does not force charging) with::

    data = {"up2pay": {
        "reference": "<PBX_CMD>", "method": "APETIZ", "flow": "CHARGE",
        "payUrl": "<APP_URL>/api/up2pay/pay/<PBX_CMD>",      # a page that auto-posts the form
        "form": {"action": "<hosted page URL>", "method": "POST",
                 "fields": [["PBX_SITE", "1999888"], ...]}   # in signing order
    }}

``*_ACTION_REQUIRED`` changes no amount in Saleor: the money is counted when the IPN says so.
The session (reference ↔ Saleor instance, transaction item, checkout/order, channel, method,
amount, return URL) is stored with the exact answer; Saleor re-sends this webhook for a repeated
``transactionInitialize`` with the same idempotency key, and gets the same answer back (same
reference, same signed form).

Anything wrong with the request (unknown or disabled method, missing return URL, a non-euro
checkout, no e-mail for ``PBX_PORTEUR``, the payment pages down) is a ``*_FAILURE`` of the
requested flow with ``data.up2pay.errors = [{"code", "message"}]`` — never an HTTP error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog

from saleor_up2pay.activity import ActivityEntry, ActivityLog
from saleor_up2pay.configuration import ConfigurationRepository, Up2payConfiguration
from saleor_up2pay.errors import AppError
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.gateway import Clock, GatewayFactory, app_clock, gateway_factory
from saleor_up2pay.transactions.pending_legs import queue_expiry_reconcile
from saleor_up2pay.transactions.results import (
    ErrorEntry,
    Flow,
    RecordedAnswer,
    SessionActionRequired,
    SessionFailure,
    SessionOutcome,
)
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from saleor_up2pay.transactions.source import (
    PayloadError,
    RequestedAction,
    SourceObject,
    transaction_id,
)
from saleor_up2pay.up2pay import (
    InvalidAmount,
    PlatformUnavailable,
    ReturnUrls,
    UnsupportedCurrency,
    Up2payError,
    build_payment_form,
)
from saleor_up2pay.up2pay.hosted_page import OrderReferences
from saleor_up2pay.up2pay.models import Method

log = structlog.get_logger(__name__)

SUPPORTED_CURRENCY = "EUR"
PAY_PATH = "/api/up2pay/pay/{reference}"
RETURN_PATH = "/api/up2pay/return/{reference}"
IPN_PATH = "/api/up2pay/ipn"
RETURN_OUTCOMES = ("accepted", "refused", "cancelled", "pending")


def pay_url(app_url: str, reference: str) -> str:
    """The app page that auto-posts the signed form of ``reference`` to Up2pay."""
    return app_url.rstrip("/") + PAY_PATH.format(reference=reference)


def return_urls(app_url: str, reference: str) -> ReturnUrls:
    """Browser returns come back to the app (signature checked), IPNs to the IPN endpoint."""
    base = app_url.rstrip("/") + RETURN_PATH.format(reference=reference)
    accepted, refused, cancelled, pending = (f"{base}?outcome={o}" for o in RETURN_OUTCOMES)
    return ReturnUrls(
        accepted=accepted,
        refused=refused,
        cancelled=cancelled,
        pending=pending,
        ipn=app_url.rstrip("/") + IPN_PATH,
    )


class InvalidRequest(Exception):
    """The storefront's request cannot start a payment; carries the error entry to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.entry = ErrorEntry(code, message)


@dataclass(frozen=True)
class StorefrontData:
    """What the storefront sends in ``paymentGateway.data``."""

    method: Method
    return_url: str

    @classmethod
    def parse(cls, data: Any, config: Up2payConfiguration) -> StorefrontData:
        if not isinstance(data, dict):
            msg = 'Send {"method": ..., "returnUrl": ...} as the payment gateway data.'
            raise InvalidRequest("INVALID_DATA", msg)
        raw_method = data.get("method")
        try:
            method = Method(str(raw_method).upper()) if raw_method else None
        except ValueError:
            method = None
        if method is None:
            names = ", ".join(m.value for m in Method)
            msg = f"Unknown payment method {raw_method!r}; use one of {names}."
            raise InvalidRequest("UNKNOWN_METHOD", msg)
        if method.value not in config.methods:
            msg = f"{method.label} is not offered on this channel."
            raise InvalidRequest("METHOD_NOT_ENABLED", msg)
        return_url = data.get("returnUrl")
        parts = urlsplit(return_url) if isinstance(return_url, str) else None
        if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc:
            msg = (
                "returnUrl must be the absolute http(s) URL of the storefront page to come back to."
            )
            raise InvalidRequest("INVALID_RETURN_URL", msg)
        return cls(method=method, return_url=str(return_url))


class InitializeSession:
    """Creates (or replays) the payment session of one Saleor transaction item."""

    def __init__(
        self,
        *,
        sessions: SessionRepository,
        configs: ConfigurationRepository,
        gateways: GatewayFactory,
        references: OrderReferences,
        activity: ActivityLog,
        app_url: str,
        clock: Clock,
        on_created: Callable[[PaymentSession], Awaitable[object]] | None = None,
    ) -> None:
        """``on_created`` runs once per new session (the app queues its expiry reconcile)."""
        self._on_created = on_created
        self._sessions = sessions
        self._configs = configs
        self._gateways = gateways
        self._references = references
        self._activity = activity
        self._app_url = app_url
        self._clock = clock

    async def execute(self, saleor_api_url: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer (a stored one for a repeated idempotency key)."""
        idempotency_key = str(payload.get("idempotencyKey") or "")
        if idempotency_key:
            known = await self._sessions.get_by_idempotency_key(saleor_api_url, idempotency_key)
            if known is not None and known.initialize_response is not None:
                log.info("session.replayed", reference=known.reference)
                return known.initialize_response

        requested: Flow = "CHARGE"
        try:
            action = RequestedAction.from_payload(payload)
            if action.action_type == "AUTHORIZATION":
                requested = "AUTHORIZATION"
            source = SourceObject.from_payload(payload)
            item_id = transaction_id(payload)
        except PayloadError as exc:
            return self._failure(requested, ErrorEntry("INVALID_PAYLOAD", str(exc)))
        try:
            outcome = await self._start(
                saleor_api_url,
                payload,
                idempotency_key=idempotency_key,
                requested=requested,
                action=action,
                source=source,
                item_id=item_id,
            )
        except InvalidRequest as exc:
            log.info("session.refused", code=exc.entry.code, channel=source.channel)
            return self._failure(requested, exc.entry)
        return outcome

    async def _start(
        self,
        saleor_api_url: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str,
        requested: Flow,
        action: RequestedAction,
        source: SourceObject,
        item_id: str,
    ) -> dict[str, Any]:
        if action.currency != SUPPORTED_CURRENCY or source.currency != SUPPORTED_CURRENCY:
            msg = (
                "Meal and holiday vouchers can only pay in euros; this payment is in "
                f"{action.currency}."
            )
            raise InvalidRequest("UNSUPPORTED_CURRENCY", msg)
        try:
            config = await self._configs.for_channel(saleor_api_url, source.channel)
        except AppError as exc:
            raise InvalidRequest("APP_NOT_CONFIGURED", exc.public_message) from exc
        data = StorefrontData.parse(payload.get("data"), config)
        if not source.email:
            msg = "The checkout has no e-mail address; Up2pay needs one to send the receipt."
            raise InvalidRequest("EMAIL_REQUIRED", msg)
        flow: Flow = "CHARGE" if config.capture_mode == "always_charge" else requested

        gateway = self._gateways(config)
        reference = await self._references.new()
        now = self._clock()
        try:
            form = build_payment_form(
                credentials=gateway.credentials,
                action_url=await gateway.action_url(),
                method=data.method,
                amount=action.amount,
                currency=action.currency,
                order_reference=reference,
                customer_email=source.email,
                urls=return_urls(self._app_url, reference),
                now=now,
                authorize_only=flow == "AUTHORIZATION",
            )
        except PlatformUnavailable as exc:
            msg = "The Up2pay payment pages are unavailable right now; please try again shortly."
            raise InvalidRequest("PLATFORM_UNAVAILABLE", msg) from exc
        except UnsupportedCurrency as exc:
            raise InvalidRequest("UNSUPPORTED_CURRENCY", str(exc)) from exc
        except InvalidAmount as exc:
            raise InvalidRequest("INVALID_AMOUNT", str(exc)) from exc
        except Up2payError as exc:
            raise InvalidRequest("INVALID_REQUEST", str(exc)) from exc

        outcome = SessionActionRequired(
            flow=flow,
            amount=action.amount,
            data={
                "up2pay": {
                    "reference": reference,
                    "method": data.method.value,
                    "flow": flow,
                    "payUrl": pay_url(self._app_url, reference),
                    "form": form.to_json(),
                }
            },
            message="Redirect the shopper to the Up2pay payment page.",
        )
        answer = outcome.to_response().dump()
        session = PaymentSession(
            reference=reference,
            saleor_api_url=saleor_api_url,
            transaction_id=item_id,
            source_type=source.type,
            source_id=source.id,
            channel=source.channel,
            method=data.method.value,
            amount=action.amount,
            currency=action.currency,
            action_type=flow,
            return_url=data.return_url,
            config_id=config.id,
            environment=config.environment,
            idempotency_key=idempotency_key or f"transaction:{item_id}",
            created_at=now,
            email=source.email,
            initialize_response=answer,
        )
        stored, created = await self._sessions.create(session)
        if not created and stored.initialize_response is not None:
            # Another delivery of the same request won the race: answer what it answered.
            return stored.initialize_response
        await self._record(session, now)
        if self._on_created is not None:
            await self._on_created(session)
        log.info(
            "session.created",
            reference=reference,
            channel=source.channel,
            method=data.method.value,
            flow=flow,
            amount=str(action.amount),
        )
        return answer

    async def _record(self, session: PaymentSession, now: datetime) -> None:
        await self._activity.record(
            session.saleor_api_url,
            ActivityEntry(
                time=now,
                kind="session",
                channel=session.channel,
                reference=session.reference,
                leg=session.method,
                amount=session.amount,
                currency=session.currency,
                outcome="redirect",
                message=f"{session.action_type} session started",
            ),
        )

    @staticmethod
    def _failure(flow: Flow, entry: ErrorEntry) -> dict[str, Any]:
        outcome: SessionOutcome = SessionFailure(flow=flow, message=entry.message, errors=[entry])
        return outcome.to_response().dump()


def build(services: Services) -> InitializeSession:
    """The use case wired to the app's collaborators."""
    return InitializeSession(
        sessions=SessionRepository(services.redis),
        configs=services.configurations,
        gateways=gateway_factory(services),
        references=OrderReferences(services.redis),
        activity=ActivityLog(services.redis),
        app_url=services.settings.app_url,
        clock=app_clock(services),
        on_created=lambda session: queue_expiry_reconcile(
            services, session.saleor_api_url, session.reference
        ),
    )


async def handle(services: Services, ctx: WebhookContext) -> RecordedAnswer:
    """Webhook entry point: the answer, as stored for the session (replayed on a repeat)."""
    return RecordedAnswer(await build(services).execute(ctx.saleor_api_url, ctx.payload))


__all__ = [
    "InitializeSession",
    "StorefrontData",
    "handle",
    "pay_url",
    "return_urls",
]
