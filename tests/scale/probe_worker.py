"""``saleor-up2pay worker`` with one more job kind, ``test.probe``, that only records into Redis.

Run as ``python -m tests.scale.probe_worker`` (from the project root): the real command
(:func:`saleor_up2pay.cli.main` with ``["worker"]``), its handler map extended by one kind.
"""

from __future__ import annotations

import asyncio
import os
import sys

from saleor_up2pay import cli, wiring
from saleor_up2pay.jobs import Job, JobHandler
from saleor_up2pay.services import Services

PROBE_JOB = "test.probe"
RUNS_KEY = "probe:runs"  # hash: job number -> how many times a handler started it
DONE_KEY = "probe:done"  # set: job numbers whose handler finished
BY_PID_PREFIX = "probe:by:"  # list per worker pid: job numbers it started

_job_handlers = wiring.job_handlers


def _with_probe(services: Services) -> dict[str, JobHandler]:
    handlers = _job_handlers(services)

    async def probe(job: Job) -> None:
        number = str(job.payload["n"])
        await services.redis.hincrby(RUNS_KEY, number, 1)
        await services.redis.rpush(f"{BY_PID_PREFIX}{os.getpid()}", number)
        await asyncio.sleep(float(job.payload.get("sleep", 0)))
        await services.redis.sadd(DONE_KEY, number)

    handlers[PROBE_JOB] = probe
    return handlers


if __name__ == "__main__":
    wiring.job_handlers = _with_probe
    sys.exit(cli.main(["worker"]))
