"""``saleor-up2pay serve`` runs the job worker in a child process: jobs queued by the web process
are run there, and stopping the app stops it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from saleor_up2pay.jobs import JobQueue
from saleor_up2pay.main import create_app
from saleor_up2pay.problems import ProblemBoard
from saleor_up2pay.settings import Settings
from saleor_up2pay.transactions.ipn_received import UNKNOWN_PROBLEM_JOB
from tests.support.servers import free_port, serve

NOT_INSTALLED = "https://gone.example.com/graphql/"


async def _no_client(_: str) -> None:
    return None


def test_jobs_run_in_the_worker_process(tmp_path: Path, redis_server: Any) -> None:
    redis_server.flushdb()
    port = free_port()
    settings = Settings(
        _env_file=None,
        app_url=f"http://127.0.0.1:{port}",
        data_dir=tmp_path / "var",
        secret_key="worker-process-secret",
        redis_url=f"unix://{redis_server.socket_file}",
    )

    async def queue_and_wait() -> list[str]:
        redis = aioredis.Redis(unix_socket_path=redis_server.socket_file, decode_responses=True)
        try:
            await JobQueue(redis).enqueue(
                UNKNOWN_PROBLEM_JOB,
                {"saleor_api_url": NOT_INSTALLED, "reference": "R1", "reason": "unknown reference"},
                job_id="ipn-unknown:test:R1",
            )
            board = ProblemBoard(redis, _no_client)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                keys = [p.key for p in await board.open(NOT_INSTALLED)]
                if keys:
                    return keys
                await asyncio.sleep(0.1)
            return []
        finally:
            await redis.aclose()

    app = create_app(settings, worker_process=True)
    with serve(app, port=port):
        # Nothing in this process runs jobs: the child does.
        assert asyncio.run(queue_and_wait()) == ["ipn-unknown-reference"]
