"""A stored payment session as tests need one (no payment page behind it)."""

from __future__ import annotations

from decimal import Decimal

from saleor_up2pay.transactions.sessions import PaymentSession


def session_of(saleor_api_url: str, reference: str) -> PaymentSession:
    """A voucher session of 20.00 EUR on ``channel-eur`` for ``reference``."""
    return PaymentSession(
        reference=reference,
        saleor_api_url=saleor_api_url,
        transaction_id="VHJhbnNhY3Rpb25JdGVtOjE=",
        source_type="Checkout",
        source_id="Q2hlY2tvdXQ6MQ==",
        channel="channel-eur",
        method="APETIZ",
        amount=Decimal("20.00"),
        currency="EUR",
        action_type="CHARGE",
        return_url="https://shop.example/checkout",
        config_id="default",
        environment="sandbox",
        idempotency_key="2de1b1d8-2a90-41f0-b38a-533bf96730a2",
    )
