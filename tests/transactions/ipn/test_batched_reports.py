"""Concurrent leg reports to one Saleor share requests (aliased mutations), each with its own fate;
the report job's closing step when the leg changed meanwhile.

Against the schema-validating fake Saleor, which runs aliased mutations the way Saleor 3.23 does
(each field on its own, at most 4 mutations a request).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from saleor_up2pay.activity import ActivityLog
from saleor_up2pay.jobs import Worker
from saleor_up2pay.saleor.batching import MutationBatcher
from saleor_up2pay.saleor.event_reporter import TransactionEventReporter
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.ipn_received import receive_ipn
from saleor_up2pay.transactions.legs import LegRepository
from saleor_up2pay.wiring import job_handlers
from tests.transactions.ipn_support import SaleorWorld, ipn, new_session

WAIT = 0.3
"""The batcher's window in these tests: long enough that concurrent jobs always meet."""


@pytest.fixture
def worker(services: Services) -> Worker:
    services.saleor_batcher = MutationBatcher(max_mutations=4, window=WAIT)
    return Worker(
        services.job_queue,
        job_handlers(services),
        concurrency=8,
        base_backoff=0.05,
        max_backoff=0.2,
    )


def report_requests(world: SaleorWorld) -> list[int]:
    """How many transactionEventReport mutations each GraphQL request carried."""
    counts = [c.root_fields.count("transactionEventReport") for c in world.fake.calls]
    return [count for count in counts if count]


async def test_five_concurrent_reports_take_two_requests(
    services: Services, installed: SaleorWorld, worker: Worker
) -> None:
    """Five legs reported at once: one request of four reports, then one of one; each item has
    its event, name and metadata as if it had been reported alone."""
    sessions = [await new_session(services, installed, total="12.30") for _ in range(5)]
    for number, session in enumerate(sessions):
        await receive_ipn(
            services, ipn(session.reference, amount_cents=1230, numtrans=f"72248{number:04d}")
        )
    await worker.run_once()
    assert sorted(report_requests(installed)) == [1, 4]
    for number, session in enumerate(sessions):
        item = installed.saleor.item(session.transaction_id)
        assert [(e.type, e.psp_reference, e.amount) for e in item.events if e.include][-1] == (
            "CHARGE_SUCCESS",
            f"72248{number:04d}",
            Decimal("12.30"),
        )
        assert item.name == "Up2pay · Bimpli (Apetiz)"
        assert item.private_metadata["up2pay.numtrans"] == f"72248{number:04d}"
        leg = await LegRepository(services.redis).get_by_numtrans(
            installed.api_url, f"72248{number:04d}"
        )
        assert leg is not None
        assert leg.reported
    assert await services.job_queue.pending_count() == 0


async def test_one_report_saleor_refuses_does_not_fail_the_others(
    services: Services, installed: SaleorWorld, worker: Worker
) -> None:
    """An item Saleor no longer has (NOT_FOUND) fails its own report only: it is retried later,
    the three others of its request are reported."""
    worker.base_backoff = worker.max_backoff = 60.0  # the retry stays out of this run
    sessions = [await new_session(services, installed, total="9.90") for _ in range(4)]
    gone = sessions[1]
    del installed.saleor.items[gone.transaction_id]
    for number, session in enumerate(sessions):
        await receive_ipn(
            services, ipn(session.reference, amount_cents=990, numtrans=f"72249{number:04d}")
        )
    await worker.run_once()
    assert report_requests(installed) == [4]
    legs = LegRepository(services.redis)
    for number, session in enumerate(sessions):
        leg = await legs.get_by_numtrans(installed.api_url, f"72249{number:04d}")
        assert leg is not None
        assert leg.reported is (session is not gone)
    assert await services.job_queue.pending_count() == 1  # the gone item's report, retried later


async def test_saleor_with_a_lower_mutation_limit_gets_smaller_requests(
    services: Services, installed: SaleorWorld, worker: Worker
) -> None:
    """An instance whose operator set GRAPHQL_MUTATION_COUNT_LIMIT=2 refuses the batch of four:
    it is sent again two by two, and later batches for that instance stay at two."""
    installed.fake.mutation_limit = 2
    sessions = [await new_session(services, installed, total="5.00") for _ in range(4)]
    for number, session in enumerate(sessions):
        await receive_ipn(
            services, ipn(session.reference, amount_cents=500, numtrans=f"72250{number:04d}")
        )
    await worker.run_once()
    legs = LegRepository(services.redis)
    for number in range(4):
        leg = await legs.get_by_numtrans(installed.api_url, f"72250{number:04d}")
        assert leg is not None
        assert leg.reported
    assert report_requests(installed) == [2, 2]
    assert services.saleor_batcher.limit_for(installed.api_url) == 2


async def test_saleor_down_fails_every_report_of_the_request(
    services: Services, installed: SaleorWorld, worker: Worker
) -> None:
    """HTTP 503 on a batch: every report in it is retried, none is marked reported."""
    sessions = [await new_session(services, installed, total="7.00") for _ in range(3)]
    installed.saleor.down = True
    for number, session in enumerate(sessions):
        await receive_ipn(
            services, ipn(session.reference, amount_cents=700, numtrans=f"72251{number:04d}")
        )
    await worker.run_once()
    assert await services.job_queue.pending_count() == 3
    installed.saleor.down = False
    for job_id in await services.job_queue.pending_ids():
        await services.job_queue.set_due(job_id, 0)
    await worker.run_once()
    assert await services.job_queue.pending_count() == 0
    legs = LegRepository(services.redis)
    for number in range(3):
        leg = await legs.get_by_numtrans(installed.api_url, f"72251{number:04d}")
        assert leg is not None
        assert leg.reported


async def test_a_leg_changed_during_its_report_keeps_both_changes(
    services: Services,
    installed: SaleorWorld,
    worker: Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An order action writes the leg while Saleor takes its report: the leg ends reported and
    keeps what the action wrote (the closing script sees the change and falls back)."""
    session = await new_session(services, installed, total="10.00")
    legs = LegRepository(services.redis)
    real_report = TransactionEventReporter.report

    async def report_meanwhile(self: TransactionEventReporter, *args: Any, **kwargs: Any) -> Any:
        await legs.update(installed.api_url, "722520000", lambda r: r.with_refund(Decimal("1")))
        return await real_report(self, *args, **kwargs)

    monkeypatch.setattr(TransactionEventReporter, "report", report_meanwhile)
    await receive_ipn(services, ipn(session.reference, amount_cents=1000, numtrans="722520000"))
    await worker.run_once()
    leg = await legs.get_by_numtrans(installed.api_url, "722520000")
    assert leg is not None
    assert leg.reported
    assert leg.refunded_amount == Decimal("1")
    latest = await ActivityLog(services.redis).latest(installed.api_url)
    assert latest[0].outcome == "reported:created"
    # The reference lock is released: a sibling leg may be reported.
    locked = [k for k in await services.redis.keys("*lock*") if session.reference in str(k)]
    assert locked == []
