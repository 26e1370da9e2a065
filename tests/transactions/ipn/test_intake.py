"""The IPN intake as one atomic step, and IPNs for unknown references kept by day (issue 11.6)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from saleor_up2pay.activity import ActivityLog
from saleor_up2pay.problems import ProblemBoard
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.ipn_received import (
    REPORT_JOB,
    UNKNOWN_PROBLEM_JOB,
    leg_record,
    raise_unknown_problem_job,
    receive_ipn,
    record_leg,
)
from saleor_up2pay.transactions.legs import LegRepository, LegStatus
from saleor_up2pay.transactions.sessions import reference_index_key
from saleor_up2pay.transactions.unknown_ipns import (
    UNKNOWN_REFERENCE_PROBLEM,
    UnknownIpn,
    UnknownIpns,
)
from saleor_up2pay.up2pay.notifications import verify_ipn
from tests.transactions.ipn_support import SaleorWorld, ipn, new_session


async def _no_client(_: str) -> None:
    return None


class TestIntake:
    async def test_a_concurrent_burst_of_one_ipn_is_one_leg_one_job_one_activity_line(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """Twenty deliveries of the same S at once: one leg, one report job, one activity line."""
        session = await new_session(services, installed)
        raw = ipn(session.reference, amount_cents=2000)
        receipts = await asyncio.gather(*(receive_ipn(services, raw) for _ in range(20)))
        assert sorted(r.status for r in receipts) == ["accepted"] + ["duplicate"] * 19
        legs = await LegRepository(services.redis).legs_for_reference(
            installed.api_url, session.reference
        )
        assert [leg.numtrans for leg in legs] == ["722487980"]
        assert await services.job_queue.pending_count() == 1
        (job,) = await services.job_queue.claim()
        assert (job.kind, job.payload["leg"]["numtrans"]) == (REPORT_JOB, "722487980")
        lines = await ActivityLog(services.redis).latest(installed.api_url)
        assert [(a.kind, a.psp_reference) for a in lines if a.kind == "ipn"] == [
            ("ipn", "722487980")
        ]

    async def test_record_leg_is_the_one_way_a_leg_enters(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """``record_leg`` stores, indexes and queues a leg; a second call is a duplicate."""
        session = await new_session(services, installed)
        notification = verify_ipn(
            ipn(session.reference, amount_cents=2000), services.ipn_keys.keys()
        )
        record = leg_record(notification, session)
        assert await record_leg(services, record, session.channel) == "accepted"
        assert await record_leg(services, record, session.channel) == "duplicate"
        repo = LegRepository(services.redis)
        assert session.transaction_id
        by_tx = await repo.legs_for_transaction(installed.api_url, session.transaction_id)
        assert [(leg.numtrans, leg.status) for leg in by_tx] == [("722487980", LegStatus.ACCEPTED)]

    async def test_a_duplicate_of_an_unreported_leg_whose_job_is_gone_queues_it_again(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """The first delivery's report may be lost with its job: a repeat queues it again."""
        session = await new_session(services, installed)
        raw = ipn(session.reference, amount_cents=2000)
        await receive_ipn(services, raw)
        (job,) = await services.job_queue.claim()
        assert await services.job_queue.complete(job)
        assert (await receive_ipn(services, raw)).status == "duplicate"
        (again,) = await services.job_queue.claim()
        assert again.payload["leg"]["numtrans"] == "722487980"


class TestUnknownIpns:
    async def test_a_burst_of_1100_is_kept_whole_and_counted(self, services: Services) -> None:
        """The old capped list dropped the oldest 100 of 1,100; by day, all are kept and counted."""
        store = UnknownIpns(services.redis)
        for start in range(0, 1100, 50):  # concurrent, within the test client's pool
            await asyncio.gather(
                *(
                    store.keep(UnknownIpn(reason="unknown reference", reference=f"R{n}"))
                    for n in range(start, start + 50)
                )
            )
        today = datetime.now(UTC).date()
        counts = await store.count_by_day(days=2, today=today)
        assert counts == {today - timedelta(days=1): 0, today: 1100}
        kept = await store.latest(2000)
        assert len(kept) == 1100
        assert {k.reference for k in kept} == {f"R{n}" for n in range(1100)}

    async def test_days_are_kept_apart_and_expire(self, services: Services) -> None:
        """Each day has its own list and count, both expiring after the retention period."""
        store = UnknownIpns(services.redis, retention_days=7)
        day = datetime(2026, 12, 1, 10, tzinfo=UTC)
        await store.keep(UnknownIpn(reason="unknown reference", reference="OLD", received_at=day))
        await store.keep(UnknownIpn(reason="unknown reference", reference="NEW"))
        counts = await store.count_by_day(days=7, today=day.date() + timedelta(days=1))
        assert counts[day.date()] == 1
        ttl = await services.redis.ttl("up2pay:{unknown}:ipn-unknown:2026-12-01")
        assert 0 < ttl <= 8 * 86400
        assert [k.reference for k in await store.latest(10)] == ["NEW"] + (
            ["OLD"] if (datetime.now(UTC).date() - day.date()).days <= 7 else []
        )

    async def test_unknown_reference_whose_instance_is_known_raises_the_app_problem(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """A reference index that outlived its session names the instance: the problem shows."""
        await services.redis.set(reference_index_key("GONE00001"), installed.api_url)
        receipt = await receive_ipn(services, ipn("GONE00001", amount_cents=1500))
        assert receipt.status == "unknown_reference"
        (kept,) = await UnknownIpns(services.redis).latest()
        assert kept.saleor_api_url == installed.api_url
        (job,) = await services.job_queue.claim()
        assert job.kind == UNKNOWN_PROBLEM_JOB
        await raise_unknown_problem_job(services, job)
        board = ProblemBoard(services.redis, _no_client)
        assert [p.key for p in await board.open(installed.api_url)] == [UNKNOWN_REFERENCE_PROBLEM]
        assert UNKNOWN_REFERENCE_PROBLEM in installed.fake.open_problems()

    async def test_unknown_reference_of_no_known_instance_raises_nothing(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """Without any trace of the reference, the IPN is kept and counted, nothing queued."""
        await receive_ipn(services, ipn("NOWHERE01", amount_cents=1500))
        assert await services.job_queue.pending_count() == 0
        today = datetime.now(UTC).date()
        assert (await UnknownIpns(services.redis).count_by_day(days=1))[today] == 1
