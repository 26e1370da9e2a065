"""``saleor-up2pay serve --workers 2``: two web workers answer, one job worker runs the jobs,
``/metrics`` adds up what both web workers counted, and SIGTERM stops every process.

The real command runs in a subprocess against the test Redis (``REDIS_URL``); nothing is faked.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.conftest import PROJECT_ROOT
from tests.support.app_processes import queue_a_job_and_wait
from tests.support.servers import free_port

METRICS_TOKEN = "serve-workers-metrics-token"


def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _ipn_counts_by_pid(directory: Path) -> dict[int, float]:
    """IPNs counted by each process, from prometheus-client's per-process files."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(re.findall(r"\d+", path.name)[0])
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[0] == "up2pay_ipn":
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


@pytest.fixture
def serve_two_workers(
    tmp_path: Path, redis_server: Any
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    redis_server.flushdb()
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    env = {
        **os.environ,
        "REDIS_URL": f"unix://{redis_server.socket_file}",
        "SECRET_KEY": "serve-workers-secret",
        "DATA_DIR": str(tmp_path / "var"),
        "APP_URL": f"http://127.0.0.1:{port}",
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "LOG_FORMAT": "json",
        "WORKER_GRACE_SECONDS": "5",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "saleor_up2pay", "serve", "--workers", "2", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "serve did not become ready"
                time.sleep(0.1)
            yield process, url, metrics_dir
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_two_web_workers_one_job_worker_and_sigterm_stops_all(
    serve_two_workers: tuple[subprocess.Popen[bytes], str, Path], redis_server: Any, tmp_path: Path
) -> None:
    process, url, metrics_dir = serve_two_workers
    children = _children(process.pid)
    assert len(children) >= 3  # two web workers and the job worker (spawned: maybe a tracker)

    # Both web workers answer: unsigned IPNs (refused, counted) on fresh connections until each
    # worker has counted some.
    web_pids: set[int] = set()
    sent = 0

    async def send_batch() -> int:
        async def one() -> int:
            async with httpx.AsyncClient(base_url=url) as client:
                answer = await client.post("/api/up2pay/ipn", content=b"R=X&K=bad")
                return answer.status_code

        statuses = await asyncio.gather(*(one() for _ in range(16)))
        assert all(status in {400, 403} for status in statuses), statuses
        return len(statuses)

    deadline = time.monotonic() + 60
    while len(web_pids) < 2:
        sent += asyncio.run(send_batch())
        web_pids = set(_ipn_counts_by_pid(metrics_dir)) & children
        assert time.monotonic() < deadline, f"only {web_pids} answered"

    # /metrics, answered by either worker, counts what both served.
    for _ in range(4):
        text = httpx.get(
            url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        ).text
        counted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("up2pay_ipn_total{")
        )
        assert counted == sent

    # One job worker runs the jobs the web workers queue.
    assert asyncio.run(queue_a_job_and_wait(redis_server.socket_file)) == ["ipn-unknown-reference"]

    # SIGTERM: every process of the group stops, and serve exits cleanly.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]
    log = (tmp_path / "serve.log").read_text()
    started = [line for line in log.splitlines() if '"worker.started"' in line]
    assert len(started) == 1, "exactly one job worker for the whole serve"
