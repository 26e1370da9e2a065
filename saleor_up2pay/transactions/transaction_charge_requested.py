"""TRANSACTION_CHARGE_REQUESTED: capture an authorized Up2pay leg (see :mod:`.actions`)."""

from __future__ import annotations

from typing import Any

from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.transactions.actions import handle_charge


async def handle(ctx: WebhookContext) -> dict[str, Any]:
    """Webhook entry point: GAE capture with the leg's ACQUEREUR, answered as a result."""
    return await handle_charge(ctx)
