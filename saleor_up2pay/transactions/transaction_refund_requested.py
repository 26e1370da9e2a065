"""TRANSACTION_REFUND_REQUESTED: refund one Up2pay leg, now or from D+1 (see :mod:`.refunds`)."""

from __future__ import annotations

from typing import Any

from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.transactions.refunds import handle_refund


async def handle(ctx: WebhookContext) -> dict[str, Any]:
    """Webhook entry point: GAE refund, or a pending refund executed the day after the payment."""
    return await handle_refund(ctx)
