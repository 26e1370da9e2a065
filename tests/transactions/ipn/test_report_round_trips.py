"""The report job's Redis round trips, and its completion inside the report's closing script."""

from __future__ import annotations

from typing import Any

from saleor_up2pay.jobs import Worker
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.ipn_received import receive_ipn
from saleor_up2pay.transactions.legs import LegRepository
from saleor_up2pay.wiring import job_handlers
from tests.support.redis_traffic import watch
from tests.transactions.ipn_support import SaleorWorld, ipn, new_session


async def paid_ipn(services: Services, installed: SaleorWorld, numtrans: str) -> str:
    """A voucher IPN received for a new session; returns its reference."""
    session = await new_session(services, installed, total="15.10")
    await receive_ipn(services, ipn(session.reference, amount_cents=1510, numtrans=numtrans))
    return session.reference


class TestReportRoundTrips:
    async def test_a_report_is_two_round_trips_its_job_completed_by_the_closing_script(
        self, services: Services, installed: SaleorWorld, redis_server: Any
    ) -> None:
        """Start script, GraphQL report, closing script (leg reported, activity, unlock, job
        completed): the worker does not complete the job again (3 round trips before)."""
        queue = services.job_queue
        worker = Worker(queue, job_handlers(services))
        await paid_ipn(services, installed, "722487901")
        await worker.drain()  # warm: scripts loaded, token decrypted and cached
        await paid_ipn(services, installed, "722487902")
        (job,) = await queue.claim(1)

        async with watch(redis_server) as traffic:
            await worker._run(job)  # what run_once does with each job it claimed

        assert traffic.round_trips == 2, str(traffic)
        assert await queue.pending_ids() == []
        leg = await LegRepository(services.redis).get_by_numtrans(installed.api_url, "722487902")
        assert leg is not None
        assert leg.reported

    async def test_a_lost_lease_leaves_the_job_to_its_new_holder(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """The closing script completes the job only while the lease is the worker's: a job
        another worker claimed meanwhile stays pending (and finds the leg reported)."""
        queue = services.job_queue
        worker = Worker(queue, job_handlers(services))
        await paid_ipn(services, installed, "722487903")
        (job,) = await queue.claim(1)
        await queue.set_due(job.id, 0)  # the lease ran out...
        (again,) = await queue.claim(1)  # ...and another worker took the job
        assert again.lease != job.lease

        await worker._run(job)

        assert await queue.pending_ids() == [job.id]
        assert await queue.get(job.id) is not None
        await worker._run(again)  # the new holder: the leg is reported already, job done
        assert await queue.pending_ids() == []
