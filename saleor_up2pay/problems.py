"""The merchant's problem board: what needs a look, kept per Saleor instance and shown twice.

A problem (an operation still uncertain after its retries, a leg that cannot be reported, a
deferred refund that failed, Up2pay refusing the merchant's credentials, IPNs for unknown
references...) is:

- kept in Redis under the instance (``up2pay:i:{<instance>}:problems``, a hash by key), so the
  app's own configuration page lists it even when Saleor could not take it;
- raised as a Saleor App problem (:mod:`saleor_up2pay.saleor.problems`, Saleor 3.22+), which the
  Dashboard shows on the app's page, aggregated by key.

:meth:`ProblemBoard.resolve` removes it from both once what it reported is settled. Raising is
best effort towards Saleor and never raises for it: a problem is how a fault is shown, never how
it is handled. Redis errors do propagate (the caller's job retries).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from saleor_up2pay.redis_store import Redis, instance_key
from saleor_up2pay.saleor.client import SaleorClient
from saleor_up2pay.saleor.problems import Problem, ProblemReporter

log = structlog.get_logger(__name__)

ClientFor = Callable[[str], Awaitable[SaleorClient | None]]
"""The GraphQL client of an installed instance by its API URL (None: not installed)."""

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class OpenProblem:
    """A problem as the configuration page lists it."""

    key: str
    message: str
    count: int
    first_seen: datetime
    last_seen: datetime
    critical: bool

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "message": self.message,
            "count": self.count,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "critical": self.critical,
        }


def problems_key(saleor_api_url: str) -> str:
    return instance_key(saleor_api_url, "problems")


class ProblemBoard:
    """Raise, resolve and list the problems of each Saleor instance."""

    def __init__(
        self, redis: Redis, client_for: ClientFor, clock: Clock = lambda: datetime.now(UTC)
    ) -> None:
        self._redis = redis
        self._client_for = client_for
        self._clock = clock

    async def raise_(self, saleor_api_url: str, problem: Problem) -> None:
        """Record ``problem`` (counting repeats of its key) and show it in the Dashboard."""
        now = self._clock()
        key = problems_key(saleor_api_url)
        stored = await self._redis.hget(key, problem.key)
        previous = json.loads(stored) if stored else None
        count = (previous["count"] if previous else 0) + 1
        threshold = problem.critical_threshold
        entry = {
            "key": problem.key,
            "message": problem.message,
            "count": count,
            "first_seen": previous["first_seen"] if previous else now.isoformat(),
            "last_seen": now.isoformat(),
            "critical": threshold is not None and count >= threshold,
        }
        await self._redis.hset(key, problem.key, json.dumps(entry))
        log.warning("problem.raised", key=problem.key, count=count)
        client = await self._client_for(saleor_api_url)
        if client is not None:
            await ProblemReporter(client).report(problem)

    async def resolve(self, saleor_api_url: str, *keys: str) -> None:
        """Forget the problems under ``keys`` and dismiss them in the Dashboard."""
        if not keys:
            return
        removed = await self._redis.hdel(problems_key(saleor_api_url), *keys)
        if not removed:
            return
        log.info("problem.resolved", keys=list(keys))
        client = await self._client_for(saleor_api_url)
        if client is not None:
            await ProblemReporter(client).dismiss(*keys)

    async def open(self, saleor_api_url: str) -> list[OpenProblem]:
        """The instance's open problems, most recent first."""
        raw = await self._redis.hgetall(problems_key(saleor_api_url))
        problems = []
        for value in raw.values():
            data = json.loads(value)
            problems.append(
                OpenProblem(
                    key=data["key"],
                    message=data["message"],
                    count=int(data["count"]),
                    first_seen=datetime.fromisoformat(data["first_seen"]),
                    last_seen=datetime.fromisoformat(data["last_seen"]),
                    critical=bool(data["critical"]),
                )
            )
        return sorted(problems, key=lambda p: p.last_seen, reverse=True)
