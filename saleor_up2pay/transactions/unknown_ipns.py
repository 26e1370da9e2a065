"""Verified IPNs the app could not attach to a payment session, kept for investigation.

An IPN whose reference (``R``) names no session (expired, purged by an uninstall, a payment made
outside Saleor with the same merchant account) or that carries no transaction number is not
dropped: it is logged and kept here, so support can find it. So is a verified leg Saleor will
never take any more (its transaction item or checkout was deleted): the report job stops
retrying and keeps it here, with the Saleor instance it belonged to.

Kept **by day** (UTC) for :data:`RETENTION_DAYS`, and counted: the count of a day is exact even
past :data:`MAX_PER_DAY` entries (beyond that the day keeps its newest entries, and says so in
the log). The store is global (the reference can rarely be tied to a Saleor instance); when it
can, the IPN intake also raises the ``ipn-unknown-reference`` App problem on that instance.

Redis layout (global keys, outside the per-instance prefix, under one hash tag so that one
transaction writes a day's list and count on a Redis Cluster):

- ``up2pay:{unknown}:ipn-unknown:<YYYY-MM-DD>`` → list of :class:`UnknownIpn` JSON, newest first;
- ``up2pay:{unknown}:ipn-unknown-count:<YYYY-MM-DD>`` → how many were kept that day;
- ``up2pay:ipn-unknown`` → the capped list of versions before 0.3 (still read, never written).

API::

    store = UnknownIpns(redis)
    await store.keep(UnknownIpn(reason="unknown reference", reference="R1", raw="..."))
    await store.latest(50)                 # newest first, across days
    await store.count_by_day(days=7)       # {date(2026, 12, 6): 3, ...} oldest first, zeros too
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import cast

import structlog
from pydantic import AliasChoices, BaseModel, Field

from saleor_up2pay.redis_store import KEY_PREFIX, Redis

log = structlog.get_logger(__name__)

UNKNOWN_IPNS_KEY = f"{KEY_PREFIX}ipn-unknown"
"""The single capped list of older versions (read by :meth:`UnknownIpns.latest`, not written)."""
RETENTION_DAYS = 90
"""How long the IPNs of one day (and their count) are kept."""
MAX_PER_DAY = 100_000
"""Entries kept per day (the count goes on beyond it)."""
UNKNOWN_REFERENCE_PROBLEM = "ipn-unknown-reference"
"""App problem key raised on an instance when one of these IPNs can be tied to it."""


UNKNOWN_TAG = "{unknown}"
"""The hash tag of the day lists and counts: one slot, so one transaction writes both."""


def _day_key(day: date) -> str:
    return f"{KEY_PREFIX}{UNKNOWN_TAG}:ipn-unknown:{day.isoformat()}"


def _count_key(day: date) -> str:
    return f"{KEY_PREFIX}{UNKNOWN_TAG}:ipn-unknown-count:{day.isoformat()}"


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
    """The kept :class:`UnknownIpn` entries, by day, with their daily counts."""

    def __init__(self, redis: Redis, *, retention_days: int = RETENTION_DAYS) -> None:
        self._redis = redis
        self._retention = retention_days

    async def keep(self, entry: UnknownIpn) -> int:
        """Keep ``entry`` under its day; returns how many were kept that day so far."""
        day = entry.received_at.astimezone(UTC).date()
        ttl = int(timedelta(days=self._retention + 1).total_seconds())
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(_day_key(day), entry.model_dump_json())
            pipe.ltrim(_day_key(day), 0, MAX_PER_DAY - 1)
            pipe.expire(_day_key(day), ttl)
            pipe.incr(_count_key(day))
            pipe.expire(_count_key(day), ttl)
            _, _, _, count, _ = await pipe.execute()
        if int(count) > MAX_PER_DAY:
            log.warning("ipn.unknown_day_full", day=day.isoformat(), count=int(count))
        return int(count)

    def _days(self, days: int, today: date | None) -> list[date]:
        last = today or datetime.now(UTC).date()
        return [last - timedelta(days=n) for n in range(min(days, self._retention + 1))]

    async def count_by_day(self, days: int = 30, *, today: date | None = None) -> dict[date, int]:
        """How many were kept on each of the last ``days`` days (UTC), oldest first."""
        wanted = list(reversed(self._days(days, today)))
        counts = await self._redis.mget([_count_key(day) for day in wanted])
        return {day: int(c or 0) for day, c in zip(wanted, counts, strict=True)}

    async def latest(self, limit: int = 50, *, today: date | None = None) -> list[UnknownIpn]:
        """The newest ``limit`` entries, newest first (one round trip)."""
        if limit <= 0:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for day in self._days(self._retention + 1, today):
                pipe.lrange(_day_key(day), 0, limit - 1)
            pipe.lrange(UNKNOWN_IPNS_KEY, 0, limit - 1)
            lists = cast("list[list[str]]", await pipe.execute())
        found: list[UnknownIpn] = []
        for raws in lists:
            for raw in raws:
                found.append(UnknownIpn.model_validate_json(raw))
                if len(found) == limit:
                    return found
        return found
