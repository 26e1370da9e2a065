"""Each Redis topology starter starts, keeps a write through its primary's loss, and stops."""

from __future__ import annotations

import redis

from tests.support.redis_topologies import Topology


def _write_then_fail_over(topo: Topology, key: str) -> None:
    primary = topo.primary(key)
    with primary.client() as c:
        c.set(key, "kept")
        assert c.wait(1, 5000) == 1  # the replica has it before the primary dies
    killed = topo.kill_primary(key)
    assert killed.port == primary.port
    assert not killed.alive()
    new_primary = topo.wait_failover()
    if topo.kind == "cluster":
        new_primary = topo.primary(key)
    assert new_primary.port != killed.port
    with new_primary.client() as c:
        assert c.get(key) == "kept"
        c.set(key, "written after the failover")


def test_standalone_with_replica(redis_standalone_with_replica: Topology) -> None:
    topo = redis_standalone_with_replica
    assert topo.url == f"redis://{topo.primary().address}/0"
    assert len(topo.replicas()) == 1
    _write_then_fail_over(topo, "up2pay:test")
    assert topo.url == f"redis://{topo.primary().address}/0"


def test_sentinel_group(redis_sentinel: Topology) -> None:
    topo = redis_sentinel
    assert topo.url.startswith("redis+sentinel://")
    assert topo.url.endswith("/up2pay")
    assert len(topo.sentinels) == 3
    _write_then_fail_over(topo, "up2pay:test")


def test_cluster(redis_cluster: Topology) -> None:
    topo = redis_cluster
    assert topo.url.startswith("redis+cluster://")
    assert len(topo.primaries()) == 3
    assert len(topo.replicas()) == 3
    key = "up2pay:i:{abc}:test"
    other = "up2pay:i:{xyz}:test"
    _write_then_fail_over(topo, key)
    # the other primaries kept serving their slots
    cluster = redis.RedisCluster(host="127.0.0.1", port=topo.live_nodes()[0].port)
    try:
        cluster.set(other, "1")
        assert cluster.get(key) == b"written after the failover"
    finally:
        cluster.close()
