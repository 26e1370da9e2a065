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

Two rules protect the merchant and the shopper:

- **Eligible amount** (issue 14): a meal voucher may pay the eligible products only, never
  shipping. An amount above what ``PAYMENT_GATEWAY_INITIALIZE_SESSION`` offered as
  ``eligibleAmount`` is refused with ``AMOUNT_ABOVE_ELIGIBLE``, one below the configured minimum
  with ``AMOUNT_BELOW_MINIMUM``; ``data.up2pay`` then also holds ``code`` and
  ``eligibleAmount``. The storefront initializes the voucher for the eligible amount and pays
  the rest with another gateway.
- **Return URL origins** (issue 11 point 5): ``returnUrl`` must be on one of the configuration's
  storefront origins (``RETURN_URL_NOT_ALLOWED`` otherwise). With none set, only the origin of
  ``APP_URL`` and ``localhost``/``127.0.0.1`` are allowed, and only in the sandbox environment;
  a test or live configuration without origins refuses every session until they are set.

A created session costs three Redis round trips: the ``PBX_CMD`` reservation, one script for
the idempotency claim, the session, its indexes and the activity line
(:meth:`~saleor_up2pay.transactions.sessions.SessionRepository.create`), and the expiry
reconcile job. The installation and the channel's configuration come from short in-process
caches (a configuration saved elsewhere applies to new sessions within
:data:`~saleor_up2pay.configuration.repository.CONFIG_CACHE_SECONDS`). A repeated request is
recognised by that script (or, when the request would now be refused, by a lookup of its
idempotency key), so a repeat always gets the first answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import structlog

