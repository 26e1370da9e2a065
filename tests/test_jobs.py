"""The durable job queue: dedupe, due times, retries with capped backoff, leases, restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from saleor_up2pay.jobs import (
    COMPLETE_LUA,
    COMPLETED,
    GLOBAL_SHARD,
    Job,
    JobQueue,
    RetryAt,
    Worker,
    backoff_seconds,
)
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.follow_up_events import EVENT_JOB
from saleor_up2pay.transactions.ipn_received import REPORT_JOB, UNKNOWN_PROBLEM_JOB
from saleor_up2pay.transactions.operation_settlement import SETTLE_JOB as OPERATION_SETTLE_JOB
from saleor_up2pay.transactions.pending_legs import RECONCILE_JOB
from saleor_up2pay.transactions.pending_legs import SETTLE_JOB as LEG_SETTLE_JOB
from saleor_up2pay.transactions.transaction_refund_requested import REFUND_JOB
from saleor_up2pay.wiring import job_handlers


class Clock:
    """A settable clock so due times can be tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A handler that records its runs and fails the first ``failures`` times."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.runs: list[Job] = []

    async def __call__(self, job: Job) -> None:
        self.runs.append(job)
        if len(self.runs) <= self.failures:
            msg = f"boom {len(self.runs)}"
            raise RuntimeError(msg)


class TestJobQueue:
    async def test_enqueue_with_same_id_is_a_no_op(self, redis: aioredis.Redis) -> None:
        """A second enqueue of a pending job id is refused and the first payload is kept."""
        queue = JobQueue(redis)
        assert await queue.enqueue("k", {"n": 1}, job_id="same") is True
        assert await queue.enqueue("k", {"n": 2}, job_id="same") is False
        job = await queue.get("same")
        assert job is not None
        assert job.payload == {"n": 1}
        assert await queue.pending_count() == 1

    async def test_half_written_job_is_completed_by_the_next_enqueue(
        self, redis: aioredis.Redis
    ) -> None:
        """A job hash left without payload or due time (a crash mid-write) does not block it."""
        await redis.hset(GLOBAL_SHARD.job("half"), "kind", "k")
        queue = JobQueue(redis)
        assert await queue.enqueue("k", {"n": 1}, job_id="half") is True
        (job,) = await queue.claim()
        assert (job.id, job.payload) == ("half", {"n": 1})

    async def test_extend_keeps_a_running_job_from_being_claimed_again(
        self, redis: aioredis.Redis
    ) -> None:
        """Extending the lease pushes its expiry on; a lost lease cannot be extended."""
        clock = Clock()
        queue = JobQueue(redis, clock=clock, visibility_timeout=30)
        await queue.enqueue("k", {}, job_id="j")
        (running,) = await queue.claim()
        clock.now += 25
        assert await queue.extend(running) is True
        clock.now += 25
        assert await queue.claim() == []
        clock.now += 6
        (reclaimed,) = await queue.claim()
        assert await queue.extend(running) is False
        assert await queue.extend(reclaimed) is True

    async def test_future_job_is_not_claimed_before_its_time(self, redis: aioredis.Redis) -> None:
        """A job scheduled for later is only claimed once its time has come."""
        clock = Clock()
        queue = JobQueue(redis, clock=clock)
        await queue.enqueue("k", {}, run_at=datetime.fromtimestamp(clock.now + 3600, UTC))
        assert await queue.claim() == []
        clock.now += 3600
        assert len(await queue.claim()) == 1

    async def test_claimed_job_comes_back_after_the_visibility_timeout(
        self, redis: aioredis.Redis
    ) -> None:
        """A job whose worker died mid-run is claimed again once its lease has run out."""
        clock = Clock()
        queue = JobQueue(redis, clock=clock, visibility_timeout=30)
        await queue.enqueue("k", {}, job_id="j")
        first = await queue.claim()
        assert [job.attempts for job in first] == [1]
        assert await queue.claim() == []
        clock.now += 31
        again = await queue.claim()
        assert [(job.id, job.attempts) for job in again] == [("j", 2)]

    async def test_stale_lease_cannot_complete_a_reclaimed_job(self, redis: aioredis.Redis) -> None:
        """A worker that lost its lease cannot delete the job another worker now holds."""
        clock = Clock()
        queue = JobQueue(redis, clock=clock, visibility_timeout=30)
        await queue.enqueue("k", {}, job_id="j")
        (stale,) = await queue.claim()
        clock.now += 31
        (fresh,) = await queue.claim()
        assert await queue.complete(stale) is False
        assert await queue.get("j") is not None
        assert await queue.complete(fresh) is True
        assert await queue.get("j") is None

    async def test_naive_run_at_is_refused(self, redis: aioredis.Redis) -> None:
        """A run_at without a timezone is a programming error, not a silent local time."""
        queue = JobQueue(redis)
        with pytest.raises(ValueError, match="timezone"):
            await queue.enqueue("k", {}, run_at=datetime(2030, 1, 1))
        assert await queue.pending_count() == 0

    async def test_process_wide_queue_is_shared(self, services: Services) -> None:
        """services.job_queue returns the same queue every time."""
        assert services.job_queue is services.job_queue


