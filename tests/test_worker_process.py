"""``saleor-up2pay serve`` runs the job worker in a child process: jobs queued by the web process
are run there, and stopping the app stops it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from saleor_up2pay.main import create_app
from saleor_up2pay.settings import Settings
from tests.support.app_processes import queue_a_job_and_wait
from tests.support.servers import free_port, serve


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

    app = create_app(settings, worker_process=True)
    with serve(app, port=port):
        # Nothing in this process runs jobs: the child does.
        assert asyncio.run(queue_a_job_and_wait(redis_server.socket_file)) == [
            "ipn-unknown-reference"
        ]
