"""A durable job queue on Redis: work that must happen later, survive restarts, and be retried.

Generic: it knows nothing of Saleor, Up2pay or the use cases. The app uses it to report verified
IPNs to Saleor (retried until Saleor accepts them), to report follow-up events, and for refunds
Up2pay only allows the day after the payment; which function runs which kind of job is one
explicit map built where the app is assembled (:func:`saleor_up2pay.wiring.job_handlers`).

Job ids: callers give ids of the form ``<kind>:<scope>:<rest>`` (the scope is one Saleor
instance's id, :func:`saleor_up2pay.redis_store.instance_id`); other ids are global jobs. Nothing
outside this module reads or writes the queue's Redis keys.

Storage: one **shard** per scope, under the scope's hash tag, next to that instance's data
(``up2pay:i:{<scope>}:jobs:...``, :func:`saleor_up2pay.redis_store.scope_key`), and one for the
global jobs (``up2pay:{global}:jobs:...``). A shard's keys share one hash slot, so every script
below works on a Redis Cluster, and the IPN intake writes a leg and its report job in one
script (ADR 0005). Per shard:

- ``...jobs:due`` — sorted set, member = job id, score = when it may run next (epoch seconds).
- ``...jobs:job:<id>`` — hash: ``kind``, ``payload`` (JSON), ``attempts``, ``created_at``,
  ``last_error``, ``lease`` (the claim token while a worker holds it), ``trace`` (the W3C
  ``traceparent`` of the request that queued it, when traced: :mod:`saleor_up2pay.tracing`).
- ``...jobs:kind:<kind>`` — sorted set per kind, member = job id, score = when it was
  queued: the pending jobs of a kind (waiting or running), so ``/metrics`` reads each kind's
  depth and oldest job without scanning (:meth:`JobQueue.stats`, summed over the shards).
  Written with the job, removed when it is done, dead or dropped.
- ``...jobs:dead`` — list of the ids of jobs that exhausted their ``max_attempts``.

``up2pay:{global}:jobs:shards`` lists the scopes that have a shard: a process adds a scope
before it first writes a job there (then once a minute), and workers re-read the list every
second, so a worker claims from every shard whichever process queued the job.
:meth:`JobQueue.drop_scope` (APP_DELETED) deletes a scope's shard and takes it off the list.
The list is an index that can lose an entry (its ``SADD`` is not waited on: a failover of the
``{global}`` primary may lose it while the job, in another slot or WAITed, survived), so
workers also sweep (:meth:`JobQueue.sweep_shards`, every :data:`SHARD_SWEEP_SECONDS`, and when
they start): a ``SCAN`` of every primary for the shards' due sets, re-listing those missing.

Enqueueing is one atomic Lua script (the hash and its due time are written together, so a Redis
failure mid-way cannot leave a job that exists but is never due). Claiming is another: it moves
the job's due time forward by the visibility timeout and sets a lease token; while the handler
runs, the worker extends the lease every third of that timeout (a slow Saleor or GAE cannot make a
second worker start the same job). If the process dies mid-job, the job becomes due again when the
lease runs out and another worker re-runs it. Handlers must therefore be idempotent. Finishing or
failing a job only takes effect while the caller still holds the lease.

API::

    queue = services.job_queue            # the process-wide JobQueue
    await queue.enqueue("ipn.report", {"reference": "..."}, job_id="ipn:...", run_at=when)
    # -> True if queued, False if a job with this id is already pending (dedupe)
    await queue.run_now("ipn:...")         # a waiting job becomes due at once
    await queue.drop_scope(scope)          # forget every job ``<kind>:<scope>:...``
    await queue.pending_count(); await queue.pending_ids(); await queue.dead_jobs()

    async def run_refund(job: Job) -> None:
        ...                                # return = done; raise = retried with backoff
        raise RetryAt(when, "not allowed yet")   # reschedule without counting a failure
        return COMPLETED                   # done, completed by the handler's own script
                                           # (COMPLETE_LUA, lease checked there)

    worker = Worker(queue, {"refund.deferred": run_refund})
    await worker.run_once()                # run every due job once; returns how many ran
    await worker.drain()                   # run until nothing is due (tests)
    worker.start(); await worker.stop()    # background task (the app's lifespan does this);
                                           # stop() lets running jobs finish (grace period)

A failing job is retried with exponential backoff (``base * 2**(attempts-1)``, capped at
``max_backoff``) forever unless it was enqueued with ``max_attempts``; only then does it move to
its shard's dead list (never used for IPN reports: they retry until Saleor accepts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, cast

import structlog

from saleor_up2pay.metrics import JOB_SECONDS, JOBS_RUN
from saleor_up2pay.redis_store import (
    LuaScript,
    Redis,
    glob_escape,
    global_key,
    purge_prefix,
    scan_keys,
    scope_key,
)
from saleor_up2pay.tracing import current_traceparent, job_span

log = structlog.get_logger(__name__)

SHARDS_KEY = global_key("jobs", "shards")
"""Set of the scopes that have a queue shard (the global shard is always there)."""
SHARD_REFRESH_SECONDS = 1.0
"""How often a worker re-reads :data:`SHARDS_KEY` (its own process's shards it knows at once)."""
SHARD_MEMO_SECONDS = 60.0
"""How long a process trusts that a scope it registered is still in :data:`SHARDS_KEY`."""
SHARD_SWEEP_SECONDS = 60.0
"""How often a worker looks for shards :data:`SHARDS_KEY` lost (:meth:`JobQueue.sweep_shards`)."""


@dataclass(frozen=True)
class Shard:
    """The queue's keys for the jobs of one scope (or the global jobs), in one hash slot."""

    scope: str | None
    """The scope (an instance id), None for the global shard."""
    prefix: str

    @property
    def due(self) -> str:
        return self.prefix + "due"

    @property
    def dead(self) -> str:
        return self.prefix + "dead"

    @property
    def job_prefix(self) -> str:
        return self.prefix + "job:"

    def job(self, job_id: str) -> str:
        return self.job_prefix + job_id

    def kind(self, kind: str) -> str:
        """The index of the pending jobs of one kind in this shard (module docstring)."""
        return self.prefix + "kind:" + kind


GLOBAL_SHARD = Shard(None, global_key("jobs", ""))


def scope_shard(scope: str) -> Shard:
    """The shard of one scope: under the scope's hash tag, with the scope's other data."""
    return Shard(scope, scope_key(scope, "jobs", ""))


def job_scope(job_id: str) -> str | None:
    """The scope of a job id ``<kind>:<scope>:<rest>`` (None: a global job)."""
    parts = job_id.split(":", 2)
    if len(parts) < 3 or not parts[1] or "{" in parts[1] or "}" in parts[1]:
        return None
    return parts[1]


def shard_of(job_id: str) -> Shard:
    """Where the job ``job_id`` is stored."""
    scope = job_scope(job_id)
    return GLOBAL_SHARD if scope is None else scope_shard(scope)


DEFAULT_VISIBILITY_TIMEOUT = 60.0
DEFAULT_BASE_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 300.0


ENQUEUE_LUA = """
local function enqueue_job(due_key, job_key, kind_key, job_id, due, kind, payload, created_at,
    trace, max_attempts)
  if redis.call('HEXISTS', job_key, 'payload') == 1 then return 0 end
  redis.call('DEL', job_key)
  redis.call('HSET', job_key, 'kind', kind, 'payload', payload, 'attempts', '0',
    'created_at', created_at, 'last_error', '', 'max_attempts', max_attempts or '',
    'trace', trace or '')
  redis.call('ZADD', due_key, due, job_id)
  redis.call('ZADD', kind_key, created_at, job_id)
  return 1
end
"""
"""A Lua function for other scripts that must queue a job atomically with their own writes.

``enqueue_job(due_key, job_key, kind_key, job_id, due, kind, payload_json, created_at, trace)``
does what :meth:`JobQueue.enqueue` does (an optional last argument, ``max_attempts`` as text,
is the one :meth:`JobQueue.enqueue` passes; nil or '': none). A hash without a payload (left by
an older, non-atomic enqueue) counts as absent. The keys come from
:meth:`JobQueue.script_keys` and must be declared in the calling script's KEYS (they share the
job's scope hash tag); ``trace``: :func:`saleor_up2pay.tracing.current_traceparent`, may be nil.
The caller awaits :meth:`JobQueue.register_shard` before the script and calls
:meth:`JobQueue.wake` after it ran.
"""

# KEYS[1] = due zset, KEYS[2] = job hash, KEYS[3] = kind index; ARGV = job id, due at, kind,
# payload, created at, trace, max attempts ('' for none)
_ENQUEUE = (
    ENQUEUE_LUA
    + "return enqueue_job(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], "
    + "ARGV[5], ARGV[6], ARGV[7])\n"
)


# KEYS[1] = due zset, KEYS[2] = job hash; ARGV = job id, token, lease until
_EXTEND = """
if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1
"""

# KEYS[1] = due zset, KEYS[2] = job hash; ARGV = job id, now. Only a waiting (unleased) job.
_RUN_NOW = """
if redis.call('HEXISTS', KEYS[2], 'payload') == 0 then return 0 end
if redis.call('HEXISTS', KEYS[2], 'lease') == 1 then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
return 1
"""

# KEYS[1] = due zset; ARGV = now, lease_until, limit, job key prefix, token prefix.
# The job hashes are found from the ids the due zset holds (they cannot be declared in KEYS):
# they share the due zset's hash tag, so the script stays in one slot on a Redis Cluster.
# Returns {job id, token, {the job hash's field, value, ...}} per claimed job.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local claimed = {}
for i, id in ipairs(ids) do
  local key = ARGV[4] .. id
  if redis.call('EXISTS', key) == 1 then
    local token = ARGV[5] .. ':' .. i
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'lease', token)
    table.insert(claimed, {id, token, redis.call('HGETALL', key)})
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return claimed
"""

COMPLETE_LUA = """
local function complete_job(due_key, job_key, kind_key, job_id, lease)
  if redis.call('HGET', job_key, 'lease') ~= lease then return 0 end
  redis.call('DEL', job_key)
  redis.call('ZREM', due_key, job_id)
  redis.call('ZREM', kind_key, job_id)
  return 1