from saleor_up2pay.activity import ActivityEntry
from saleor_up2pay.configuration import ConfigurationRepository, Up2payConfiguration
from saleor_up2pay.errors import AppError
from saleor_up2pay.saleor.payloads import PayloadError, SessionSource, TransactionInitializeSession
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.eligibility import Eligibility, eligibility, money
from saleor_up2pay.transactions.gateway import Clock, GatewayFactory, app_clock, gateway_factory
from saleor_up2pay.transactions.pending_legs import queue_expiry_reconcile
from saleor_up2pay.transactions.results import (
    ErrorEntry,
    Flow,
    RecordedAnswer,
    SessionActionRequired,
    SessionFailure,
)
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from saleor_up2pay.up2pay import (
    InvalidAmount,
    PlatformUnavailable,
    ReturnUrls,
    UnsupportedCurrency,
    Up2payError,
    build_payment_form,
)
from saleor_up2pay.up2pay.hosted_page import BillingAddress, OrderReferences
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

    def __init__(self, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.entry = ErrorEntry(code, message)
        self.extra = extra or {}


LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def allowed_return_url(url: str, config: Up2payConfiguration, app_url: str) -> bool:
    """Whether ``url`` is on a storefront origin of ``config`` (see the module docstring)."""
    if config.storefront_origins:
        return _origin(url) in config.storefront_origins
    if config.environment != "sandbox":
        return False
    return _origin(url) == _origin(app_url) or urlsplit(url).hostname in LOCAL_HOSTS


@dataclass(frozen=True)
class StorefrontData:
    """What the storefront sends in ``paymentGateway.data``."""

    method: Method
    return_url: str

    @classmethod
    def parse(cls, data: Any, config: Up2payConfiguration, app_url: str) -> StorefrontData:
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
        if not allowed_return_url(str(return_url), config, app_url):
            if config.storefront_origins:
                msg = (
                    f"returnUrl must be on one of this channel's storefront origins "
                    f"({', '.join(config.storefront_origins)}); add "
                    f"{_origin(str(return_url))} under Storefront origins in the app's "
                    "configuration page if it is yours."
                )
            else:
                msg = (
                    "This channel's Up2pay configuration has no storefront origins: set them in "
                    "the app's configuration page (Storefront origins; UP2PAY_STOREFRONT_ORIGINS "
                    "for the default configuration) so returnUrl can be checked."
                )
            raise InvalidRequest("RETURN_URL_NOT_ALLOWED", msg)
        return cls(method=method, return_url=str(return_url))


InitializeOutcome = SessionActionRequired | SessionFailure | RecordedAnswer
"""A new session (``*_ACTION_REQUIRED``), a refusal, or the stored answer of a repeated request."""


class InitializeSession:
    """Creates (or replays) the payment session of one Saleor transaction item."""

    def __init__(
        self,
        *,
        sessions: SessionRepository,
        configs: ConfigurationRepository,
        gateways: GatewayFactory,
        references: OrderReferences,
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
        self._app_url = app_url
        self._clock = clock

    async def execute(self, saleor_api_url: str, payload: dict[str, Any]) -> InitializeOutcome:
        """The outcome (the stored answer, as is, for a repeated idempotency key)."""
        action = payload.get("action")
        requested: Flow = (
            "AUTHORIZATION"
            if isinstance(action, dict) and action.get("actionType") == "AUTHORIZATION"
            else "CHARGE"
        )
        try:
            event = TransactionInitializeSession.parse(payload)
        except PayloadError as exc:
            refusal = _failure(requested, ErrorEntry("INVALID_PAYLOAD", str(exc)))
            return await self._replayed(saleor_api_url, payload) or refusal
        try:
            return await self._start(saleor_api_url, event, requested=requested)
        except InvalidRequest as exc:
            # What changed since (configuration, platform) must not change a repeat's answer.
            replayed = await self._replayed(saleor_api_url, payload)
            if replayed is not None:
                return replayed
            log.info(
                "session.refused", code=exc.entry.code, channel=event.source_object.channel.slug
            )
            return _failure(requested, exc.entry, exc.extra)

    async def _replayed(
        self, saleor_api_url: str, payload: dict[str, Any]
    ) -> RecordedAnswer | None:
        """The stored answer of an earlier request with this idempotency key, if any."""
        raw_key = payload.get("idempotencyKey")
        if not isinstance(raw_key, str) or not raw_key:
            return None
        known = await self._sessions.get_by_idempotency_key(saleor_api_url, raw_key)
        if known is None or known.initialize_response is None:
            return None
        log.info("session.replayed", reference=known.reference)
        return RecordedAnswer(known.initialize_response)

    async def _start(
        self, saleor_api_url: str, event: TransactionInitializeSession, *, requested: Flow
    ) -> InitializeOutcome:
        action, source = event.action, event.source_object
        if action.currency != SUPPORTED_CURRENCY or source.currency != SUPPORTED_CURRENCY:
            msg = (
                "Meal and holiday vouchers can only pay in euros; this payment is in "
                f"{action.currency}."
            )
            raise InvalidRequest("UNSUPPORTED_CURRENCY", msg)
        try:
            config = await self._configs.for_channel(
                saleor_api_url, source.channel.slug, cached=True
            )
        except AppError as exc:
            raise InvalidRequest("APP_NOT_CONFIGURED", exc.public_message) from exc
        data = StorefrontData.parse(event.data, config, self._app_url)
        if not source.email:
            msg = "The checkout has no e-mail address; Up2pay needs one to send the receipt."
            raise InvalidRequest("EMAIL_REQUIRED", msg)
        offer = eligibility(source, config, data.method.value, source.total)
        refusal = offer.refusal(action.amount)
        if refusal is not None:
            extra = {"code": refusal.code, "eligibleAmount": money(offer.eligible)}
            if offer.minimum is not None:
                extra["minimum"] = money(offer.minimum)
            raise InvalidRequest(refusal.code, refusal.message, extra)
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
                shopping_cart=shopping_cart(source),
                billing=billing_address(source),
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
                    "eligibleAmount": money(offer.eligible),
                    "payUrl": pay_url(self._app_url, reference),
                    "form": form.to_json(),
                }
            },
            message=_redirect_message(offer, action.amount),
        )
        answer = outcome.dump()
        item_id = event.transaction.id
        session = PaymentSession(
            reference=reference,
            saleor_api_url=saleor_api_url,
            transaction_id=item_id,
            source_type=source.typename,
            source_id=source.id,
            channel=source.channel.slug,
            method=data.method.value,
            amount=action.amount,
            currency=action.currency,
            action_type=flow,
            return_url=data.return_url,
            config_id=config.id,
            environment=config.environment,
            idempotency_key=event.idempotency_key or f"transaction:{item_id}",
            created_at=now,
            email=source.email,
            initialize_response=answer,
        )
        stored, created = await self._sessions.create(session, activity=_activity(session, offer))
        if not created:
            # A repeat (or another delivery of the same request won the race): answer what the
            # first one answered. The reference reserved for this one stays unused.
            if stored.initialize_response is not None:
                log.info("session.replayed", reference=stored.reference)
                return RecordedAnswer(stored.initialize_response)
            return outcome
        if self._on_created is not None:
            await self._on_created(session)
        log.info(
            "session.created",
            reference=reference,
            channel=source.channel.slug,
            method=data.method.value,
            flow=flow,
            amount=str(action.amount),
            eligible=money(offer.eligible),
        )
        return outcome


