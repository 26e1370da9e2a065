"""Prometheus metrics: what each process counts in memory, and what Redis holds, read at scrape.

Counted in-process (no Redis round trip on the hot paths; ``prometheus-client``):

- ``up2pay_ipn_total{outcome}``: IPNs by outcome (``accepted``, ``duplicate``, ``upgraded``,
  ``unknown_reference``, ``kept``, ``signature_invalid``, ``malformed``, ``store_unavailable``);
- ``up2pay_legs_reported_total{leg,status}``: legs Saleor took (report jobs done);
- ``up2pay_webhooks_total{event,result}`` and ``up2pay_webhook_duration_seconds{event}``:
  Saleor webhooks by event and result (the answer's ``result``, or the error's public code);
- ``up2pay_gae_requests_total{type,host,code}`` and ``up2pay_gae_request_duration_seconds``:
  each request sent to a GAE host (failover counts twice) by TYPE, host and CODEREPONSE (or
  ``timeout``, ``network_error``, ``http_<status>``, ``unreadable``);
- ``up2pay_jobs_run_total{kind,result}`` and ``up2pay_job_duration_seconds{kind}``: job runs
  (``done``, ``failed``, ``rescheduled``, ``dead``, ``no_handler``).

Read from Redis when ``/metrics`` is scraped (:func:`redis_families`, a few pipelined batches,
no SCAN): ``up2pay_jobs_queued{kind}``, ``up2pay_jobs_oldest_age_seconds{kind}`` (from the
per-kind index of :mod:`saleor_up2pay.jobs`, summed over its shards), ``up2pay_jobs_due`` (due
now, not yet started), ``up2pay_jobs_dead`` and ``up2pay_open_problems{saleor_api_url}``.

Several processes (``serve`` and its worker child, the web workers of ``serve --workers N``, or
N servers and M workers on one host) share counters through ``PROMETHEUS_MULTIPROC_DIR``:
:func:`prepare_multiprocess` sets it up before any metric exists (a web worker joins its
parent's directory with :func:`join_multiprocess`), and :func:`render` then adds up every
process's files, so ``/metrics`` answered by any web worker counts them all.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from saleor_up2pay.redis_store import Redis

if TYPE_CHECKING:
    from saleor_up2pay.jobs import JobQueue

__all__ = [
    "CONTENT_TYPE_LATEST",
    "install",
    "join_multiprocess",
    "prepare_multiprocess",
    "redis_families",
    "render",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 18.0)
"""Seconds buckets up to Saleor's 18 s sync-webhook limit."""

