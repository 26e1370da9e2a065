"""App problems: what the merchant must look at, shown by the Dashboard on the app's page.

Saleor 3.22+ keeps problems per app (``appProblemCreate``): a ``key`` groups occurrences of
the same problem (Saleor counts them within ``aggregationPeriod`` minutes instead of adding
rows), an optional ``criticalThreshold`` marks the problem critical once the count reaches it,
and ``appProblemDismiss`` by key removes them when what they reported is resolved.

Reporting a problem is best effort: it is how a fault is *shown*, never how it is *handled*.
A Saleor that cannot take the problem (down, older than 3.22) is logged and the caller goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from saleor_up2pay.saleor.client import SaleorClient, SaleorError

log = structlog.get_logger(__name__)

KEY_MIN, KEY_MAX = 3, 128
MESSAGE_MAX = 2048


@dataclass(frozen=True)
class Problem:
    """One problem to show: ``key`` names its kind (and the object, when one is concerned)."""

    key: str
    message: str
    critical_threshold: int | None = None
    aggregation_minutes: int = 60

    def __post_init__(self) -> None:
        if not KEY_MIN <= len(self.key) <= KEY_MAX:
            msg = f"an app problem key has {KEY_MIN} to {KEY_MAX} characters: {self.key!r}"
            raise ValueError(msg)
        if len(self.message.strip()) < 3:
            msg = "an app problem message has at least 3 characters"
            raise ValueError(msg)

    def variables(self) -> dict[str, object]:
        message = self.message
        if len(message) > MESSAGE_MAX:
            message = message[: MESSAGE_MAX - 3] + "..."
        data: dict[str, object] = {
            "key": self.key,
            "message": message,
            "aggregationPeriod": self.aggregation_minutes,
        }
        if self.critical_threshold is not None:
            data["criticalThreshold"] = self.critical_threshold
        return {"input": data}


class ProblemReporter:
    """Raises and dismisses the app's problems on one Saleor instance."""

    def __init__(self, client: SaleorClient) -> None:
        self._client = client

    async def report(self, problem: Problem) -> bool:
        """Show ``problem``; False (and one log line) when Saleor did not take it."""
        try:
            await self._client.mutate("app_problem_create", problem.variables(), "appProblemCreate")
        except SaleorError as exc:
            log.warning("problem.not_reported", key=problem.key, error=str(exc))
            return False
        log.info("problem.reported", key=problem.key)
        return True

    async def dismiss(self, *keys: str) -> bool:
        """Remove the problems under ``keys`` (resolved); False when Saleor did not take it."""
        if not keys:
            return True
        try:
            for start in range(0, len(keys), 100):  # Saleor takes at most 100 keys a call
                await self._client.mutate(
                    "app_problem_dismiss",
                    {"input": {"byApp": {"keys": list(keys[start : start + 100])}}},
                    "appProblemDismiss",
                )
        except SaleorError as exc:
            log.warning("problem.not_dismissed", keys=list(keys), error=str(exc))
            return False
        log.info("problem.dismissed", keys=list(keys))
        return True
