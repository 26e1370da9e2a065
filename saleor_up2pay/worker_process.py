"""The job worker in a process of its own, started and stopped by ``saleor-up2pay serve``.

In one process, the IPN intake and the report jobs share one event loop on one core: under
intake load every await of a report queues behind the requests in flight, and reporting starved
(≈ 20 legs/s while IPNs came in, ``benchmarks/README.md``). ``serve`` therefore runs the worker
(:class:`saleor_up2pay.jobs.Worker` with :func:`saleor_up2pay.wiring.job_handlers`) in a child
process: the web process only answers requests and queues jobs, the child runs them, and the
second core is used. Both talk to the same Redis (``REDIS_URL``, or the embedded server's socket
started by the web process); the queue's leases make any number of workers safe.

The child stops when the web process stops it (SIGTERM, running jobs finish within the grace
period) or when it notices the web process is gone. A job queued by the web process is picked
up within :data:`POLL_SECONDS` (the in-process wake-up does not cross processes).

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

from saleor_up2pay.settings import Settings

POLL_SECONDS = 0.2
"""Longest wait before the child notices a job queued by the web process."""
STOP_GRACE_SECONDS = 10.0


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


def stop(process: BaseProcess) -> None:
    """Ask the worker to stop (its running jobs finish), then make sure it is gone."""
    if process.is_alive():
        process.terminate()  # SIGTERM: graceful in the child
        process.join(STOP_GRACE_SECONDS)
    if process.is_alive():
        process.kill()
        process.join(1.0)


def _main(
    settings: Settings, redis_url: str | None, unix_socket_path: str | None, parent: int
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    asyncio.run(_run(settings, redis_url, unix_socket_path, parent))


async def _run(
    settings: Settings, redis_url: str | None, unix_socket_path: str | None, parent: int
) -> None:
    from saleor_up2pay.jobs import Worker  # noqa: PLC0415 - imported in the child only
    from saleor_up2pay.log import configure_logging  # noqa: PLC0415
    from saleor_up2pay.redis_store import new_client  # noqa: PLC0415
    from saleor_up2pay.secretbox import SecretBox  # noqa: PLC0415
    from saleor_up2pay.services import Services, new_http_client  # noqa: PLC0415
    from saleor_up2pay.wiring import job_handlers  # noqa: PLC0415

    configure_logging(settings.log_level, settings.log_format)
    redis = new_client(redis_url, unix_socket_path=unix_socket_path)
    services = Services(
        settings=settings,
        redis=redis,
        http=new_http_client(),
        secretbox=SecretBox(settings.resolved_secret_key(), settings.secret_key_fallbacks),
    )
    from saleor_up2pay.main import WORKER_CONCURRENCY  # noqa: PLC0415

    worker = Worker(
        services.job_queue,
        job_handlers(services),
        concurrency=WORKER_CONCURRENCY,
        base_backoff=settings.job_retry_base_seconds,
        max_backoff=settings.job_retry_max_seconds,
        poll_interval=POLL_SECONDS,
    )
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    worker.start()
    try:
        while not stopping.is_set() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 1.0)
    finally:
        await worker.stop()
        await services.http.aclose()
        await redis.aclose()
