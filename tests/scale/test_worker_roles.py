"""Process roles: ``saleor-up2pay worker`` processes share one Redis; a killed one loses nothing.

Two real ``worker`` processes (subprocesses running the CLI) against a redis-server on a loopback
TCP port take a burst of jobs; one is killed with SIGKILL mid-burst. Every job still runs to
completion: the survivor takes over the killed worker's jobs once their lease
(``JOB_LEASE_SECONDS``) runs out. Jobs run at least once, so handlers are idempotent; a job runs
twice only if the killed worker had started it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from saleor_up2pay.cli import main
from saleor_up2pay.jobs import JobQueue
from saleor_up2pay.main import WORKER_CONCURRENCY
from tests.conftest import PROJECT_ROOT
from tests.scale.probe_worker import BY_PID_PREFIX, DONE_KEY, PROBE_JOB, RUNS_KEY
from tests.support.redis_topologies import standalone_server

BURST = 400
LEASE_SECONDS = 2


@pytest.fixture
def tcp_redis_url(tmp_path: Path) -> Iterator[str]:
    with standalone_server(tmp_path) as node:
        yield f"redis://{node.address}/0"


def _start_worker(redis_url: str, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "worker-roles-secret",
        "DATA_DIR": str(tmp_path / name),
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "WORKER_GRACE_SECONDS": "10",
        "LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scale.probe_worker"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _until(check: object, seconds: float = 60.0) -> None:
    """Poll ``check()`` (an async callable returning bool) until true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    pytest.fail("condition not reached in time")


def test_a_killed_worker_loses_no_job(tcp_redis_url: str, tmp_path: Path) -> None:
    victim = _start_worker(tcp_redis_url, tmp_path, "victim")
    survivor = _start_worker(tcp_redis_url, tmp_path, "survivor")

    async def scenario() -> None:
        client = aioredis.Redis.from_url(tcp_redis_url, decode_responses=True)
        queue = JobQueue(client)
        try:
            for number in range(BURST):
                await queue.enqueue(
                    PROBE_JOB, {"n": number, "sleep": 0.2}, job_id=f"probe:t:{number}"
                )

            async def victim_busy() -> bool:
                return int(await client.llen(f"{BY_PID_PREFIX}{victim.pid}")) >= 20

            await _until(victim_busy)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            assert int(await client.scard(DONE_KEY)) < BURST, "killed before the burst ended"

            async def all_done() -> bool:
                done = int(await client.scard(DONE_KEY)) == BURST
                return done and await queue.pending_count() == 0

            await _until(all_done)
            runs = {int(n): int(c) for n, c in (await client.hgetall(RUNS_KEY)).items()}
            assert sorted(runs) == list(range(BURST))  # every job ran...
            assert await client.smembers(DONE_KEY) == {
                str(n) for n in range(BURST)
            }  # ...to the end
            by_victim = {int(n) for n in await client.lrange(f"{BY_PID_PREFIX}{victim.pid}", 0, -1)}
            by_survivor = {
                int(n) for n in await client.lrange(f"{BY_PID_PREFIX}{survivor.pid}", 0, -1)
            }
            assert by_victim  # both workers took part
            assert by_survivor
            twice = {n for n, count in runs.items() if count > 1}
            # Only a job the killed worker had started runs again, and at most one batch of them.
            assert twice <= by_victim
            assert len(twice) <= WORKER_CONCURRENCY
            assert all(count <= 2 for count in runs.values())
            assert await queue.dead_jobs() == []

            # SIGTERM lets a running job finish before the worker exits.
            await queue.enqueue(PROBE_JOB, {"n": "last", "sleep": 1.0}, job_id="probe:t:last")

            async def last_started() -> bool:
                return bool(await client.hexists(RUNS_KEY, "last"))

            await _until(last_started)
            survivor.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(survivor.wait, 30) == 0
            assert await client.sismember(DONE_KEY, "last")
            assert await queue.pending_count() == 0
        finally:
            await client.aclose()

    try:
        asyncio.run(scenario())
    finally:
        for process in (victim, survivor):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    log = (tmp_path / "survivor.log").read_text(encoding="utf-8")
    assert '"event": "worker.started"' in log
    assert '"event": "worker.stopped"' in log


@pytest.mark.parametrize("argv", [["worker"], ["serve", "--no-worker"]])
def test_the_split_roles_need_a_shared_redis(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file
    assert main(argv) == 2
    assert "configuration error: REDIS_URL:" in capsys.readouterr().err
