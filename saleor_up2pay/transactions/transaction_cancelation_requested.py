"""TRANSACTION_CANCELATION_REQUESTED: void the card complement (see :mod:`.actions`)."""

from __future__ import annotations

from typing import Any

from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.transactions.actions import handle_cancel


async def handle(ctx: WebhookContext) -> dict[str, Any]:
    """Webhook entry point: GAE cancel for LIMOCB; a voucher leg gets CANCEL_FAILURE."""
    return await handle_cancel(ctx)
