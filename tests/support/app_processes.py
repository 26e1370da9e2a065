"""Real ``saleor-up2pay`` processes for tests: ``serve``, ``serve --no-worker``, ``worker``, ``sandbox``.

Each process is a subprocess of the CLI in a process group of its own (``start_new_session``), its
output in a log file. :func:`stop` ends the whole group (``serve`` has a worker child), gently
first, and :class:`Processes` stops everything it started when its block ends, whatever
happened inside (a failing test leaves no process behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis.asyncio as aioredis

from saleor_up2pay.jobs import JobQueue
from saleor_up2pay.problems import ProblemBoard
from saleor_up2pay.transactions.ipn_received import UNKNOWN_PROBLEM_JOB
from tests.conftest import PROJECT_ROOT

CLI = [sys.executable, "-m", "saleor_up2pay"]
"""The installed command, run by this interpreter (``python -m saleor_up2pay`` = ``saleor-up2pay``)."""


@dataclass
class AppProcess:
    """One started process: its role, base URL (servers and the sandbox) and log file."""

    name: str
    role: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def kill(process: AppProcess) -> None:
    """SIGKILL the process and everything in its group (a crash: nothing gets to clean up)."""
    _signal_group(process.popen, signal.SIGKILL)
    process.popen.wait(timeout=10)


def stop(process: AppProcess, grace_seconds: float = 15.0) -> int | None:
    """SIGTERM the group, wait up to ``grace_seconds``, then SIGKILL it; the exit code."""
    if process.alive:
        _signal_group(process.popen, signal.SIGTERM)
        try:
            process.popen.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(process.popen, signal.SIGKILL)
            process.popen.wait(timeout=10)
    # Children left behind by a killed parent (serve's worker child) share the group.
    _signal_group(process.popen, signal.SIGKILL)
    return process.popen.returncode


@dataclass
class Processes:
    """Starts CLI processes into ``folder`` (logs) with a common environment; stops them all."""

    folder: Path
    env: dict[str, str]
    started: list[AppProcess] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        url: str | None = None,
        module: str | None = None,
    ) -> AppProcess:
        """Start ``saleor-up2pay <argv>`` (or ``python -m <module> <argv>``)."""
        command = [sys.executable, "-m", module, *argv] if module else [*CLI, *argv]
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends its children too
            )
        process = AppProcess(name, argv[0], popen, log, url)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            stop(process)


@contextlib.contextmanager
def processes(folder: Path, env: dict[str, str]) -> Iterator[Processes]:
    """A :class:`Processes` whose every process is stopped when the block ends."""
    group = Processes(folder, env)
    try:
        yield group
    finally:
        group.stop_all()


def wait_http(process: AppProcess, path: str = "/healthz", seconds: float = 60.0) -> None:
    """Wait until ``GET <url><path>`` answers 200; fail with the log's tail if the process dies."""
    assert process.url is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process.alive:
            msg = f"{process.name} exited with {process.popen.returncode}:\n{process.log_text()[-3000:]}"
            raise RuntimeError(msg)
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(process.url + path, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    msg = f"{process.name} did not answer {path} in {seconds:.0f} s:\n{process.log_text()[-3000:]}"
    raise RuntimeError(msg)


def wait_log(process: AppProcess, needle: str, seconds: float = 60.0) -> None:
    """Wait until the process's log contains ``needle`` (e.g. ``"worker.started"``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if needle in process.log_text():
            return
        if not process.alive:
            msg = f"{process.name} exited with {process.popen.returncode}:\n{process.log_text()[-3000:]}"
            raise RuntimeError(msg)
        time.sleep(0.1)
    msg = f"{process.name} never logged {needle!r}:\n{process.log_text()[-3000:]}"
    raise RuntimeError(msg)


NOT_INSTALLED = "https://gone.example.com/graphql/"


async def _no_client(_: str) -> None:
    return None


async def queue_a_job_and_wait(socket_file: str, seconds: float = 30.0) -> list[str]:
    """Queue an ``ipn-unknown-reference`` problem job in the Redis at ``socket_file`` and wait
    for some other process's worker to run it: the keys of the problems then open (``[]`` if
    none opened within ``seconds``)."""
    redis = aioredis.Redis(unix_socket_path=socket_file, decode_responses=True)
    try:
        await JobQueue(redis).enqueue(
            UNKNOWN_PROBLEM_JOB,
            {"saleor_api_url": NOT_INSTALLED, "reference": "R1", "reason": "unknown reference"},
            job_id="ipn-unknown:test:R1",
        )
        board = ProblemBoard(redis, _no_client)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            keys = [p.key for p in await board.open(NOT_INSTALLED)]
            if keys:
                return keys
            await asyncio.sleep(0.1)
        return []
    finally:
        await redis.aclose()