IPNS = Counter("up2pay_ipn", "IPNs received from Up2pay, by outcome.", ["outcome"])
LEGS_REPORTED = Counter(
    "up2pay_legs_reported", "Legs reported to Saleor (report jobs done).", ["leg", "status"]
)
WEBHOOKS_ANSWERED = Counter(
    "up2pay_webhooks", "Saleor webhooks answered, by event and result.", ["event", "result"]
)
WEBHOOK_SECONDS = Histogram(
    "up2pay_webhook_duration_seconds",
    "Time to answer a Saleor webhook (verification included).",
    ["event"],
    buckets=_FAST,
)
GAE_REQUESTS = Counter(
    "up2pay_gae_requests",
    "Requests sent to Up2pay GAE hosts, by TYPE, host and CODEREPONSE (or what went wrong).",
    ["type", "host", "code"],
)
GAE_SECONDS = Histogram(
    "up2pay_gae_request_duration_seconds",
    "Time of one GAE request (one host).",
    ["type", "host"],
    buckets=_FAST,
)
JOBS_RUN = Counter("up2pay_jobs_run", "Job runs, by kind and result.", ["kind", "result"])
JOB_SECONDS = Histogram(
    "up2pay_job_duration_seconds",
    "Time of one job run.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def observe_gae(operation_type: str, url: str, code: str, seconds: float) -> None:
    """The GAE adapter's call observer (:func:`saleor_up2pay.up2pay.gae.observe_calls`)."""
    host = urlsplit(url).netloc or url
    GAE_REQUESTS.labels(operation_type, host, code).inc()
    GAE_SECONDS.labels(operation_type, host).observe(seconds)


def install() -> None:
    """Connect the adapters' hooks to these metrics (idempotent; done where the app is built)."""
    from saleor_up2pay.up2pay import gae  # noqa: PLC0415

    gae.observe_calls(observe_gae)


_multiproc_dir: str | None = None
"""The directory :func:`render` adds up (set by :func:`prepare_multiprocess`)."""
_made_dir: str | None = None
"""The temporary directory :func:`prepare_multiprocess` made, removed by :func:`release`."""


def prepare_multiprocess(configured: Path | None) -> str | None:
    """Make this process and its children count into one ``PROMETHEUS_MULTIPROC_DIR``.

    Called by ``saleor-up2pay serve`` and ``worker`` before any metric is written. With the
    setting given (N processes on one host) that directory is used as is: the operator empties
    it before starting the group. Otherwise a fresh temporary directory is made and returned
    (:func:`release` removes it when the app stops). Returns the directory made, if any.
    """
    global _multiproc_dir, _made_dir  # noqa: PLW0603 - one directory per process
    made = None
    if configured is None:
        made = _made_dir = tempfile.mkdtemp(prefix="saleor-up2pay-metrics-")
        directory = made
    else:
        directory = str(configured)
        Path(directory).mkdir(parents=True, exist_ok=True)
    # prometheus-client reads the variable itself, here and in the spawned worker child.
    os.environ[MULTIPROC_ENV] = directory  # noqa: TID251
    _multiproc_dir = directory
    # It picks its value class when ``prometheus_client.values`` is first imported: metrics
    # created from now on must write to the directory.
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        setattr(values, "ValueClass", values.get_value_class())  # noqa: B010
    return made


def join_multiprocess() -> None:
    """A process started by another that prepared the directory (a web worker of ``serve
    --workers N``): render what every process of the group counted, not only this one."""
    directory = os.environ.get(MULTIPROC_ENV)  # noqa: TID251 - set by prepare_multiprocess
    if directory:
        prepare_multiprocess(Path(directory))


def release() -> None:
    """Remove the temporary directory :func:`prepare_multiprocess` made (the app's shutdown:
    uvicorn ends the process by re-raising SIGTERM, so nothing after ``uvicorn.run`` runs)."""
    global _made_dir  # noqa: PLW0603
    if _made_dir is not None:
        shutil.rmtree(_made_dir, ignore_errors=True)
        _made_dir = None


class _Fixed(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


async def redis_families(redis: Redis, kinds: Iterable[str], queue: JobQueue) -> list[Metric]:
    """The gauges read from Redis now, whatever the queue's size: the list of queue shards, one
    pipelined batch over them (:meth:`~saleor_up2pay.jobs.JobQueue.stats`, summed), the
    installed instances and their problem counts."""
    from saleor_up2pay.problems import problems_key  # noqa: PLC0415
    from saleor_up2pay.saleor.apl import INSTANCES_KEY  # noqa: PLC0415

    kinds = sorted(kinds)
    now = time.time()
    due, dead, per_kind = await queue.stats(kinds)
    instances = await redis.smembers(INSTANCES_KEY)
    urls = sorted(str(url) for url in instances)
    counts: list[int] = []
    if urls:
        async with redis.pipeline(transaction=False) as pipe:
            for url in urls:
                pipe.hlen(problems_key(url))
            counts = [int(n) for n in await pipe.execute()]

    queued = GaugeMetricFamily(
        "up2pay_jobs_queued", "Jobs waiting or running, by kind.", labels=["kind"]
    )
    oldest = GaugeMetricFamily(
        "up2pay_jobs_oldest_age_seconds",
        "Age of the oldest job waiting or running, by kind (0 when none).",
        labels=["kind"],
    )
    for index, kind in enumerate(kinds):
        size, first = per_kind[index]
        queued.add_metric([kind], float(size))
        oldest.add_metric([kind], max(0.0, now - first) if first is not None else 0.0)
    problems = GaugeMetricFamily(
        "up2pay_open_problems",
        "Problems open on the merchant's board, by Saleor instance.",
        labels=["saleor_api_url"],
    )
    for url, count in zip(urls, counts, strict=True):
        problems.add_metric([url], float(count))
    return [
        queued,
        oldest,
        GaugeMetricFamily("up2pay_jobs_due", "Jobs due now and not started.", value=float(due)),
        GaugeMetricFamily("up2pay_jobs_dead", "Jobs that exhausted their attempts.", float(dead)),
        problems,
    ]


def render(extra: Sequence[Metric] = ()) -> bytes:
    """Exposition text: every process's counters (multiprocess) or this one's, and ``extra``."""
    if _multiproc_dir is not None:
        from prometheus_client import multiprocess  # noqa: PLC0415

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, _multiproc_dir)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if extra:
        fixed = CollectorRegistry()
        fixed.register(_Fixed(extra))
        text += generate_latest(fixed)
    return text
