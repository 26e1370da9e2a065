"""An IPN is answered 200 only once a replica has its leg; a killed primary loses no such IPN.

Real servers (tests/support/redis_topologies.py): a primary with a replica, a Sentinel group,
a Redis Cluster. The app runs in-process (ASGI), with the REDIS_URL of the topology.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest

from saleor_up2pay.main import create_app
from saleor_up2pay.redis_store import (
    ReplicaAckMissing,
    ReplicaAcks,
    WriteLost,
    close_client,
    instance_key,
    new_client,
)
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.services import Services, new_http_client
from saleor_up2pay.settings import Settings
from saleor_up2pay.transactions.legs import LegRepository
from saleor_up2pay.transactions.sessions import SessionRepository
from tests.support import figures
from tests.support.redis_topologies import Node, Topology
from tests.support.sessions import session_of
from tests.transactions.ipn_support import ipn, write_public_key

API_URL = "https://shop.example.com/graphql/"
REFERENCE = "Ureplica000000000001"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BURST = 120
"""IPNs of the burst; the primary is killed after a third of them were answered."""


def _settings(tmp_path: Path, url: str, ack: str = "auto") -> Settings:
    return Settings(
        _env_file=None,
        app_url="http://app.test",
        data_dir=tmp_path / "var",
        secret_key="test-secret-key",
        redis_url=url,
        redis_replica_ack=ack,
        redis_replica_ack_ms=300,
        up2pay_public_keys=[str(write_public_key(tmp_path / "keys"))],
    )


@asynccontextmanager
async def _app(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """The app in-process on the topology (no job worker: only the intake is under test)."""
    redis = new_client(settings.redis_url)
    http = new_http_client()
    services = Services(
        settings=settings, redis=redis, http=http, secretbox=SecretBox("test-secret-key")
    )
    app = create_app(services=services)
    app.state.services = services
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            yield client, services
    finally:
        await http.aclose()
        await close_client(redis)


async def _post(client: httpx.AsyncClient, numtrans: str) -> httpx.Response:
    raw = ipn(REFERENCE, amount_cents=2000, numtrans=numtrans)
    return await client.post("/api/up2pay/ipn", content=raw, headers=FORM)


@contextmanager
def _frozen(node: Node) -> Iterator[None]:
    """SIGSTOP a server: its connections stay open, it answers nothing (a stalled replica)."""
    os.kill(node.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(node.process.pid, signal.SIGCONT)


def _leg_key(numtrans: str) -> str:
    return instance_key(API_URL, "leg", numtrans)


async def test_200_once_a_replica_has_the_leg_503_while_none_acknowledges(
    redis_standalone_with_replica: Topology, tmp_path: Path
) -> None:
    topo = redis_standalone_with_replica
    (replica,) = topo.replicas()
    async with _app(_settings(tmp_path, topo.url)) as (client, services):
        await SessionRepository(services.redis).save(session_of(API_URL, REFERENCE))

        answered = await _post(client, "100000001")
        assert answered.status_code == 200
        with replica.client() as direct:  # acknowledged: the replica has it already
            assert direct.get(_leg_key("100000001")) is not None

        with _frozen(replica):
            refused = await _post(client, "100000002")
        assert refused.status_code == 503
        assert refused.headers["retry-after"]

        # Up2pay sends it again: the intake knows the leg (stored on the primary) and the
        # replica now acknowledges it.
        again = await _post(client, "100000002")
        assert again.status_code == 200
        with replica.client() as direct:
            assert direct.get(_leg_key("100000002")) is not None
        legs = await LegRepository(services.redis).legs_for_reference(API_URL, REFERENCE)
        assert sorted(leg.numtrans for leg in legs) == ["100000001", "100000002"]
        assert await services.job_queue.pending_count() == 2  # one report job each


async def test_required_refuses_without_a_replica_auto_does_not_wait(
    redis_standalone_with_replica: Topology, tmp_path: Path
) -> None:
    topo = redis_standalone_with_replica
    (replica,) = topo.replicas()
    topo.kill(replica)
    async with _app(_settings(tmp_path, topo.url, ack="required")) as (client, services):
        await SessionRepository(services.redis).save(session_of(API_URL, REFERENCE))
        assert (await _post(client, "100000003")).status_code == 503
    async with _app(_settings(tmp_path, topo.url, ack="auto")) as (client, _):
        assert (await _post(client, "100000003")).status_code == 200
    async with _app(_settings(tmp_path, topo.url, ack="off")) as (client, _):
        assert (await _post(client, "100000004")).status_code == 200


async def _burst_through_a_primary_kill(topo: Topology, tmp_path: Path) -> dict[str, int]:
    """Send :data:`BURST` IPNs, each until answered 200 (as Up2pay retries), killing the
    primary that holds the instance's keys a third of the way; returns the figures."""
    answered: set[str] = set()
    refused = 0
    async with _app(_settings(tmp_path, topo.url)) as (client, services):
        await SessionRepository(services.redis).save(session_of(API_URL, REFERENCE))
        numbers = [str(200_000_000 + n) for n in range(BURST)]
        killed = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        pending = list(numbers)
        while pending:
            assert loop.time() < deadline, f"IPNs never acknowledged: {pending[:5]}..."
            batch, pending = pending[:8], pending[8:]
            answers = await asyncio.gather(
                *(_post(client, n) for n in batch), return_exceptions=True
            )
            for number, answer in zip(batch, answers, strict=True):
                if isinstance(answer, httpx.Response) and answer.status_code == 200:
                    answered.add(number)
                else:
                    refused += 1
                    pending.append(number)  # Up2pay sends it again later
            if not killed and len(answered) >= BURST // 3:
                await asyncio.to_thread(topo.kill_primary, _leg_key("x"))
                killed = True
            if refused and len(pending) <= 8:
                await asyncio.sleep(0.2)  # the failover takes a few seconds
        await asyncio.to_thread(topo.wait_failover)
    # Read back on a fresh client (the new primary): every acknowledged IPN has its leg.
    redis = new_client(topo.url)
    try:
        legs = await LegRepository(redis).legs_for_reference(API_URL, REFERENCE)
    finally:
        await close_client(redis)
    stored = {leg.numtrans for leg in legs}
    return {
        "IPNs": BURST,
        "answered 200": len(answered),
        "answered 503 (sent again)": refused,
        "legs after failover": len(stored),
        "acknowledged and lost": len(answered - stored),
    }


