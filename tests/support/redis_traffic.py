"""Redis round trips and commands of one step of a test.

- **Round trips**: writes to a Redis socket by this process's clients while the step runs
  (redis-py's ``send_packed_command``): a command alone, a pipeline (transaction or not) or a
  script is one write, answered by one read. MONITOR cannot tell a pipeline from separate
  commands, so this is counted on the client side.
- **Commands**: what the server ran, scripts' inner commands included, seen by MONITOR and
  counted by the bench's own :func:`benchmarks.run.count_round_trips` (its command column).

Standalone test server only (a Cluster or Sentinel run has no single server to watch); nothing
else in the test process may talk to Redis during the step (no running worker).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection

from benchmarks.run import count_round_trips, request_commands

_MARKER = "up2pay-test-traffic"
_END = "up2pay-test-traffic-end"


@dataclass
class Traffic:
    """What the watched step sent: filled in when the ``watch`` block ends."""

    round_trips: int = 0
    commands: int = 0
    lines: list[str] = field(default_factory=list)
    """The step's commands, one per line (script-internal ones indented), for failure output."""

    def __str__(self) -> str:
        return f"{self.round_trips} round trips, {self.commands} commands:\n" + "\n".join(
            self.lines
        )


@asynccontextmanager
async def watch(redis_server: Any) -> AsyncIterator[Traffic]:
    """Count what the block sends to the test Redis (see the module docstring)."""
    from tests.conftest import TEST_REDIS

    if TEST_REDIS != "standalone":
        pytest.skip("counts round trips on the standalone test server only")
    client = aioredis.Redis(unix_socket_path=redis_server.socket_file, decode_responses=True)
    traffic = Traffic()
    writes = 0
    original = AbstractConnection.send_packed_command

    async def counting(
        self: AbstractConnection, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        nonlocal writes
        writes += 1
        await original(self, command, check_health)

    try:
        async with client.monitor() as monitor:
            await client.echo(_MARKER)
            AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
            try:
                yield traffic
            finally:
                AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
            await client.echo(_END)
            raw: list[str] = []
            while not raw or f'"{_END}"' not in raw[-1]:
                raw.append(str(await asyncio.wait_for(monitor.connection.read_response(), 10)))
    finally:
        await client.aclose()
    step = raw[:-1]  # the closing ECHO is the watcher's
    traffic.round_trips = writes
    traffic.commands = count_round_trips(step).get(_MARKER, (0, 0))[1]
    traffic.lines = request_commands(step, _MARKER)
