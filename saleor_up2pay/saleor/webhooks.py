"""Authenticating a webhook request from Saleor, and the context handed to its use case.

:func:`verify_request` runs the checks in the app-sdk's order and stops at the first failure:
POST (the router only accepts POST) → ``Saleor-Api-Url`` present and installed → ``Saleor-Event``
is the definition's event → ``Saleor-Signature`` present → signature valid over the raw body →
JSON object (parsed with ``Decimal``) → ``recipient.id`` is this installation's app id.
Nothing in the body is looked at before the signature verified.

The installation is read through :meth:`~saleor_up2pay.saleor.apl.AuthStore.get_cached` (a few
seconds in memory): a signature failure drops the entry, and a ``recipient.id`` that differs
from the cached app id is checked again against Redis (a re-installation in another process)
before the delivery is refused. Every refusal is an
:class:`~saleor_up2pay.errors.AppError` (JSON body, public code) plus one log line with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import httpx
import structlog

from saleor_up2pay import jsonbody
from saleor_up2pay.errors import AppError, BadRequest, Forbidden, Unauthorized
from saleor_up2pay.saleor.apl import AuthData, AuthStore
from saleor_up2pay.saleor.client import SaleorClient
from saleor_up2pay.saleor.definitions import WebhookDefinition
from saleor_up2pay.saleor.ids import SaleorApiUrl
from saleor_up2pay.saleor.signature import JwksVerifier, SignatureInvalid

log = structlog.get_logger(__name__)


class MissingSaleorApiUrl(Unauthorized):
    public_code = "MISSING_SALEOR_API_URL"


class NotRegistered(Unauthorized):
    public_code = "NOT_REGISTERED"


class WrongEvent(BadRequest):
    public_code = "WRONG_EVENT"


class MissingSignature(Unauthorized):
    public_code = "MISSING_SIGNATURE"


class SignatureVerificationFailed(Unauthorized):
    public_code = "SIGNATURE_VERIFICATION_FAILED"


class InvalidPayload(BadRequest):
    public_code = "INVALID_PAYLOAD"


class WrongRecipient(Forbidden):
    public_code = "WRONG_RECIPIENT"


class HandlerMissing(AppError):
    status_code = 500
    public_code = "HANDLER_MISSING"


class WebhookAnswer(Protocol):
    """What a use case returns: an outcome value the route renders as the JSON answer."""

    def dump(self) -> dict[str, Any]: ...


class SaleorServices(Protocol):
    """What verifying a delivery needs from the app (the app's ``Services`` has it)."""

    @property
    def http(self) -> httpx.AsyncClient: ...

    @property
    def auth_store(self) -> AuthStore: ...

    @property
    def jwks_verifier(self) -> JwksVerifier: ...


@dataclass
class WebhookContext:
    """A verified webhook: what Saleor sent and who sent it (the use case gets the app's
    services beside it, see :data:`saleor_up2pay.api.saleor_webhooks.WebhookHandler`)."""

    auth: AuthData
    event: str
    """Enum name of the event, e.g. ``TRANSACTION_INITIALIZE_SESSION``."""
    payload: dict[str, Any]
    """The subscription's ``event`` object, numbers with a fraction as ``Decimal``."""
    raw_body: bytes
    errors: list[Any] | None
    """Top-level ``errors`` Saleor added for fields it could not resolve (payload still valid)."""
    client: SaleorClient
    """GraphQL client for this instance, with its app token."""

    @property
    def saleor_api_url(self) -> SaleorApiUrl:
        return SaleorApiUrl(self.auth.saleor_api_url)


def _refuse(error: AppError, reason: str, **context: object) -> AppError:
    log.warning("saleor.webhook_rejected", code=error.public_code, reason=reason, **context)
    return error


async def verify_request(
    services: SaleorServices,
    definition: WebhookDefinition,
    headers: Mapping[str, str],
    raw_body: bytes,
) -> WebhookContext:
    """Authenticate one delivery for ``definition``; raises an ``AppError`` on any failure."""
    saleor_api_url = headers.get("saleor-api-url")
    where = {"path": definition.path, "saleor_api_url": saleor_api_url}
    if not saleor_api_url:
        raise _refuse(
            MissingSaleorApiUrl("Missing Saleor-Api-Url header."), "no Saleor-Api-Url", **where
        )
    auth = await services.auth_store.get_cached(saleor_api_url)
    if auth is None:
        raise _refuse(
            NotRegistered("This Saleor instance has not installed the app."),
            "Saleor-Api-Url not installed",
            **where,
        )
    event = headers.get("saleor-event", "")
    if event != definition.header_event:
        raise _refuse(
            WrongEvent(f"This endpoint only accepts {definition.header_event}."),
            f"Saleor-Event is {event!r}",
            **where,
        )
    signature = headers.get("saleor-signature")
    if not signature:
        raise _refuse(MissingSignature("Missing Saleor-Signature header."), "no signature", **where)
    try:
        await services.jwks_verifier.verify_webhook(auth, signature, raw_body)
    except SignatureInvalid as exc:
        services.auth_store.forget(saleor_api_url)
        raise _refuse(
            SignatureVerificationFailed("Request signature could not be verified."),
            str(exc),
            **where,
        ) from None
    try:
        payload = jsonbody.loads(raw_body, parse_float=Decimal)  # ValueError when too deep
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise _refuse(InvalidPayload("Body is not a JSON object."), "not a JSON object", **where)
    errors = payload.pop("errors", None)
    recipient = payload.get("recipient")
    recipient_id = recipient.get("id") if isinstance(recipient, dict) else None
    if recipient_id != auth.app_id:
        # The cached installation may predate a re-installation (new app id): ask Redis.
        services.auth_store.forget(saleor_api_url)
        fresh = await services.auth_store.get_cached(saleor_api_url)
        if fresh is not None and fresh.app_id == recipient_id:
            auth = fresh
    if recipient_id != auth.app_id:
        raise _refuse(
            WrongRecipient("This webhook is addressed to another app."),
            f"recipient.id {recipient_id!r} is not {auth.app_id!r}",
            **where,
        )
    return WebhookContext(
        auth=auth,
        event=definition.event,
        payload=payload,
        raw_body=raw_body,
        errors=errors if isinstance(errors, list) else None,
        client=SaleorClient(services.http, auth.saleor_api_url, auth.token),
    )