async def _no_acknowledged_ipn_lost(topo: Topology, tmp_path: Path) -> None:
    """A burst through a primary kill: every IPN answered 200, none of them lost (the counts
    go to the figures table, under ``topo.kind``)."""
    counts = await _burst_through_a_primary_kill(topo, tmp_path)
    figures.add_row(
        "Killed Redis primary during an IPN burst (in-process)",
        " | ".join(["topology", *counts]),
        " | ".join([topo.kind, *(str(value) for value in counts.values())]),
    )
    assert counts["answered 200"] == BURST
    assert counts["acknowledged and lost"] == 0


async def test_a_killed_sentinel_primary_loses_no_acknowledged_ipn(
    redis_sentinel: Topology, tmp_path: Path
) -> None:
    await _no_acknowledged_ipn_lost(redis_sentinel, tmp_path)


async def test_a_killed_cluster_primary_loses_no_acknowledged_ipn(
    redis_cluster: Topology, tmp_path: Path
) -> None:
    await _no_acknowledged_ipn_lost(redis_cluster, tmp_path)


async def _noscript_then_ipn(topo: Topology, tmp_path: Path) -> None:
    """A new primary after a failover has no scripts: the intake's EVALSHA inside the
    [script, WAIT] pipeline fails with NOSCRIPT. The IPN must still be stored, acknowledged by a
    replica and answered 200 (never a 200 on the failed pipeline's WAIT alone)."""
    async with _app(_settings(tmp_path, topo.url, ack="required")) as (client, services):
        await SessionRepository(services.redis).save(session_of(API_URL, REFERENCE))
        assert (await _post(client, "300000001")).status_code == 200
        await services.redis.script_flush()  # as on a freshly promoted primary
        assert (await _post(client, "300000002")).status_code == 200
        legs = await LegRepository(services.redis).legs_for_reference(API_URL, REFERENCE)
        assert sorted(leg.numtrans for leg in legs) == ["300000001", "300000002"]
    replica = next(n for n in topo.replicas() if n.alive())
    if topo.kind == "cluster":  # the replica of the instance's primary
        owner = topo.primary(_leg_key("300000002"))
        replica = next(
            n for n in topo.replicas() if n.info("replication")["master_port"] == owner.port
        )
    with replica.client() as direct:
        if topo.kind == "cluster":
            direct.execute_command("READONLY")
        assert direct.get(_leg_key("300000002")) is not None


async def test_an_ipn_after_script_flush_is_stored_and_acknowledged(
    redis_standalone_with_replica: Topology, tmp_path: Path
) -> None:
    await _noscript_then_ipn(redis_standalone_with_replica, tmp_path)


async def test_an_ipn_after_script_flush_on_a_cluster_is_stored_and_acknowledged(
    redis_cluster: Topology, tmp_path: Path
) -> None:
    await _noscript_then_ipn(redis_cluster, tmp_path)


async def test_confirm_waits_for_a_replica_to_have_an_earlier_write(
    redis_standalone_with_replica: Topology,
) -> None:
    """The journal intent's confirmation before a GAE call (ReplicaAcks.confirm)."""
    topo = redis_standalone_with_replica
    (replica,) = topo.replicas()
    acks = ReplicaAcks("required", 300)
    redis = new_client(topo.url)
    key = instance_key(API_URL, "op", "confirm-me")
    try:
        with _frozen(replica):
            await redis.set(key, "intent", ex=3600)
            with pytest.raises(ReplicaAckMissing):
                await acks.confirm(redis, key)
        await acks.confirm(redis, key)  # the replica caught up: acknowledged
        with replica.client() as direct:
            assert direct.get(key) == "intent"
            assert direct.ttl(key) > 3000  # the rewrite kept the TTL
        await redis.delete(key)  # as if a failover had lost it
        with pytest.raises(WriteLost):
            await acks.confirm(redis, key)
        assert await redis.exists(key) == 0  # nothing written back
    finally:
        await close_client(redis)
