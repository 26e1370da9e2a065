"""APP_DELETED: the app was uninstalled from a Saleor instance; forget everything about it.

Only that instance's data goes: every key under its ``instance_key`` prefix (auth data, channel
settings, transaction records...) and its entry in the installed-instances index. The delivery
was verified, including ``recipient.id``, so a stale installation cannot wipe a newer one.
"""

from __future__ import annotations

from typing import Any

import structlog

from saleor_up2pay.redis_store import purge_instance
from saleor_up2pay.saleor.apl import auth_store
from saleor_up2pay.saleor.webhooks import WebhookContext

log = structlog.get_logger(__name__)


async def handle(ctx: WebhookContext) -> dict[str, Any]:
    """Purge the instance's data; Saleor only needs a 2xx."""
    deleted = await purge_instance(ctx.services.redis, ctx.saleor_api_url)
    await auth_store(ctx.services).delete(ctx.saleor_api_url)
    log.info("saleor.app_deleted", saleor_api_url=ctx.saleor_api_url, keys_deleted=deleted)
    return {"success": True}