class TestBackoff:
    def test_backoff_doubles_and_is_capped(self) -> None:
        """Delays double from the base and never exceed the cap."""
        assert [backoff_seconds(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
        assert backoff_seconds(10_000, 1.0, 300.0) == 300.0


class TestWorker:
    async def test_runs_due_job_and_forgets_it(self, redis: aioredis.Redis) -> None:
        """A successful job runs once with its payload and leaves the queue."""
        queue = JobQueue(redis)
        handler = Recorder()
        await queue.enqueue("k", {"ref": "R1"}, job_id="j1")
        worker = Worker(queue, {"k": handler})
        assert await worker.run_once() == 1
        assert [job.payload for job in handler.runs] == [{"ref": "R1"}]
        assert await queue.pending_count() == 0
        assert await worker.run_once() == 0

    async def test_a_handler_may_complete_its_job_in_its_own_script(
        self, redis: aioredis.Redis
    ) -> None:
        """COMPLETE_LUA finishes the job with the handler's writes (lease checked there); the
        handler returns COMPLETED and the worker leaves the job alone."""
        queue = JobQueue(redis)
        await queue.enqueue("k", {}, job_id="k:scope1:j1")
        script = COMPLETE_LUA + (
            "redis.call('SET', KEYS[4], 'written')\n"
            "return complete_job(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])"
        )
        done: list[int] = []

        async def handler(job: Job) -> object:
            due, key, kind = queue.script_keys(job.id, job.kind)
            own = key + ":result"  # same hash tag as the job
            done.append(await redis.eval(script, 4, due, key, kind, own, job.id, job.lease))
            return COMPLETED

        assert await Worker(queue, {"k": handler}).run_once() == 1
        assert done == [1]
        assert await queue.pending_count() == 0

    async def test_complete_lua_needs_the_lease(self, redis: aioredis.Redis) -> None:
        queue = JobQueue(redis)
        await queue.enqueue("k", {}, job_id="k:scope1:j2")
        (job,) = await queue.claim(1)
        due, key, kind = queue.script_keys(job.id, job.kind)
        script = COMPLETE_LUA + "return complete_job(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])"
        assert await redis.eval(script, 3, due, key, kind, job.id, "not-the-lease") == 0
        assert await queue.pending_ids() == [job.id]

    async def test_failed_job_is_retried_with_backoff_until_it_succeeds(
        self, redis: aioredis.Redis
    ) -> None:
        """Failures reschedule the job after 1s, 2s, 4s... and it finally runs to success."""
        clock = Clock()
        queue = JobQueue(redis, clock=clock)
        handler = Recorder(failures=3)
        await queue.enqueue("k", {}, job_id="j")
        worker = Worker(queue, {"k": handler}, base_backoff=1, max_backoff=60)
        delays = []
        for _ in range(3):
            await worker.run_once()
            due = await queue.due_at("j")
            assert due is not None
            delays.append(due.timestamp() - clock.now)
            clock.now = due.timestamp()
        assert delays == [1, 2, 4]
        job = await queue.get("j")
        assert job is not None
        assert job.last_error == "RuntimeError: boom 3"
        await worker.run_once()
        assert len(handler.runs) == 4
        assert await queue.get("j") is None

    async def test_job_without_max_attempts_is_never_dropped(self, redis: aioredis.Redis) -> None:
        """A job that keeps failing keeps being retried at the capped delay, never dead-lettered."""
        clock = Clock()
        queue = JobQueue(redis, clock=clock)
        handler = Recorder(failures=10_000)
        await queue.enqueue("k", {}, job_id="j")
        worker = Worker(queue, {"k": handler}, base_backoff=1, max_backoff=5)
        for _ in range(12):
            await worker.run_once()
            clock.now += 5
        assert len(handler.runs) == 12
        assert await queue.dead_jobs() == []
        assert await queue.due_at("j") is not None

    async def test_job_with_max_attempts_goes_to_the_dead_list(self, redis: aioredis.Redis) -> None:
        """A job enqueued with max_attempts is buried after that many failures."""
        clock = Clock()
        queue = JobQueue(redis, clock=clock)
        handler = Recorder(failures=100)
        await queue.enqueue("k", {}, job_id="j", max_attempts=2)
        worker = Worker(queue, {"k": handler}, base_backoff=1)
        await worker.run_once()
        clock.now += 1
        await worker.run_once()
        assert await queue.dead_jobs() == ["j"]
        assert await queue.pending_count() == 0

    async def test_retry_at_reschedules_without_counting_a_failure(
        self, redis: aioredis.Redis
    ) -> None:
        """A handler raising RetryAt runs again at that time with its attempt count unchanged."""
        clock = Clock()
        queue = JobQueue(redis, clock=clock)
        later = datetime.fromtimestamp(clock.now, UTC) + timedelta(hours=20)
        runs: list[int] = []

        async def deferred(job: Job) -> None:
            runs.append(job.attempts)
            if len(runs) == 1:
                raise RetryAt(later, "refund allowed tomorrow")

        await queue.enqueue("refund", {}, job_id="r")
        worker = Worker(queue, {"refund": deferred})
        await worker.run_once()
        assert await queue.due_at("r") == later
        clock.now = later.timestamp()
        await worker.run_once()
        assert runs == [1, 1]
        assert await queue.get("r") is None

    async def test_job_of_unknown_kind_is_kept(self, redis: aioredis.Redis) -> None:
        """A job nobody handles yet stays queued for a later process that knows its kind."""
        queue = JobQueue(redis)
        await queue.enqueue("future.kind", {}, job_id="f")
        await Worker(queue, {}).run_once()
        assert await queue.get("f") is not None

    async def test_pending_jobs_survive_a_restart(self, redis: aioredis.Redis) -> None:
        """A job queued by one process is run by a new queue and worker on the same Redis."""
        await JobQueue(redis).enqueue("k", {"n": 1}, job_id="j")
        handler = Recorder()
        fresh = Worker(JobQueue(redis), {"k": handler})
        assert await fresh.run_once() == 1
        assert [job.id for job in handler.runs] == ["j"]

    async def test_background_worker_wakes_on_enqueue(self, redis: aioredis.Redis) -> None:
        """The started worker runs a newly queued job promptly, without waiting a poll interval."""
        queue = JobQueue(redis)
        done = asyncio.Event()

        async def handler(job: Job) -> None:
            done.set()

        worker = Worker(queue, {"k": handler}, poll_interval=30)
        worker.start()
        try:
            await asyncio.sleep(0.05)
            await queue.enqueue("k", {})
            await asyncio.wait_for(done.wait(), 5)
        finally:
            await worker.stop()
        assert await queue.pending_count() == 0

    async def test_slow_job_keeps_its_lease_while_it_runs(self, redis: aioredis.Redis) -> None:
        """A job running longer than the visibility timeout is not started by a second worker."""
        queue = JobQueue(redis, visibility_timeout=0.15)
        runs: list[str] = []

        async def slow(job: Job) -> None:
            runs.append(job.id)
            await asyncio.sleep(0.6)

        await queue.enqueue("slow", {}, job_id="s")
        first = Worker(queue, {"slow": slow})
        second = Worker(JobQueue(redis, visibility_timeout=0.15), {"slow": slow})
        running = asyncio.create_task(first.run_once())
        await asyncio.sleep(0.4)
        assert await second.run_once() == 0
        assert await running == 1
        assert runs == ["s"]
        assert await queue.get("s") is None

    async def test_stop_lets_a_running_job_finish(self, redis: aioredis.Redis) -> None:
        """Stopping the worker while a job runs waits for it, so it is not left leased."""
        queue = JobQueue(redis)
        started = asyncio.Event()
        finished: list[str] = []

        async def slow(job: Job) -> None:
            started.set()
            await asyncio.sleep(0.2)
            finished.append(job.id)

        await queue.enqueue("slow", {}, job_id="s")
        worker = Worker(queue, {"slow": slow})
        worker.start()
        await asyncio.wait_for(started.wait(), 5)
        await worker.stop()
        assert finished == ["s"]
        assert await queue.get("s") is None

    async def test_stop_cancels_a_job_past_the_grace_period(self, redis: aioredis.Redis) -> None:
        """A job still running after the grace period is cut off and stays queued for later."""
        queue = JobQueue(redis)
        started = asyncio.Event()

        async def stuck(job: Job) -> None:
            started.set()
            await asyncio.sleep(30)

        await queue.enqueue("stuck", {}, job_id="x")
        worker = Worker(queue, {"stuck": stuck})
        worker.start()
        await asyncio.wait_for(started.wait(), 5)
        await worker.stop(grace_seconds=0.05)
        job = await queue.get("x")
        assert job is not None
        assert job.lease  # the next process re-runs it once the lease expires

    async def test_the_app_worker_runs_every_job_kind_the_app_queues(
        self, services: Services
    ) -> None:
        """The worker's explicit map names a handler for each kind of job the use cases queue."""
        handlers = job_handlers(services)
        assert set(handlers) == {
            REPORT_JOB,
            EVENT_JOB,
            REFUND_JOB,
            RECONCILE_JOB,
            LEG_SETTLE_JOB,
            OPERATION_SETTLE_JOB,
            UNKNOWN_PROBLEM_JOB,
        }
        assert all(callable(handler) for handler in handlers.values())


async def test_pending_jobs_are_found_by_id_prefix(redis: aioredis.Redis) -> None:
    """A reader lists the jobs it named (a leg's deferred refunds) without touching the keys."""
    queue = JobQueue(redis)
    later = datetime.now(UTC) + timedelta(days=1)
    await queue.enqueue("refund.deferred", {"n": 2}, job_id="refund:i1:722:refund:2", run_at=later)
    await queue.enqueue("refund.deferred", {"n": 1}, job_id="refund:i1:722:refund:1")
    await queue.enqueue("refund.deferred", {"n": 3}, job_id="refund:i1:7229:refund:1")
    await queue.enqueue("refund.deferred", {"n": 4}, job_id="refund:i2:722:refund:1")
    found = await queue.pending_with_prefix("refund:i1:722:")
    assert [job.payload["n"] for job, _ in found] == [1, 2]
    assert abs((found[1][1] - later).total_seconds()) < 1


class TestShards:
    """Each scope's jobs live under its hash tag; workers claim from every shard."""

    async def test_a_job_is_stored_under_its_scope_hash_tag(self, redis: aioredis.Redis) -> None:
        queue = JobQueue(redis)
        await queue.enqueue("k", {}, job_id="k:abc:1")
        await queue.enqueue("k", {}, job_id="plain")
        keys = {str(key) async for key in redis.scan_iter(match="up2pay:*")}
        assert "up2pay:i:{abc}:jobs:job:k:abc:1" in keys
        assert "up2pay:{global}:jobs:job:plain" in keys
        assert await queue.pending_count() == 2

    async def test_a_worker_of_another_process_claims_from_a_shard_it_never_wrote(
        self, redis: aioredis.Redis
    ) -> None:
        """The shard list in Redis tells a fresh queue (another process) where jobs are."""
        await JobQueue(redis).enqueue("k", {"n": 1}, job_id="k:scope-a:1")
        await JobQueue(redis).enqueue("k", {"n": 2}, job_id="k:scope-b:1")
        elsewhere = JobQueue(redis)
        claimed = await elsewhere.claim(limit=10)
        assert sorted(job.id for job in claimed) == ["k:scope-a:1", "k:scope-b:1"]

    async def test_drop_scope_forgets_the_shard(self, redis: aioredis.Redis) -> None:
        queue = JobQueue(redis)
        await queue.enqueue("k", {}, job_id="k:gone:1")
        await queue.enqueue("k", {}, job_id="k:gone:2")
        await queue.enqueue("k", {}, job_id="k:kept:1")
        assert await queue.drop_scope("gone") == 2
        assert await queue.pending_ids() == ["k:kept:1"]
        assert [job.id for job in await JobQueue(redis).claim(limit=10)] == ["k:kept:1"]

    async def test_stats_sum_every_shard(self, redis: aioredis.Redis) -> None:
        clock = Clock()
        queue = JobQueue(redis, clock=clock)
        await queue.enqueue("k", {}, job_id="k:one:1")
        clock.now += 5
        await queue.enqueue("k", {}, job_id="k:two:1")
        await queue.enqueue(
            "other", {}, job_id="other:two:1", run_at=datetime.fromtimestamp(clock.now + 60, UTC)
        )
        due, dead, per_kind = await queue.stats(["k", "other", "none"])
        assert (due, dead) == (2, 0)
        assert per_kind[0] == (2, clock.now - 5)
        assert per_kind[1][0] == 1
        assert per_kind[2] == (0, None)

    async def test_a_shard_lost_from_the_list_is_swept_back_and_its_job_runs(
        self, redis: aioredis.Redis
    ) -> None:
        """The list's SADD is not waited on: after a failover the list may have lost a scope
        whose job survived. A worker that never wrote there finds it again by its sweep."""
        await JobQueue(redis).enqueue("k", {"n": 1}, job_id="k:orphan:1")
        await redis.srem("up2pay:{global}:jobs:shards", "orphan")  # lost in the failover
        assert await JobQueue(redis).claim(limit=10) == []  # the list alone no longer finds it

        ran = asyncio.Event()

        async def handler(job: Job) -> None:
            ran.set()

        worker = Worker(
            JobQueue(redis), {"k": handler}, poll_interval=0.05, shard_sweep_interval=0.2
        )
        worker.start()
        try:
            await asyncio.wait_for(ran.wait(), 30)
        finally:
            await worker.stop()
        assert await redis.sismember("up2pay:{global}:jobs:shards", "orphan")
        assert await JobQueue(redis).pending_count() == 0

    async def test_the_sweep_relists_only_what_is_missing(self, redis: aioredis.Redis) -> None:
        queue = JobQueue(redis)
        await queue.enqueue("k", {}, job_id="k:listed:1")
        await queue.enqueue("k", {}, job_id="k:lost:1")
        await queue.enqueue("k", {}, job_id="global-job")
        await redis.srem("up2pay:{global}:jobs:shards", "lost")
        assert await JobQueue(redis).sweep_shards() == ["lost"]
        assert await JobQueue(redis).sweep_shards() == []
        members = await redis.smembers("up2pay:{global}:jobs:shards")
        assert sorted(members) == ["listed", "lost"]
