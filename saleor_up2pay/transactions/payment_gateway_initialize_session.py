"""PAYMENT_GATEWAY_INITIALIZE_SESSION: which voucher methods the storefront may offer, for how much.

The answer's ``data`` reaches the storefront verbatim (``gatewayConfigs[].data``), so it holds
nothing secret::

    {"methods": [{"id": "APETIZ", "label": "Apetiz", "kind": "meal_voucher"}, ...],
     "amount": "44.80", "currency": "EUR", "environment": "sandbox", "errors": []}

Up2pay takes meal and holiday vouchers in euros only: any other currency gets no methods and one
error entry (``UNSUPPORTED_CURRENCY``) the storefront can show. A channel mapped to a missing
configuration gets ``APP_NOT_CONFIGURED`` the same way (Saleor would otherwise show the shopper an
opaque "Unable to process a payment gateway response").
"""

from __future__ import annotations

from typing import Any

import structlog

from saleor_up2pay.configuration import ConfigurationRepository, Up2payConfiguration, method_info
from saleor_up2pay.errors import AppError
from saleor_up2pay.saleor.responses import GatewayInitResponse
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.results import ErrorEntry
from saleor_up2pay.transactions.source import PayloadError, SourceObject, to_decimal

log = structlog.get_logger(__name__)

SUPPORTED_CURRENCY = "EUR"


class GatewayInitialize:
    """Lists the methods enabled for the channel of a checkout or order."""

    def __init__(self, configs: ConfigurationRepository) -> None:
        self._configs = configs

    async def execute(self, saleor_api_url: str, payload: dict[str, Any]) -> GatewayInitResponse:
        try:
            source = SourceObject.from_payload(payload)
            amount = to_decimal(payload.get("amount", source.total))
        except PayloadError as exc:
            log.warning("gateway_init.bad_payload", error=str(exc))
            return _answer([], None, None, None, [ErrorEntry("INVALID_PAYLOAD", str(exc))])
        if source.currency != SUPPORTED_CURRENCY:
            error = ErrorEntry(
                "UNSUPPORTED_CURRENCY",
                f"Meal and holiday vouchers can only pay in euros; this "
                f"{source.type.lower()} is in {source.currency}.",
            )
            return _answer([], amount, source.currency, None, [error])
        try:
            config = await self._configs.for_channel(saleor_api_url, source.channel)
        except AppError as exc:
            log.error("gateway_init.not_configured", channel=source.channel)
            error = ErrorEntry("APP_NOT_CONFIGURED", exc.public_message)
            return _answer([], amount, source.currency, None, [error])
        return _answer(_methods(config), amount, source.currency, config.environment, [])


def _methods(config: Up2payConfiguration) -> list[dict[str, str]]:
    methods = []
    for code in config.methods:
        info = method_info(code)
        methods.append({"id": info.code, "label": info.label, "kind": info.kind})
    return methods


def _answer(
    methods: list[dict[str, str]],
    amount: Any,
    currency: str | None,
    environment: str | None,
    errors: list[ErrorEntry],
) -> GatewayInitResponse:
    return GatewayInitResponse(
        data={
            "methods": methods,
            "amount": None if amount is None else str(amount),
            "currency": currency,
            "environment": environment,
            "errors": [e.to_json() for e in errors],
        }
    )


async def handle(services: Services, ctx: WebhookContext) -> GatewayInitResponse:
    """Webhook entry point: answer ``{"data": ...}``."""
    use_case = GatewayInitialize(services.configurations)
    return await use_case.execute(ctx.saleor_api_url, ctx.payload)
