"""PAYMENT_GATEWAY_INITIALIZE_SESSION: which voucher methods the storefront may offer, for how much.

The answer's ``data`` reaches the storefront verbatim (``gatewayConfigs[].data``), so it holds
nothing secret::

    {"methods": [{"id": "APETIZ", "label": "Bimpli (Apetiz)", "kind": "meal_voucher",
                  "eligibleAmount": "30.00",
                  "reason": {"code": "PARTLY_ELIGIBLE", "message": "..."},
                  "limits": {"dailyCap": "25.00", "minimum": null, "notes": ["..."]}}, ...],
     "amount": "44.80", "currency": "EUR", "environment": "sandbox", "errors": []}

``eligibleAmount`` is what the method may pay of ``amount`` for this checkout: a meal voucher
pays the eligible products only, never shipping (``saleor_up2pay.transactions.eligibility``);
``reason`` says why it is lower than ``amount`` (or zero), ``limits`` what the issuer enforces
(the daily cap) and the configured minimum, in the shopper's language (the checkout's
``languageCode``: ``EN*`` gives English, anything else French).

Up2pay takes meal and holiday vouchers in euros only: any other currency gets no methods and one
error entry (``UNSUPPORTED_CURRENCY``) the storefront can show. A channel mapped to a missing
configuration gets ``APP_NOT_CONFIGURED`` the same way (Saleor would otherwise show the shopper an
opaque "Unable to process a payment gateway response").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog

from saleor_up2pay.configuration import ConfigurationRepository, Up2payConfiguration, method_info
from saleor_up2pay.errors import AppError
from saleor_up2pay.saleor.payloads import PayloadError, PaymentGatewayInitializeSession
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.eligibility import Eligibility, eligibility
from saleor_up2pay.transactions.results import ErrorEntry

log = structlog.get_logger(__name__)

SUPPORTED_CURRENCY = "EUR"


@dataclass(frozen=True)
class GatewayMethods:
    """The outcome: the methods offered (each with what it may pay), or errors to show."""

    offers: tuple[Eligibility, ...] = ()
    amount: Decimal | None = None
    currency: str | None = None
    environment: str | None = None
    errors: tuple[ErrorEntry, ...] = field(default=())

    def dump(self) -> dict[str, Any]:
        methods = []
        for offer in self.offers:
            info = method_info(offer.method)
            methods.append(
                {"id": info.code, "label": info.label, "kind": info.kind, **offer.to_json()}
            )
        return {
            "data": {
                "methods": methods,
                "amount": None if self.amount is None else str(self.amount),
                "currency": self.currency,
                "environment": self.environment,
                "errors": [e.to_json() for e in self.errors],
            }
        }


class GatewayInitialize:
    """Lists the methods enabled for the channel of a checkout or order."""

    def __init__(self, configs: ConfigurationRepository) -> None:
        self._configs = configs

    async def execute(self, saleor_api_url: str, payload: dict[str, Any]) -> GatewayMethods:
        try:
            event = PaymentGatewayInitializeSession.parse(payload)
        except PayloadError as exc:
            log.warning("gateway_init.bad_payload", error=str(exc))
            return GatewayMethods(errors=(ErrorEntry("INVALID_PAYLOAD", str(exc)),))
        source = event.source_object
        amount = event.amount if event.amount is not None else source.total
        if source.currency != SUPPORTED_CURRENCY:
            error = ErrorEntry(
                "UNSUPPORTED_CURRENCY",
                f"Meal and holiday vouchers can only pay in euros; this "
                f"{source.typename.lower()} is in {source.currency}.",
            )
            return GatewayMethods(amount=amount, currency=source.currency, errors=(error,))
        try:
            config = await self._configs.for_channel(
                saleor_api_url, source.channel.slug, cached=True
            )
        except AppError as exc:
            log.error("gateway_init.not_configured", channel=source.channel.slug)
            error = ErrorEntry("APP_NOT_CONFIGURED", exc.public_message)
            return GatewayMethods(amount=amount, currency=source.currency, errors=(error,))
        return GatewayMethods(
            offers=_offers(event, config, amount),
            amount=amount,
            currency=source.currency,
            environment=config.environment,
        )


def _offers(
    event: PaymentGatewayInitializeSession, config: Up2payConfiguration, amount: Decimal
) -> tuple[Eligibility, ...]:
    return tuple(eligibility(event.source_object, config, code, amount) for code in config.methods)


async def handle(services: Services, ctx: WebhookContext) -> GatewayMethods:
    """Webhook entry point: answer ``{"data": ...}``."""
    use_case = GatewayInitialize(services.configurations)
    return await use_case.execute(ctx.saleor_api_url, ctx.payload)
