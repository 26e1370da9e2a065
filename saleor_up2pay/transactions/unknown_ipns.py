"""Verified IPNs the app could not attach to a payment session, kept for investigation.

An IPN whose reference (``R``) names no session (expired, purged by an uninstall, a payment made
outside Saleor with the same merchant account) or that carries no transaction number is not
dropped: it is logged and kept here, newest first, so support can find it. So is a verified leg
Saleor will never take any more (its transaction item or checkout was deleted): the report job
stops retrying and keeps it here, with the Saleor instance it belonged to. The list is global
(the reference could not always be tied to a Saleor instance) and capped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from pydantic import AliasChoices, BaseModel, Field

from saleor_up2pay.redis_store import KEY_PREFIX, Redis

UNKNOWN_IPNS_KEY = f"{KEY_PREFIX}ipn-unknown"
MAX_KEPT = 1000


class UnknownIpn(BaseModel):
    """One IPN kept for investigation (signature verified; nothing secret in it)."""

    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    reason: str
    reference: str | None = None
    numtrans: str | None = Field(
        None, validation_alias=AliasChoices("numtrans", "transaction_number")
    )
    numappel: str | None = Field(None, validation_alias=AliasChoices("numappel", "call_number"))
    """S and T (entries kept before 0.2 spelled them ``transaction_number``/``call_number``)."""
    card_type: str | None = None
    amount_cents: int | None = None
    error_code: str | None = None
    saleor_api_url: str | None = None
    """The Saleor instance, when the IPN could be tied to one (a report Saleor refused)."""
    raw: str = ""
    """The raw signed query string or body, as received (empty for a refused report: the leg
    record, stored when the IPN was verified, holds what it said)."""


class UnknownIpns:
    """A capped Redis list of :class:`UnknownIpn`, newest first."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def keep(self, entry: UnknownIpn) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(UNKNOWN_IPNS_KEY, entry.model_dump_json())
            pipe.ltrim(UNKNOWN_IPNS_KEY, 0, MAX_KEPT - 1)
            await pipe.execute()

    async def latest(self, limit: int = 50) -> list[UnknownIpn]:
        raw = cast("list[str]", await self._redis.lrange(UNKNOWN_IPNS_KEY, 0, max(0, limit - 1)))
        return [UnknownIpn.model_validate_json(item) for item in raw]
