"""Fault-injection tests: their figures are printed at the end of the run (``-s`` or not, and
under ``pytest -n``), see :mod:`tests.support.figures`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.conftest import SCHEMA_PATH, require_shared
from tests.support import figures
from tests.transactions.payment_world import World, open_world


@pytest.fixture
async def world(tmp_path: Path, redis_url: str, redis: aioredis.Redis) -> AsyncIterator[World]:
    """The app, the sandbox and a fake Saleor on loopback, the app installed."""
    require_shared(SCHEMA_PATH)
    async for opened in open_world(tmp_path, redis_url, redis):
        yield opened


@dataclass(frozen=True)
class Figure:
    """What one scenario counted, against the sandbox's ledger and the fake Saleor."""

    scenario: str
    operations: int
    executions: int
    not_exactly_once: int
    legs_lost: int
    saleor_disagreeing: int

    def record(self) -> None:
        """Add this scenario's line to the run's figures (printed at the end of the run)."""
        figures.add_row(
            "exactly-once figures (sandbox ledger vs fake Saleor)",
            f"{'scenario':<46} {'ops':>4} {'execs':>6} {'not 1':>6} {'legs lost':>10} "
            f"{'Saleor ≠ ledger':>16}",
            f"{self.scenario:<46} {self.operations:>4} {self.executions:>6} "
            f"{self.not_exactly_once:>6} {self.legs_lost:>10} {self.saleor_disagreeing:>16}",
        )
