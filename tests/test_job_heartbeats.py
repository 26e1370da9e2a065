"""A job's lease heartbeat and a report's lock renewal stop when their work ends, even when the
cancellation is lost.

redis-py (8.1) swallows a ``CancelledError`` that arrives while a command is in flight. The
worker used to stop a job's heartbeat by cancelling it alone: a cancel landing during the lease
extension was lost, the heartbeat extended the lease for ever and the job (and the worker's
whole batch) never ended. ``tests/scale/test_chaos.py`` found it: a worker stalled after its
first batch of reports.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis

from saleor_up2pay.jobs import Job, JobQueue, Worker
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.leg_reporter import LegReporter


class SwallowingQueue(JobQueue):
    """A queue whose lease extension takes a while and swallows a cancellation, as redis-py
    does with a command in flight."""

    extensions = 0

    async def extend(self, job: Job) -> bool:
        self.extensions += 1
        with contextlib.suppress(asyncio.CancelledError):  # lost, like redis-py loses it
            await asyncio.sleep(0.2)
        return True


async def test_a_job_ends_when_its_heartbeat_loses_the_cancel(redis: aioredis.Redis) -> None:
    queue = SwallowingQueue(redis, visibility_timeout=0.15)  # a beat every 0.05 s
    ran = []

    async def handler(job: Job) -> None:
        await asyncio.sleep(0.1)  # ends while the first extension (0.05 to 0.25 s) is in flight
        ran.append(job.id)

    for number in range(8):
        await queue.enqueue("k", {}, job_id=f"j{number}")
    worker = Worker(queue, {"k": handler})
    # The hang guard is generous: the point is that the batch ends at all.
    assert await asyncio.wait_for(worker.run_once(), timeout=30) == 8
    assert sorted(ran) == [f"j{n}" for n in range(8)]
    assert queue.extensions > 0
    assert await queue.next_due() is None  # every job done, none left leased


async def test_a_reference_lock_is_released_when_its_renewal_loses_the_cancel(
    services: Services,
) -> None:
    reporter = LegReporter(services)
    renewals = 0
    real_eval = services.redis.eval

    async def swallowing_eval(script: str, numkeys: int, *args: object) -> object:
        nonlocal renewals
        if "PEXPIRE" in script:
            renewals += 1
            with contextlib.suppress(asyncio.CancelledError):  # lost, like redis-py loses it
                await asyncio.sleep(0.2)
        return await real_eval(script, numkeys, *args)  # type: ignore[arg-type]

    services.redis.eval = swallowing_eval  # type: ignore[method-assign]

    async def report_three_times() -> None:
        for _ in range(3):
            async with reporter.reference_lock("https://s.example/graphql/", "R1", 0.15) as held:
                assert held
                await asyncio.sleep(0.1)  # the first renewal (0.05 to 0.25 s) is in flight

    # The hang guard is generous: the point is that each block ends at all.
    await asyncio.wait_for(report_three_times(), timeout=30)
    assert renewals > 0
    async with reporter.reference_lock("https://s.example/graphql/", "R1") as locked:
        assert locked  # released each time, never renewed behind our back
