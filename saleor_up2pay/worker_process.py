"""The job worker in a process of its own: ``serve``'s child, or ``saleor-up2pay worker``.

In one process, the IPN intake and the report jobs share one event loop on one core: under
intake load every await of a report queues behind the requests in flight, and reporting starved
(≈ 20 legs/s while IPNs came in, ``benchmarks/README.md``). The worker
(:class:`saleor_up2pay.jobs.Worker` with :func:`saleor_up2pay.wiring.job_handlers`) therefore
runs in a process of its own, in one of two roles:

- ``saleor-up2pay serve`` starts it as a child (:func:`start`, :func:`stop`): the web process
  only answers requests and queues jobs, the child runs them. Both talk to the same Redis
  (``REDIS_URL``, or the embedded server's socket started by the web process). The child stops
  when the web process stops it or when it notices the web process is gone.
- ``saleor-up2pay worker`` (:func:`run`) is the worker alone, no HTTP, for operators who run N
  ``serve --no-worker`` and M ``worker`` processes on one shared ``REDIS_URL``.

Either way SIGTERM (and, for ``worker``, SIGINT) stops claiming jobs and lets the running ones
finish within ``WORKER_GRACE_SECONDS``. Jobs are claimed atomically with a lease
(``JOB_LEASE_SECONDS``, :mod:`saleor_up2pay.jobs`): any number of workers are safe, and the
jobs of a killed worker are run by another once their lease runs out. A job queued by another
process is picked up within :data:`POLL_SECONDS` (the in-process wake-up does not cross
processes).

``create_app(settings)`` without ``worker_process=True`` (tests, ``uvicorn --factory``) keeps
the worker inside the app's process, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from multiprocessing.process import BaseProcess

import structlog

from saleor_up2pay.settings import Settings

POLL_SECONDS = 0.2
"""Longest wait before a worker process notices a job queued by another process."""


def start(
    settings: Settings, *, redis_url: str | None, unix_socket_path: str | None
) -> BaseProcess:
    """Start the worker process (spawned: nothing of the parent's event loop is inherited)."""
    context = multiprocessing.get_context("spawn")
    process = context.Process(
        target=_main,
        args=(settings, redis_url, unix_socket_path, os.getpid()),
        name="saleor-up2pay-worker",
        daemon=True,
    )
    process.start()
    return process


def stop(process: BaseProcess, grace_seconds: float = 10.0) -> None:
    """Ask the worker to stop (its running jobs finish), then make sure it is gone."""
    if process.is_alive():
        process.terminate()  # SIGTERM: graceful in the child
        process.join(grace_seconds + 5.0)
    if process.is_alive():
        process.kill()
        process.join(1.0)


def run(settings: Settings, *, redis_url: str | None, unix_socket_path: str | None = None) -> None:
    """``saleor-up2pay worker``: run jobs until SIGTERM or SIGINT (blocking)."""
    asyncio.run(_run(settings, redis_url, unix_socket_path, parent=None))


def _main(
    settings: Settings, redis_url: str | None, unix_socket_path: str | None, parent: int
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    asyncio.run(_run(settings, redis_url, unix_socket_path, parent=parent))


async def _run(
    settings: Settings, redis_url: str | None, unix_socket_path: str | None, *, parent: int | None
) -> None:
    from saleor_up2pay import metrics, tracing  # noqa: PLC0415
    from saleor_up2pay.log import configure_logging  # noqa: PLC0415
    from saleor_up2pay.main import WORKER_CONCURRENCY, build_services, build_worker  # noqa: PLC0415
    from saleor_up2pay.redis_store import new_client  # noqa: PLC0415

    configure_logging(settings.log_level, settings.log_format)
    metrics.install()
    tracing.configure(settings.otel_exporter_otlp_endpoint, role="worker")
    redis = new_client(redis_url, unix_socket_path=unix_socket_path)
    services = build_services(settings, redis)
    worker = build_worker(services, poll_interval=POLL_SECONDS)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    if parent is None:
        loop.add_signal_handler(signal.SIGINT, stopping.set)
    log = structlog.get_logger(__name__)
    log.info("worker.started", pid=os.getpid(), concurrency=WORKER_CONCURRENCY)
    worker.start()
    try:
        while not stopping.is_set() and (parent is None or os.getppid() == parent):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 1.0)
    finally:
        await worker.stop(grace_seconds=settings.worker_grace_seconds)
        await services.http.aclose()
        await redis.aclose()
        await asyncio.to_thread(tracing.shutdown)
        log.info("worker.stopped", pid=os.getpid())