def _activity(session: PaymentSession, offer: Eligibility) -> ActivityEntry:
    """The activity line of a new session (written with it, in the same script)."""
    return ActivityEntry(
        time=session.created_at,
        kind="session",
        channel=session.channel,
        reference=session.reference,
        leg=session.method,
        amount=session.amount,
        currency=session.currency,
        outcome="redirect",
        message=f"{session.action_type} session started "
        f"(eligible amount {money(offer.eligible)} of {money(offer.asked)})",
    )


def _redirect_message(offer: Eligibility, amount: Decimal) -> str:
    return (
        f"Redirect the shopper to the Up2pay payment page ({money(amount)} EUR; eligible "
        f"amount {money(offer.eligible)} of {money(offer.asked)})."
    )


def _failure(flow: Flow, entry: ErrorEntry, extra: dict[str, Any] | None = None) -> SessionFailure:
    return SessionFailure(flow=flow, message=entry.message, errors=[entry], extra=extra or {})


def shopping_cart(source: SessionSource) -> int:
    """``PBX_SHOPPINGCART``'s total quantity: the lines' quantities, kept within 1–99."""
    return max(1, min(99, sum(line.quantity for line in source.lines)))


def billing_address(source: SessionSource) -> BillingAddress | None:
    """``PBX_BILLING`` from the checkout's billing address (None when it has none)."""
    address = source.billing_address
    if address is None:
        return None
    return BillingAddress(
        first_name=address.first_name,
        last_name=address.last_name,
        address1=address.street_address_1,
        address2=address.street_address_2,
        zip_code=address.postal_code,
        city=address.city,
        country=address.country.code,
        phone=address.phone or "",
    )


def build(services: Services) -> InitializeSession:
    """The use case wired to the app's collaborators."""
    return InitializeSession(
        sessions=SessionRepository(services.redis),
        configs=services.configurations,
        gateways=gateway_factory(services),
        references=OrderReferences(services.redis),
        app_url=services.settings.app_url,
        clock=app_clock(services),
        on_created=lambda session: queue_expiry_reconcile(
            services, session.saleor_api_url, session.reference
        ),
    )


async def handle(services: Services, ctx: WebhookContext) -> InitializeOutcome:
    """Webhook entry point: the outcome (the stored answer on a repeat), rendered by the route."""
    return await build(services).execute(ctx.saleor_api_url, ctx.payload)


__all__ = [
    "InitializeOutcome",
    "InitializeSession",
    "StorefrontData",
    "handle",
    "pay_url",
    "return_urls",
]