end
"""
"""A Lua function for a handler's own script that finishes the job with its last writes.

``complete_job(due_key, job_key, kind_key, job_id, lease)`` does what :meth:`JobQueue.complete`
does: only while ``lease`` (:attr:`Job.lease`) still holds the job, else nothing (0). The keys
come from :meth:`JobQueue.script_keys` (``job.id``, ``job.kind``) and must be declared in the
calling script's KEYS (they share the job's scope hash tag). The handler then returns
:data:`COMPLETED` so that the worker does not complete the job a second time.
"""

# KEYS[1] = due zset, KEYS[2] = job hash, KEYS[3] = kind index; ARGV = job id, token
_COMPLETE = COMPLETE_LUA + "return complete_job(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])\n"

# KEYS[1] = due zset, KEYS[2] = job hash; ARGV = job id, token, due at, error, count attempt (0/1)
_RESCHEDULE = """
if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], 'lease')
redis.call('HSET', KEYS[2], 'last_error', ARGV[4])
if ARGV[5] == '0' then redis.call('HINCRBY', KEYS[2], 'attempts', -1) end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""

# KEYS[1] = due zset, KEYS[2] = job hash, KEYS[3] = dead list, KEYS[4] = kind index;
# ARGV = job id, token, error
_BURY = """
if redis.call('HGET', KEYS[2], 'lease') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], 'lease')
redis.call('HSET', KEYS[2], 'last_error', ARGV[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Job:
    """One claimed job, as a handler sees it."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    """How many times it has been claimed, this run included (1 on the first run)."""
    created_at: float
    last_error: str
    max_attempts: int | None
    lease: str = ""
    trace: str = ""
    """The ``traceparent`` of the request that queued the job ('' when it was not traced)."""


class RetryAt(Exception):
    """Raised by a handler: run this job again at ``when`` (not counted as a failed attempt)."""

    def __init__(self, when: datetime, reason: str = "") -> None:
        super().__init__(reason or f"rescheduled at {when.isoformat()}")
        self.when = when
        self.reason = reason


class _Completed:
    def __repr__(self) -> str:
        return "COMPLETED"


COMPLETED: Final = _Completed()
"""Returned by a handler that completed its job itself, in its own script (:data:`COMPLETE_LUA`):
the worker does not complete it again (any other return value: the worker completes it)."""

JobHandler = Callable[[Job], Awaitable[object]]
"""Runs one job: return = done (:data:`COMPLETED`: done, and completed by the handler); raise =
retried with backoff; :class:`RetryAt` = reschedule."""


def _to_epoch(when: datetime) -> float:
    if when.tzinfo is None:
        msg = "run_at must be timezone-aware"
        raise ValueError(msg)
    return when.timestamp()


def _job_from_hash(job_id: str, data: Mapping[str, str]) -> Job | None:
    if not data or "payload" not in data:
        return None
    max_attempts = data.get("max_attempts", "")
    return Job(
        id=job_id,
        kind=data["kind"],
        payload=json.loads(data["payload"]),
        attempts=int(data.get("attempts", "0")),
        created_at=float(data.get("created_at", "0")),
        last_error=data.get("last_error", ""),
        max_attempts=int(max_attempts) if max_attempts else None,
        lease=data.get("lease", ""),
        trace=data.get("trace", ""),
    )


_SCRIPTS: dict[str, LuaScript] = {}


async def _eval(redis: Redis, source: str, numkeys: int, *args: str) -> Any:
    """Run one of this module's scripts by SHA1 (its text is sent once per server)."""
    script = _SCRIPTS.get(source)
    if script is None:
        script = _SCRIPTS[source] = LuaScript(source)
    return await script(redis, list(args[:numkeys]), list(args[numkeys:]))


