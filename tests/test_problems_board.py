"""The problem board: kept per instance in Redis and raised as Saleor App problems."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from saleor_up2pay.problems import ProblemBoard
from saleor_up2pay.saleor.client import SaleorClient
from saleor_up2pay.saleor.problems import Problem
from tests.conftest import SCHEMA_PATH, require_shared
from tests.fakes.fake_saleor import FakeSaleor, running

OTHER_URL = "https://other.example.com/graphql/"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeSaleor]:
    require_shared(SCHEMA_PATH)
    with running() as fake:
        yield fake


@pytest.fixture
async def board(fake: FakeSaleor, redis: Any) -> AsyncIterator[tuple[ProblemBoard, Clock]]:
    token, _ = fake.issue_token()
    clock = Clock()
    async with httpx.AsyncClient() as http:

        async def client_for(url: str) -> SaleorClient | None:
            return SaleorClient(http, url, token) if url == fake.api_url else None

        yield ProblemBoard(redis, client_for, clock), clock


class TestProblemBoard:
    async def test_raised_problem_is_listed_and_shown_in_saleor(
        self, fake: FakeSaleor, board: tuple[ProblemBoard, Clock]
    ) -> None:
        """A repeated problem is one entry counted twice, in Redis and in Saleor."""
        problems, clock = board
        problem = Problem(
            key="gae-uncertain:123", message="Capture of S=123 unknown.", critical_threshold=2
        )
        await problems.raise_(fake.api_url, problem)
        clock.now += timedelta(minutes=5)
        await problems.raise_(fake.api_url, problem)
        [listed] = await problems.open(fake.api_url)
        assert (listed.count, listed.critical) == (2, True)
        assert listed.last_seen - listed.first_seen == timedelta(minutes=5)
        assert fake.open_problems()["gae-uncertain:123"].count == 2

    async def test_resolve_removes_it_from_both(
        self, fake: FakeSaleor, board: tuple[ProblemBoard, Clock]
    ) -> None:
        """Once settled, the problem leaves the page and the Dashboard."""
        problems, _ = board
        await problems.raise_(fake.api_url, Problem(key="leg-unreported:1", message="S=1 stuck."))
        await problems.resolve(fake.api_url, "leg-unreported:1")
        assert await problems.open(fake.api_url) == []
        assert fake.open_problems() == {}

    async def test_kept_even_when_saleor_cannot_take_it(
        self, board: tuple[ProblemBoard, Clock]
    ) -> None:
        """An instance whose Saleor is unreachable still lists the problem on the page."""
        problems, _ = board
        await problems.raise_(OTHER_URL, Problem(key="ipn-unknown", message="Unknown R=abc."))
        assert [p.key for p in await problems.open(OTHER_URL)] == ["ipn-unknown"]
