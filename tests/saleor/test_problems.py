"""App problems: raised and dismissed on a Saleor 3.22+ (validated by the fake Saleor)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from saleor_up2pay.saleor.client import SaleorClient
from saleor_up2pay.saleor.problems import Problem, ProblemReporter
from tests.conftest import SCHEMA_PATH, require_shared
from tests.fakes.fake_saleor import FakeSaleor, running


@pytest.fixture
def fake() -> Iterator[FakeSaleor]:
    require_shared(SCHEMA_PATH)
    with running() as fake:
        yield fake


@pytest.fixture
async def reporter(fake: FakeSaleor) -> AsyncIterator[ProblemReporter]:
    token, _ = fake.issue_token()
    # The fake's first request validates against the whole schema: slow on a loaded machine.
    async with httpx.AsyncClient(timeout=30) as http:
        yield ProblemReporter(SaleorClient(http, fake.api_url, token))


class TestProblemReporter:
    async def test_same_key_is_counted_not_repeated(
        self, fake: FakeSaleor, reporter: ProblemReporter
    ) -> None:
        """Two reports of one problem show one problem seen twice, critical at the threshold."""
        problem = Problem(
            key="ipn-unknown-reference",
            message="Up2pay notified a payment the app does not know (R=abc).",
            critical_threshold=2,
        )
        assert await reporter.report(problem)
        assert not fake.open_problems()["ipn-unknown-reference"].is_critical
        assert await reporter.report(problem)
        shown = fake.open_problems()["ipn-unknown-reference"]
        assert (shown.count, shown.is_critical) == (2, True)

    async def test_dismiss_removes_resolved_problems(
        self, fake: FakeSaleor, reporter: ProblemReporter
    ) -> None:
        """A resolved problem is dismissed by key; the others stay."""
        await reporter.report(Problem(key="leg-unreported:1", message="Leg S=1 not reported."))
        await reporter.report(Problem(key="leg-unreported:2", message="Leg S=2 not reported."))
        assert await reporter.dismiss("leg-unreported:1")
        assert set(fake.open_problems()) == {"leg-unreported:2"}

    async def test_saleor_refusing_is_logged_not_raised(self, fake: FakeSaleor) -> None:
        """Showing a problem is best effort: a refused call returns False."""
        async with httpx.AsyncClient() as http:
            reporter = ProblemReporter(SaleorClient(http, fake.api_url, "revoked-token"))
            assert not await reporter.report(Problem(key="gae-credentials", message="Refused."))
        assert fake.open_problems() == {}

    def test_keys_and_messages_are_checked_before_sending(self) -> None:
        """Saleor's limits (key 3–128 characters, message 3+) are enforced locally."""
        with pytest.raises(ValueError, match="key"):
            Problem(key="ab", message="too short a key")
        with pytest.raises(ValueError, match="message"):
            Problem(key="abc", message=" ")
        long = Problem(key="abc", message="x" * 3000).variables()["input"]
        assert len(long["message"]) == 2048  # type: ignore[index]