class JobQueue:
    """Durable queue of jobs in Redis, sharded by scope (see the module docstring)."""

    def __init__(
        self,
        redis: Redis,
        *,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.visibility_timeout = visibility_timeout
        self.clock = clock
        self._wake = asyncio.Event()
        self._registered: dict[str, float] = {}
        """Scopes this process put in :data:`SHARDS_KEY`, with when (monotonic)."""
        self._shards: dict[str | None, Shard] = {None: GLOBAL_SHARD}
        self._shards_read_at = -SHARD_REFRESH_SECONDS
        self._next_shard = 0

    # --- shards ---------------------------------------------------------------------------------
    async def sweep_shards(self) -> list[str]:
        """Re-list in :data:`SHARDS_KEY` every scope that has pending jobs but is not listed;
        returns those scopes.

        The list's ``SADD`` is not waited on: after a failover it may be gone while the jobs
        survived, and no worker would claim them until the scope's next enqueue. A ``SCAN`` of
        every primary (a Cluster's too) for the shards' due sets finds them again.
        """
        head, _, tail = scope_key("\0", "jobs", "due").partition("\0")
        pattern = glob_escape(head) + "*" + glob_escape(tail)
        found: set[str] = set()
        for key in await scan_keys(self.redis, pattern):
            scope = key[len(head) : len(key) - len(tail)]
            if scope and "{" not in scope and "}" not in scope:
                found.add(scope)
        if not found:
            return []
        listed = {str(s) for s in cast("set[str]", await self.redis.smembers(SHARDS_KEY))}
        missing = sorted(found - listed)
        if missing:
            await self.redis.sadd(SHARDS_KEY, *missing)
            log.warning("jobs.shards_relisted", scopes=len(missing))
            for scope in missing:
                self._shards.setdefault(scope, scope_shard(scope))
        return missing

    async def register_shard(self, job_id: str) -> Shard:
        """The shard of ``job_id``, listed in :data:`SHARDS_KEY` so every worker claims from it.

        One ``SADD`` the first time this process uses a scope (then again every
        :data:`SHARD_MEMO_SECONDS`), none otherwise: the scope's jobs are written only after
        their shard is listed.
        """
        shard = shard_of(job_id)
        scope = shard.scope
        if scope is None:
            return shard
        now = time.monotonic()
        if now - self._registered.get(scope, -SHARD_MEMO_SECONDS) >= SHARD_MEMO_SECONDS:
            await self.redis.sadd(SHARDS_KEY, scope)
            self._registered[scope] = now
        self._shards.setdefault(scope, shard)
        return shard

    async def shards(self, *, refresh: bool = False) -> list[Shard]:
        """Every shard: the global one, those this process used, those :data:`SHARDS_KEY` lists
        (re-read every :data:`SHARD_REFRESH_SECONDS`, or at once with ``refresh``)."""
        now = time.monotonic()
        if refresh or now - self._shards_read_at >= SHARD_REFRESH_SECONDS:
            scopes = cast("set[str]", await self.redis.smembers(SHARDS_KEY))
            listed: dict[str | None, Shard] = {None: GLOBAL_SHARD}
            for scope in sorted(str(s) for s in scopes):
                listed[scope] = scope_shard(scope)
            for scope, at in self._registered.items():  # registered here, maybe dropped since
                if now - at < SHARD_MEMO_SECONDS:
                    listed.setdefault(scope, scope_shard(scope))
            self._shards = listed
            self._shards_read_at = now
        return list(self._shards.values())

    def script_keys(self, job_id: str, kind: str) -> tuple[str, str, str]:
        """``(due key, job key, kind index key)`` of a job, for :data:`ENQUEUE_LUA` in another
        script (declare them in its KEYS; call :meth:`register_shard` first)."""
        shard = shard_of(job_id)
        return shard.due, shard.job(job_id), shard.kind(kind)

    def due_text(self, run_at: datetime | None = None) -> str:
        """``due at`` (epoch seconds, as text) for :data:`ENQUEUE_LUA`; also its ``created_at``."""
        return repr(self.clock() if run_at is None else _to_epoch(run_at))

    # --- one job --------------------------------------------------------------------------------
    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        run_at: datetime | None = None,
        job_id: str | None = None,
        max_attempts: int | None = None,
    ) -> bool:
        """Queue a job; with ``job_id`` a second enqueue of a pending job is a no-op (False)."""
        job_id = job_id or secrets.token_hex(12)
        due = self.due_text(run_at)
        created_at = repr(self.clock())
        shard = await self.register_shard(job_id)
        # One script: either the whole job (hash + due time) exists afterwards, or nothing new.
        created = await _eval(
            self.redis,
            _ENQUEUE,
            3,
            shard.due,
            shard.job(job_id),
            shard.kind(kind),
            job_id,
            due,
            kind,
            json.dumps(dict(payload), separators=(",", ":")),
            created_at,
            current_traceparent(),
            "" if max_attempts is None else str(max_attempts),
        )
        if not created:
            return False
        self._wake.set()
        return True

    async def claim(self, limit: int = 10) -> list[Job]:
        """Lease up to ``limit`` due jobs (they become due again after the visibility timeout).

        Shards are visited in turn, starting one further at each call, so that no scope's jobs
        wait behind a busy one.
        """
        shards = await self.shards()
        start = self._next_shard % len(shards)
        self._next_shard += 1
        jobs: list[Job] = []
        for shard in shards[start:] + shards[:start]:
            if len(jobs) >= limit:
                break
            jobs += await self._claim_from(shard, limit - len(jobs))
        return jobs

    async def _claim_from(self, shard: Shard, limit: int) -> list[Job]:
        now = self.clock()
        token_prefix = secrets.token_hex(8)
        raw = cast(
            "list[list[Any]]",
            await _eval(
                self.redis,
                _CLAIM,
                1,
                shard.due,
                repr(now),
                repr(now + self.visibility_timeout),
                str(limit),
                shard.job_prefix,
                token_prefix,
            ),
        )
        jobs: list[Job] = []
        for job_id, token, flat in raw:
            job = _job_from_hash(str(job_id), dict(zip(flat[0::2], flat[1::2], strict=True)))
            if job is not None:
                jobs.append(replace(job, lease=str(token)))
        return jobs

    async def get(self, job_id: str) -> Job | None:
        """The stored job (pending, leased or dead), or None once it is done."""
        data = cast("dict[str, str]", await self.redis.hgetall(shard_of(job_id).job(job_id)))
        return _job_from_hash(job_id, data)

    async def due_at(self, job_id: str) -> datetime | None:
        """When a pending job may run next (None if it is not pending)."""
        score = await self.redis.zscore(shard_of(job_id).due, job_id)
        return None if score is None else datetime.fromtimestamp(score, UTC)

    async def set_due(self, job_id: str, when: float) -> bool:
        """Move a pending job's due time to ``when`` (epoch seconds), leased or not: for tests
        and tools that must make a job run now whatever its state (False: not pending)."""
        return bool(await self.redis.zadd(shard_of(job_id).due, {job_id: when}, xx=True, ch=True))

    async def _per_shard(
        self, command: Callable[[Any, Shard], Any], *, refresh: bool = True
    ) -> list[Any]:
        """The reads ``command`` queues for each shard, pipelined (on a Redis Cluster, one batch
        per node); their answers in order. ``refresh``: see :meth:`shards`."""
        shards = await self.shards(refresh=refresh)
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in shards:
                command(pipe, shard)
            return list(await pipe.execute())

    async def pending_ids(self) -> list[str]:
        """Ids of every job waiting or running, soonest due first."""
        found = await self._per_shard(
            lambda pipe, shard: pipe.zrange(shard.due, 0, -1, withscores=True)
        )
        pairs = [(float(score), str(job_id)) for rows in found for job_id, score in rows]
        return [job_id for _, job_id in sorted(pairs)]

    async def pending_count(self) -> int:
        """How many jobs are waiting or running."""
        return sum(int(n) for n in await self._per_shard(lambda pipe, shard: pipe.zcard(shard.due)))

    async def next_due(self) -> float | None:
        """Epoch seconds of the earliest pending job, or None when the queue is empty."""
        firsts = await self._per_shard(
            lambda pipe, shard: pipe.zrange(shard.due, 0, 0, withscores=True), refresh=False
        )
        scores = [float(first[0][1]) for first in firsts if first]
        return min(scores) if scores else None

    async def dead_jobs(self) -> list[str]:
        """Ids of jobs that exhausted their ``max_attempts``."""
        lists = await self._per_shard(lambda pipe, shard: pipe.lrange(shard.dead, 0, -1))
        return [str(job_id) for ids in lists for job_id in ids]

    async def stats(self, kinds: list[str]) -> tuple[int, int, list[tuple[int, float | None]]]:
        """For ``/metrics``: ``(due now, dead, [(pending, oldest queued at or None) per kind])``
        summed over every shard (one pipelined batch)."""
        now = self.clock()

        def read(pipe: Any, shard: Shard) -> None:
            pipe.zcount(shard.due, "-inf", repr(now))
            pipe.llen(shard.dead)
            for kind in kinds:
                pipe.zcard(shard.kind(kind))
                pipe.zrange(shard.kind(kind), 0, 0, withscores=True)

        rows = await self._per_shard(read)
        width = 2 + 2 * len(kinds)
        due = dead = 0
        per_kind: list[tuple[int, float | None]] = [(0, None)] * len(kinds)
        for at in range(0, len(rows), width):
            row = rows[at : at + width]
            due += int(row[0])
            dead += int(row[1])
            for index in range(len(kinds)):
                size, first = int(row[2 + 2 * index]), row[3 + 2 * index]
                count, oldest = per_kind[index]
                if first:
                    score = float(first[0][1])
                    oldest = score if oldest is None else min(oldest, score)
                per_kind[index] = (count + size, oldest)
        return due, dead, per_kind

    async def complete(self, job: Job) -> bool:
        """Forget a finished job (only if ``job`` still holds its lease)."""
        shard = shard_of(job.id)
        done = await _eval(
            self.redis,
            _COMPLETE,
            3,
            shard.due,
            shard.job(job.id),
            shard.kind(job.kind),
            job.id,
            job.lease,
        )
        return bool(done)

    async def run_now(self, job_id: str) -> bool:
        """Make a waiting job due at once (False if it is unknown, done or running)."""
        shard = shard_of(job_id)
        done = await _eval(
            self.redis, _RUN_NOW, 2, shard.due, shard.job(job_id), job_id, repr(self.clock())
        )
        if done:
            self._wake.set()
        return bool(done)

    async def extend(self, job: Job) -> bool:
        """Push the lease of a running job one visibility timeout on (False: lease lost)."""
        until = self.clock() + self.visibility_timeout
        shard = shard_of(job.id)
        done = await _eval(
            self.redis, _EXTEND, 2, shard.due, shard.job(job.id), job.id, job.lease, repr(until)
        )
        return bool(done)

    async def reschedule(
        self, job: Job, when: float, error: str, *, count_attempt: bool = True
    ) -> bool:
        """Release the lease and make the job due at ``when`` (epoch seconds)."""
        shard = shard_of(job.id)
        done = await _eval(
            self.redis,
            _RESCHEDULE,
            2,
            shard.due,
            shard.job(job.id),
            job.id,
            job.lease,
            repr(when),
            error[:2000],
            "1" if count_attempt else "0",
        )
        return bool(done)

    async def bury(self, job: Job, error: str) -> bool:
        """Move a job that exhausted its attempts to the dead list."""
        shard = shard_of(job.id)
        done = await _eval(
            self.redis,
            _BURY,
            4,
            shard.due,
            shard.job(job.id),
            shard.dead,
            shard.kind(job.kind),
            job.id,
            job.lease,
            error[:2000],
        )
        return bool(done)

    async def pending_with_prefix(
        self, prefix: str, limit: int = 100
    ) -> list[tuple[Job, datetime]]:
        """Pending jobs whose id starts with ``prefix``, with when each may run, soonest first.

        For readers that name their jobs by what they concern (e.g. the deferred refunds of one
        leg: ``refund:<instance>:<numtrans>:``); ``prefix`` is matched literally. A prefix that
        names a scope reads that scope's shard only.
        """
        pattern = glob_escape(prefix) + "*"
        scope = job_scope(prefix)
        shards = [scope_shard(scope)] if scope is not None else await self.shards(refresh=True)
        found: list[tuple[Job, datetime]] = []
        for shard in shards:
            async for job_id, score in self.redis.zscan_iter(shard.due, match=pattern, count=500):
                job = await self.get(str(job_id))
                if job is not None:
                    found.append((job, datetime.fromtimestamp(float(score), UTC)))
                if len(found) >= limit:
                    break
        return sorted(found, key=lambda pair: pair[1])[:limit]

    async def drop_scope(self, scope: str) -> int:
        """Delete the pending and dead jobs whose id is ``<kind>:<scope>:...``; returns how many.

        Used when a Saleor instance uninstalls the app (the scope is its instance id): its
        shard's keys go (the instance's purge would delete them too) and it leaves
        :data:`SHARDS_KEY`.
        """
        shard = scope_shard(scope)
        dropped = len(await scan_keys(self.redis, glob_escape(shard.job_prefix) + "*"))
        await purge_prefix(self.redis, shard.prefix)
        await self.redis.srem(SHARDS_KEY, scope)
        self._registered.pop(scope, None)
        self._shards.pop(scope, None)
        return dropped

    def wake(self) -> None:
        """Wake a worker of this process sleeping in :meth:`wait_for_work`."""
        self._wake.set()

    async def wait_for_work(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when this process enqueues a job."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()


def cancel_requested() -> bool:
    """Whether the running task was asked to stop, even if the ``CancelledError`` never reached
    it: redis-py (8.1) swallows a cancellation that lands while a command is in flight. A
    background loop that renews something in Redis (a job's lease, a report's lock) checks this
    at each turn; relying on the cancel alone, it renewed for ever and its job never ended
    (found by ``tests/scale/test_chaos.py``)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay after ``attempts`` failed runs: ``base * 2**(attempts-1)``, capped at ``cap``."""
    exponent = max(0, min(attempts - 1, 30))
    return float(min(cap, base * (2**exponent)))


class Worker:
    """Runs due jobs with their handlers; failures are retried with capped exponential backoff."""

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, JobHandler],
        *,
        concurrency: int = 8,
        base_backoff: float = DEFAULT_BASE_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        poll_interval: float = 1.0,
        shard_sweep_interval: float = SHARD_SWEEP_SECONDS,
    ) -> None:
        self.queue = queue
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self.shard_sweep_interval = shard_sweep_interval
        """How often :meth:`run_forever` runs :meth:`JobQueue.sweep_shards` (first: at start)."""
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def run_once(self) -> int:
        """Claim and run every job due now (in batches); returns how many ran."""
        ran = 0
        seen: set[str] = set()
        while not self._stopping.is_set():
            jobs = await self.queue.claim(self.concurrency)
            if not jobs:
                return ran
            await asyncio.gather(*(self._run(job) for job in jobs))
            ran += len(jobs)
            # A job due again at once (zero backoff, RetryAt in the past) waits for the next call
            # instead of spinning here.
            if seen.intersection(job.id for job in jobs):
                return ran
            seen.update(job.id for job in jobs)
        return ran

    async def drain(self, *, max_seconds: float = 10.0) -> int:
        """Run until no job is due now (jobs scheduled in the future stay); returns runs."""
        deadline = time.monotonic() + max_seconds
        ran = 0
        while time.monotonic() < deadline:
            count = await self.run_once()
            ran += count
            if count == 0:
                return ran
        return ran

    async def _run(self, job: Job) -> None:
        started = time.perf_counter()
        result = "failed"
        try:
            with job_span(job.kind, job.id, job.trace, job.attempts):
                result = await self._run_traced(job)
        finally:
            JOBS_RUN.labels(job.kind, result).inc()
            JOB_SECONDS.labels(job.kind).observe(time.perf_counter() - started)

    async def _run_traced(self, job: Job) -> str:
        """Run ``job``: ``done``, ``failed``, ``rescheduled``, ``dead`` or ``no_handler``."""
        handler = self.handlers.get(job.kind)
        bound = log.bind(job_id=job.id, job_kind=job.kind, attempt=job.attempts)
        if handler is None:
            delay = backoff_seconds(job.attempts, self.base_backoff, self.max_backoff)
            bound.error("jobs.no_handler", retry_in=delay)
            await self.queue.reschedule(job, self.queue.clock() + delay, "no handler")
            return "no_handler"
        heartbeat = asyncio.create_task(self._keep_leased(job), name=f"lease:{job.id}")
        try:
            try:
                returned = await handler(job)
            finally:
                heartbeat.cancel()
                await asyncio.wait({heartbeat})
        except RetryAt as retry:
            bound.info("jobs.rescheduled", run_at=retry.when.isoformat(), reason=retry.reason)
            await self.queue.reschedule(
                job, _to_epoch(retry.when), retry.reason, count_attempt=False
            )
            return "rescheduled"
        except asyncio.CancelledError:
            # Shutting down: the lease runs out and the job is retried by the next process.
            raise
        except Exception as exc:  # any failure of a job is retried
            error = f"{type(exc).__name__}: {exc}"
            if job.max_attempts is not None and job.attempts >= job.max_attempts:
                bound.error("jobs.dead", error=error)
                await self.queue.bury(job, error)
                return "dead"
            delay = backoff_seconds(job.attempts, self.base_backoff, self.max_backoff)
            bound.warning("jobs.failed", error=error, retry_in=delay)
            await self.queue.reschedule(job, self.queue.clock() + delay, error)
            return "failed"
        if returned is not COMPLETED:
            await self.queue.complete(job)
        return "done"

    async def _keep_leased(self, job: Job) -> None:
        """Extend ``job``'s lease while its handler runs (a slow call must not free it); stops
        when cancelled, even if the cancellation was lost (:func:`cancel_requested`)."""
        interval = max(0.01, self.queue.visibility_timeout / 3)
        while not cancel_requested():
            await asyncio.sleep(interval)
            try:
                if not await self.queue.extend(job):
                    log.warning("jobs.lease_lost", job_id=job.id)
                    return
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup: try again at the next beat
                log.warning("jobs.lease_extend_failed", job_id=job.id, exc_info=True)

    async def run_forever(self) -> None:
        """Run due jobs until :meth:`stop`; sleeps until the next due job or an enqueue. Sweeps
        for unlisted shards at start and every :attr:`shard_sweep_interval` seconds.

        While Redis is unreachable each failed try is one WARNING line (no traceback) and the
        tries back off exponentially up to :attr:`outage_backoff_max` seconds; one INFO line says
        when it works again.
        """
        failures = 0
        swept_at: float | None = None
        while not self._stopping.is_set():
            try:
                now = time.monotonic()
                if swept_at is None or now - swept_at >= self.shard_sweep_interval:
                    await self.queue.sweep_shards()
                    swept_at = now
                await self.run_once()
                next_due = await self.queue.next_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a Redis outage must not kill the worker, nor flood the log
                failures += 1
                await self.queue.wait_for_work(self._outage_retry(failures, exc))
                continue
            if failures:
                log.info("jobs.worker_recovered", failed_tries=failures)
                failures = 0
            wait = self.poll_interval
            if next_due is not None:
                wait = max(0.0, min(wait, next_due - self.queue.clock()))
            if wait > 0:
                await self.queue.wait_for_work(wait)

    outage_backoff_max = 30.0
    """Longest wait between two tries of the loop while Redis is unreachable."""

    def _outage_retry(self, failures: int, exc: Exception) -> float:
        """Log failed try number ``failures`` on one line; return the wait before the next."""
        delay = backoff_seconds(failures, self.poll_interval, self.outage_backoff_max)
        log.warning(
            "jobs.worker_error",
            error=f"{type(exc).__name__}: {exc}",
            failed_tries=failures,
            retry_in_seconds=round(delay, 3),
        )
        return delay

    def start(self) -> None:
        """Run :meth:`run_forever` as a background task of the running loop."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self.run_forever(), name="up2pay-jobs-worker")

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop the background task: jobs running now get ``grace_seconds`` to finish.

        A job still running after that is cancelled; its lease runs out and the next process
        runs it again (handlers are idempotent).
        """
        task = self._task
        if task is None:
            return
        self._stopping.set()
        self.queue.wake()
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = None
