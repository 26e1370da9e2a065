"""The ASGI application factory (``uvicorn --factory saleor_up2pay.main:create_app``; each web
worker of ``saleor-up2pay serve --workers N`` uses :func:`serve_app`).

This is where the app is assembled: the services (typed collaborators, :mod:`.services`), the
``{event: handler}`` map of the webhook routes and the ``{job kind: handler}`` map of the worker
(both in :mod:`.wiring`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from saleor_up2pay import __version__, metrics, tracing
from saleor_up2pay import worker_process as worker_processes
from saleor_up2pay.api import app_routes, health, metrics_route, saleor_webhooks, up2pay_routes
from saleor_up2pay.api.limits import install_limits
from saleor_up2pay.api.saleor_webhooks import WebhookHandler
from saleor_up2pay.dashboard import order_widget
from saleor_up2pay.dashboard import routes as dashboard_routes
from saleor_up2pay.errors import install_error_handlers
from saleor_up2pay.jobs import Worker
from saleor_up2pay.log import configure_logging
from saleor_up2pay.redis_store import Redis, open_redis
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.services import Services, new_http_client
from saleor_up2pay.settings import Settings, load_settings
from saleor_up2pay.wiring import WEBHOOK_HANDLERS, job_handlers


def build_services(settings: Settings, redis: Redis) -> Services:
    return Services(
        settings=settings,
        redis=redis,
        http=new_http_client(),
        secretbox=SecretBox(settings.resolved_secret_key(), settings.secret_key_fallbacks),
    )


WORKER_CONCURRENCY = 32
"""Jobs the worker runs at once. Reports mostly wait on Saleor and Redis: under intake load each
of their awaits queues behind the requests in flight, so more of them at once keep reporting
going (8 reported ~23 legs/s under intake load in the first ``make bench``)."""


def build_worker(services: Services, **tuning: float) -> Worker:
    """The job worker over ``services``, in the app's process or in a worker process;
    ``tuning``: more of :class:`Worker`'s keyword arguments (``poll_interval``)."""
    settings = services.settings
    return Worker(
        services.job_queue,
        job_handlers(services),
        concurrency=WORKER_CONCURRENCY,
        base_backoff=settings.job_retry_base_seconds,
        max_backoff=settings.job_retry_max_seconds,
        **tuning,
    )


@asynccontextmanager
async def _flushing_traces() -> AsyncIterator[None]:
    """At shutdown: flush the spans still buffered, drop the metrics directory serve made."""
    try:
        yield
    finally:
        await asyncio.to_thread(tracing.shutdown)
        metrics.release()  # the counting directory serve made, once its worker child is gone


@asynccontextmanager
async def _run(
    app: FastAPI, settings: Settings, worker_process: bool, *, run_jobs: bool
) -> AsyncIterator[None]:
    """Open Redis and the services; run the job worker where it belongs; close all at the end."""
    handle = open_redis(settings)
    built = build_services(settings, handle.client)
    app.state.services = built
    if not run_jobs:
        try:
            yield
        finally:
            await built.http.aclose()
            await handle.close()
        return
    if worker_process:
        child = worker_processes.start(
            settings,
            redis_url=settings.redis_url,
            unix_socket_path=handle.embedded.socket_file if handle.embedded else None,
        )
        try:
            yield
        finally:
            await asyncio.to_thread(worker_processes.stop, child, settings.worker_grace_seconds)
            await built.http.aclose()
            await handle.close()
        return
    worker = build_worker(built)
    worker.start()  # durable jobs (IPN reports, deferred refunds); tests run it explicitly
    try:
        yield
    finally:
        await worker.stop(grace_seconds=settings.worker_grace_seconds)
        await built.http.aclose()
        await handle.close()


def serve_app() -> FastAPI:
    """A web worker's app under ``saleor-up2pay serve --workers N`` (uvicorn imports it by name
    and calls it once per worker process).

    The settings are read again from the environment the ``serve`` process prepared; the job
    worker is not started here (``serve`` runs exactly one beside the web workers, or none with
    ``--no-worker``), and ``/metrics`` adds up the counts of every process of the group.
    """
    settings = load_settings()
    metrics.join_multiprocess()
    return create_app(settings, worker_process=True, run_jobs=False)


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    webhook_handlers: Mapping[str, WebhookHandler] = WEBHOOK_HANDLERS,
    worker_process: bool = False,
    run_jobs: bool = True,
) -> FastAPI:
    """Build the app. With ``services`` given (tests), the lifespan opens and closes nothing
    (tests run the job worker themselves). With ``worker_process`` (``saleor-up2pay serve``)
    the job worker runs in a child process (:mod:`saleor_up2pay.worker_process`), else in this
    one; with ``run_jobs=False`` (``serve --no-worker``) nowhere: ``saleor-up2pay worker``
    processes run the jobs this one queues."""
    settings = settings or (services.settings if services else load_settings())
    metrics.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        configure_logging(settings.log_level, settings.log_format)
        async with _flushing_traces(), _run(app, settings, worker_process, run_jobs=run_jobs):
            yield

    app = FastAPI(
        title="saleor-up2pay",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,  # a 3xx on /api/register silently loses Saleor's token
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    up2pay_routes.install_ipn(app)  # the IPN, ahead of the router (inside the limits)
    saleor_webhooks.install_webhooks(app, webhook_handlers)  # Saleor's deliveries, likewise
    install_limits(app)  # body limits per route and nosniff, before any route reads
    app.include_router(health.router)
    app.include_router(metrics_route.router)
    # routers: one include per area, added below this line
    app.include_router(dashboard_routes.router)
    app.include_router(order_widget.router)
    app.include_router(app_routes.router)
    app.include_router(saleor_webhooks.webhook_router(webhook_handlers))
    app.include_router(up2pay_routes.router)
    if services is None:  # tests with their own services configure tracing themselves
        tracing.configure(settings.otel_exporter_otlp_endpoint, role="serve", app=app)
    return app
