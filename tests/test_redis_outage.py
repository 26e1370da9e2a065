"""A Redis outage, as an operator sees it: one log line per retry, with backoff; then recovery."""

from __future__ import annotations

import redis.exceptions
from redis.asyncio import Redis
from structlog.testing import capture_logs

from saleor_up2pay.jobs import JobQueue, Worker


class FlakyWorker(Worker):
    """The real loop; ``run_once`` fails ``outage`` times like a Redis that is down, then stops."""

    def __init__(self, queue: JobQueue, outage: int) -> None:
        super().__init__(queue, {}, poll_interval=0.001)
        self.outage_backoff_max = 0.004
        self.outage = outage
        self.calls = 0

    async def run_once(self) -> int:
        self.calls += 1
        if self.calls <= self.outage:
            msg = "Error 111 connecting to redis:6379. Connection refused."
            raise redis.exceptions.ConnectionError(msg)
        self._stopping.set()  # back: one good round, then the test ends
        return 0


async def test_outage_logs_one_line_per_try_with_backoff_then_recovery(redis: Redis) -> None:
    """Each failed try is a single WARNING (no traceback) with the reason and the growing wait,
    capped; when Redis answers again one INFO line says so."""
    worker = FlakyWorker(JobQueue(redis), outage=5)
    with capture_logs() as logs:
        await worker.run_forever()
    warnings = [e for e in logs if e["event"] == "jobs.worker_error"]
    assert [e["log_level"] for e in warnings] == ["warning"] * 5
    assert all("exc_info" not in e for e in warnings)
    assert warnings[0]["error"] == (
        "ConnectionError: Error 111 connecting to redis:6379. Connection refused."
    )
    assert [e["retry_in_seconds"] for e in warnings] == [0.001, 0.002, 0.004, 0.004, 0.004]
    assert [e["failed_tries"] for e in warnings] == [1, 2, 3, 4, 5]
    recovered = [e for e in logs if e["event"] == "jobs.worker_recovered"]
    assert recovered == [{"event": "jobs.worker_recovered", "log_level": "info", "failed_tries": 5}]
