"""The merchant-facing activity log: latest notifications and GAE calls per Saleor instance.

Written by the IPN and order-action use cases, read by the dashboard page, so a merchant can
answer "where is my money". Entries never hold a secret (no keys, no tokens, no signatures).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from saleor_up2pay.redis_store import Redis, instance_key

MAX_ENTRIES = 500

ActivityKind = Literal["ipn", "gae", "session", "refund_scheduled"]


class ActivityEntry(BaseModel):
    """One line of the activity table."""

    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    kind: ActivityKind
    channel: str | None = None
    reference: str | None = None
    leg: str | None = None
    amount: Decimal | None = None
    currency: str = "EUR"
    outcome: str
    message: str = ""
    psp_reference: str | None = None


def activity_key(saleor_api_url: str) -> str:
    """The instance's activity list (for scripts that append to it with their own writes)."""
    return instance_key(saleor_api_url, "activity")


class ActivityLog:
    """A capped Redis list per instance, newest first."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def record(self, saleor_api_url: str, entry: ActivityEntry) -> None:
        key = instance_key(saleor_api_url, "activity")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, entry.model_dump_json())
            pipe.ltrim(key, 0, MAX_ENTRIES - 1)
            await pipe.execute()

    async def latest(self, saleor_api_url: str, limit: int = 50) -> list[ActivityEntry]:
        key = instance_key(saleor_api_url, "activity")
        raw = await self._redis.lrange(key, 0, max(0, min(limit, MAX_ENTRIES) - 1))
        return [ActivityEntry.model_validate_json(item) for item in raw]
