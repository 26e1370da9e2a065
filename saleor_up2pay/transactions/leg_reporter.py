"""Reporting Up2pay legs to Saleor: one transaction item per leg, its events, name and metadata.

The Up2pay side of reporting (which item, which event type, what metadata); the Saleor side
(``transactionEventReport`` and how its answers are read) is
:class:`~saleor_up2pay.saleor.event_reporter.TransactionEventReporter`.

For one :class:`~saleor_up2pay.transactions.legs.LegRecord`:

- the voucher leg (APETIZ, SODEXO, UPCHEQUDEJ, CVCONNECT) and refused attempts go on the item
  ``transactionInitialize`` created; the card complement (LIMOCB) gets its own item, created with
  ``transactionCreate`` beside the voucher item — on the checkout, or on the order the checkout
  became meanwhile (found by querying the voucher item, which Saleor moves to the order);
- the event is ``transactionEventReport`` with ``pspReference = S`` and ``amount = M``:
  ``*_SUCCESS`` for an accepted leg (with the ``availableActions`` its leg allows, from the
  capabilities table through :func:`~saleor_up2pay.transactions.legs.available_actions`),
  an ``INFO`` event (no amount) for a pending one (``E=99999``: nothing counted until it is
  final), ``*_FAILURE`` for a refused attempt — or only an ``INFO``
  event when the refusal arrived after an accepted leg of the same item, so a later failure never
  downgrades an earlier success;
- ``alreadyProcessed: true`` is a success (the process-session answer may have reported the same
  event first); the private metadata (reference, leg, transaction number, call number) and the
  readable name go with the report, which writes them with their own mutations;
- transport failures and unexpected errors raise, and the job queue retries with backoff.

Redis work of one report (the ``ipn.report`` job, :func:`~.ipn_received.report_ipn_job`), two
round trips in the common case (an accepted voucher leg), every key of the leg's instance:

1. :meth:`LegReporter.begin` — one script: the session, the leg (stored from the job's copy if a
   crash lost it), whether it is reported already, the reference lock (``SET NX PX``), the
   installation (its token is decrypted at most every 30 s per process) and how many legs the
   reference has;
2. the GraphQL report (:class:`~saleor_up2pay.saleor.event_reporter.TransactionEventReporter`,
   shared with concurrent reports of the instance);
3. :meth:`LegReporter.report_leg`'s closing script — the leg marked reported (compare-and-set
   against what step 1 read), its ``ipn`` activity line, the lock released, the report job
   completed (:data:`~saleor_up2pay.jobs.COMPLETE_LUA`: only while the worker's lease still
   holds it; the job's keys share the instance's hash tag), and whether a problem the report
   resolves is open (only then is the problem board called). The job queue's claim is the only
   other round trip, shared by the jobs of one claim.

The legs of the item are read only for a leg that is not accepted (whether it follows a success),
held refusals are woken only when the reference has other legs, and the problem board is touched
only when a problem is open. A leg changed meanwhile (an order action) falls back to the
read-modify-write of :meth:`~.legs.LegRepository.update`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import structlog

from saleor_up2pay.activity import MAX_ENTRIES as ACTIVITY_MAX_ENTRIES
from saleor_up2pay.activity import activity_key
from saleor_up2pay.jobs import COMPLETE_LUA, Job, cancel_requested, job_scope
from saleor_up2pay.metrics import LEGS_REPORTED
from saleor_up2pay.problems import problems_key
from saleor_up2pay.redis_store import LuaScript, instance_id, instance_key
from saleor_up2pay.saleor.apl import AuthData, auth_key
from saleor_up2pay.saleor.client import SaleorClient, SaleorMutationError
from saleor_up2pay.saleor.event_reporter import (
    AppNotInstalled,
    TransactionEventReporter,
    TransactionItemNotFound,
)
from saleor_up2pay.saleor.ids import SaleorApiUrl
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.legs import (
    LegRecord,
    LegRepository,
    LegStatus,
    available_actions,
    ipn_activity_entry,
    leg_keys,
    record_ipn_activity,
)
from saleor_up2pay.transactions.pending_legs import reported_problem_keys
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from saleor_up2pay.up2pay.models import Leg

log = structlog.get_logger(__name__)

ITEM_NAMES: dict[Leg, str] = {
    Leg.APETIZ: "Up2pay · Bimpli (Apetiz)",
    Leg.SODEXO: "Up2pay · Pluxee",
    Leg.UPCHEQUDEJ: "Up2pay · Up Déjeuner",
    Leg.CVCONNECT: "Up2pay · Chèque-Vacances Connect",
    Leg.LIMOCB: "Up2pay · card complement",
    Leg.CARD: "Up2pay · card",
}

METADATA_PREFIX = "up2pay."

LOCK_SECONDS = 60.0
"""Lifetime of a reference lock without renewal (a crashed holder frees it after this)."""

# Deletes the lock only if it still holds our token.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Renews the lock (ARGV[2] ms) only if it still holds our token.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


# Starts a report. KEYS: session, leg, legs of the reference, legs of the item (or the leg key
# again when ARGV[6] ~= '1'), reference lock, installation. ARGV: the job's leg JSON, S, the
# job's leg status, lock token, lock TTL (ms), '1' when KEYS[4] is an item index. Returns
# {state, leg, session, legs of the reference, installation hash as a flat list...}; state is
# 'no_session', 'done' (reported with that status already: nothing to do), 'locked' (another leg
# of the reference is being reported) or 'ok' (the lock is ours).
_BEGIN = LuaScript("""
local session = redis.call('GET', KEYS[1])
if not session then return {'no_session'} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX') then
  redis.call('SADD', KEYS[3], ARGV[2])
  if ARGV[6] == '1' then redis.call('SADD', KEYS[4], ARGV[2]) end
end
local leg = redis.call('GET', KEYS[2])
local stored = cjson.decode(leg)
if stored['reported'] == true and stored['status'] == ARGV[3] then return {'done'} end
if not redis.call('SET', KEYS[5], ARGV[4], 'NX', 'PX', ARGV[5]) then
  return {'locked', leg, session}
end
local result = {'ok', leg, session, redis.call('SCARD', KEYS[3])}
for _, value in ipairs(redis.call('HGETALL', KEYS[6])) do table.insert(result, value) end
return result
""")

# Ends a report. KEYS: 1 leg, 2 reference lock, 3 activity list, 4 problems, 5-7 the report
# job's due zset, job hash and kind index (COMPLETE_LUA; the leg key again when there is no
# job). ARGV: 1 the leg as read at the start, 2 the leg marked reported, 3 lock token, 4 activity
# line, 5 activity length, 6 job id ('' for none), 7 its lease, then the problem fields the
# report resolves. Nothing is written (and the lock stays, the job too) unless the leg is still
# what was read; the job is completed only while the lease is still ours. Returns {1 when
# written, 1 when one of those problems is open}.
_FINISH = LuaScript(
    COMPLETE_LUA
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 0} end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
if ARGV[6] ~= '' then complete_job(KEYS[5], KEYS[6], KEYS[7], ARGV[6], ARGV[7]) end
local open = 0
for _, value in ipairs(redis.call('HMGET', KEYS[4], unpack(ARGV, 8))) do
  if value then open = 1 end
end
return {1, open}
"""
)


@dataclass
class ReportStart:
    """What :meth:`LegReporter.begin` read in one round trip (see the module docstring)."""

    state: Literal["ok", "locked", "no_session", "done"]
    record: LegRecord | None = None
    raw: str = ""
    """The leg's JSON as read (the closing script writes only if it is unchanged)."""
    session: PaymentSession | None = None
    auth: AuthData | None = None
    lock_key: str = ""
    token: str = field(default="", repr=False)
    problems_open: bool = False
    """A problem the report resolves is open (read again by the closing script)."""
    reference_legs: int = 0
    released: bool = False
    """The lock was released by the closing script."""


class ReportNotPossible(Exception):
    """The leg cannot be reported yet (no installation, no session); the job retries later."""


class ReportTargetGone(ReportNotPossible):
    """Saleor no longer has the item (or the checkout/order) the leg belongs to (NOT_FOUND).

    Retried a few times (a Saleor being restored...), then the report job gives up and keeps the
    leg for investigation (:mod:`.unknown_ipns`).
    """


def item_name(leg: Leg) -> str:
    """Readable name of the Saleor item of ``leg``."""
    return ITEM_NAMES[leg]


def private_metadata(record: LegRecord) -> list[dict[str, str]]:
    """What the item carries about its leg: reference, leg, transaction and call numbers."""
    entries = {
        "reference": record.reference,
        "leg": record.leg.value,
        "numtrans": record.numtrans,
        "numappel": record.numappel,
    }
    if record.authorization:
        entries["authorization"] = record.authorization
    return [{"key": METADATA_PREFIX + key, "value": value} for key, value in entries.items()]


def event_message(record: LegRecord) -> str:
    """The event message: leg, transaction number, readable outcome and Up2pay code."""
    leg, code = record.leg.value, record.error_code
    return f"Up2pay IPN {leg} S={record.numtrans}: {record.message} (E={code})"


def _metadata_value(item: dict[str, Any], key: str) -> str | None:
    for entry in item.get("privateMetadata") or []:
        if entry.get("key") == METADATA_PREFIX + key:
            return str(entry.get("value"))
    return None


class LegReporter:
    """Reports leg records to the Saleor instance they belong to."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.legs = LegRepository(services.redis)
        self.sessions = SessionRepository(services.redis)

    @asynccontextmanager
    async def reference_lock(
        self, saleor_api_url: str, reference: str, seconds: float = LOCK_SECONDS
    ) -> AsyncIterator[bool]:
        """Hold a Redis lock on one payment reference; yields whether it was acquired.

        While held it is renewed every third of ``seconds`` (like a job's lease), so a report
        slower than ``seconds`` (a slow Saleor) cannot let a sibling leg in — which could create
        the card-complement item twice. A crashed holder frees it after ``seconds``.
        """
        key = instance_key(saleor_api_url, "lock", "reference", reference)
        token = secrets.token_hex(8)
        redis = self.services.redis
        ttl_ms = max(1, int(seconds * 1000))
        acquired = bool(await redis.set(key, token, nx=True, px=ttl_ms))
        if not acquired:
            yield False
            return
        renewal = asyncio.create_task(self._keep_locked(key, token, ttl_ms), name=f"lock:{key}")
        try:
            yield True
        finally:
            renewal.cancel()
            await asyncio.wait({renewal})
            await redis.eval(_UNLOCK, 1, key, token)

    async def _keep_locked(self, key: str, token: str, ttl_ms: int) -> None:
        """Renew a held reference lock until cancelled, even if the cancellation was lost
        (:func:`~saleor_up2pay.jobs.cancel_requested`); stops if someone else holds it now."""
        interval = max(0.01, ttl_ms / 3000)
        while not cancel_requested():
            await asyncio.sleep(interval)
            try:
                if not await self.services.redis.eval(_RENEW, 1, key, token, ttl_ms):
                    log.warning("report.lock_lost", key=key)
                    return
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup: try again at the next beat
                log.warning("report.lock_renew_failed", key=key, exc_info=True)

    async def begin(self, queued: LegRecord, seconds: float = LOCK_SECONDS) -> ReportStart:
        """Start reporting the job's leg ``queued``: one script (see the module docstring)."""
        url = queued.saleor_api_url
        leg_key, ref_key, tx_key = leg_keys(queued)
        lock_key = instance_key(url, "lock", "reference", queued.reference)
        token = secrets.token_hex(8)
        keys = [
            SessionRepository._session_key(url, queued.reference),  # the session's key builder
            leg_key,
            ref_key,
            tx_key or leg_key,
            lock_key,
            auth_key(url),
        ]
        args = [
            queued.model_dump_json(),
            queued.numtrans,
            queued.status.value,
            token,
            max(1, int(seconds * 1000)),
            "1" if tx_key else "0",
        ]
        answer = cast("list[Any]", await _BEGIN(self.services.redis, keys, args))
        state = cast("Literal['ok', 'locked', 'no_session', 'done']", str(answer[0]))
        if state in {"no_session", "done"}:
            return ReportStart(state)
        raw = str(answer[1])
        start = ReportStart(
            state,
            record=LegRecord.model_validate_json(raw),
            raw=raw,
            session=PaymentSession.model_validate_json(answer[2]),
            lock_key=lock_key,
            token=token,
        )
        if state == "ok":
            start.reference_legs = int(answer[3])
            flat = [str(value) for value in answer[4:]]
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            start.auth = self.services.auth_store.from_fields(fields) if fields else None
        return start

    @asynccontextmanager
    async def holding(self, start: ReportStart) -> AsyncIterator[None]:
        """Keep the lock :meth:`begin` took renewed while the report runs; release it on the way
        out unless the closing script did (a report failing, a refusal held)."""
        ttl_ms = max(1, int(LOCK_SECONDS * 1000))
        loop = asyncio.get_running_loop()
        renewal: list[asyncio.Task[None]] = []

        def renew() -> None:  # only a report slower than a third of the lock's life needs it
            renewal.append(loop.create_task(self._keep_locked(start.lock_key, start.token, ttl_ms)))

        timer = loop.call_later(max(0.01, ttl_ms / 3000), renew)
        try:
            yield
        finally:
            timer.cancel()
            for task in renewal:
                task.cancel()
                await asyncio.wait({task})
            if not start.released:
                await self.services.redis.eval(_UNLOCK, 1, start.lock_key, start.token)

    async def event_reporter(self, saleor_api_url: str) -> TransactionEventReporter:
        """The instance's :class:`TransactionEventReporter` (not installed: retried later)."""
        try:
            return await TransactionEventReporter.for_instance(
                self.services.auth_store,
                self.services.http,
                SaleorApiUrl(saleor_api_url),
                self.services.saleor_batcher,
            )
        except AppNotInstalled as exc:
            raise ReportNotPossible(str(exc)) from exc

    async def report_leg(self, start: ReportStart, job: Job | None = None) -> bool:
        """Report the leg :meth:`begin` read (its lock held); returns once Saleor has it.

        With ``job`` (the report job running this, in the leg's instance scope), the closing
        script also completes it (while its lease holds): returns True then, and the job's
        handler tells the worker (:data:`~saleor_up2pay.jobs.COMPLETED`). False: the worker
        completes it.
        """
        record, session = start.record, start.session
        if record is None or session is None:  # pragma: no cover - begin's 'ok' carries both
            msg = "report_leg needs a started report"
            raise ReportNotPossible(msg)
        if start.auth is None:
            msg = f"the app is not installed on {record.saleor_api_url}"
            raise ReportNotPossible(msg)
        reporter = TransactionEventReporter(
            SaleorClient(self.services.http, record.saleor_api_url, start.auth.token),
            self.services.saleor_batcher,
            self.services.auth_store,
        )
        client = reporter.client
        bound = log.bind(reference=record.reference, numtrans=record.numtrans, leg=record.leg.value)

        raw: str | None = start.raw
        if record.leg is Leg.LIMOCB:
            item_id = await self._complement_item(client, session, record)
        else:
            item_id = session.transaction_id
        if record.transaction_id != item_id:
            raw = None  # changed here: the closing step reads it again
            record = await self.legs.update(
                record.saleor_api_url,
                record.numtrans,
                lambda r: r.model_copy(update={"transaction_id": item_id}),
            )

        other_accepted = earlier_accepted = False
        if not record.accepted:  # an accepted leg's event and metadata never depend on them
            siblings = [
                s
                for s in await self.legs.legs_for_transaction(record.saleor_api_url, item_id)
                if s.numtrans != record.numtrans
            ]
            other_accepted = any(s.accepted for s in siblings)
            # "Later" is by arrival: a refusal received before the success is a real failure.
            earlier_accepted = any(s.accepted and s.paid_at <= record.paid_at for s in siblings)
        variables = self._event_variables(item_id, record, earlier_accepted=earlier_accepted)
        try:
            result = await reporter.report(
                variables,
                name=item_name(record.leg) if record.leg is not Leg.LIMOCB else None,
                private_metadata=(
                    private_metadata(record) if record.accepted or not other_accepted else None
                ),
            )
        except TransactionItemNotFound as exc:
            raise ReportTargetGone(str(exc)) from exc
        outcome = result.outcome
        if result.conflict is not None:
            # Saleor holds this pspReference/type with another amount (or a second
            # authorization): retrying can never succeed. Keep the evidence in the log.
            bound.error(
                "ipn.report_conflict", code=result.conflict.code, message=result.conflict.message
            )
        activity = {
            "outcome": f"reported:{outcome}",
            "message": f"{variables['type']} on {item_name(record.leg)}",
        }
        written = False
        if job is not None and job_scope(job.id) != instance_id(record.saleor_api_url):
            job = None  # another hash slot: the worker completes it
        if raw is not None:
            leg_key = leg_keys(record)[0]
            job_keys = (
                self.services.job_queue.script_keys(job.id, job.kind)
                if job is not None
                else (leg_key,) * 3
            )
            written, open_problems = await _FINISH(
                self.services.redis,
                [
                    leg_key,
                    start.lock_key,
                    activity_key(record.saleor_api_url),
                    problems_key(record.saleor_api_url),
                    *job_keys,
                ],
                [
                    raw,
                    record.model_copy(update={"reported": True}).model_dump_json(),
                    start.token,
                    ipn_activity_entry(record, session.channel, **activity).model_dump_json(),
                    ACTIVITY_MAX_ENTRIES,
                    job.id if job is not None else "",
                    job.lease if job is not None else "",
                    *reported_problem_keys(record),
                ],
            )
            start.problems_open = bool(open_problems)
        if written:
            start.released = True
        else:
            # The leg changed meanwhile (an order action): read, change, compare-and-set; the
            # open problems were not read, so the board looks.
            start.problems_open = True
            await self.legs.update(
                record.saleor_api_url,
                record.numtrans,
                lambda r: r.model_copy(update={"reported": True}),
            )
            await record_ipn_activity(self.services.redis, record, session.channel, **activity)
        bound.info("ipn.reported", event_type=variables["type"], outcome=outcome)
        LEGS_REPORTED.labels(record.leg.value, record.status.value).inc()
        return bool(written) and job is not None

    def _event_variables(
        self, item_id: str, record: LegRecord, *, earlier_accepted: bool
    ) -> dict[str, Any]:
        family = record.action_type
        variables: dict[str, Any] = {
            "id": item_id,
            "pspReference": record.numtrans,
            "time": record.paid_at.isoformat(),
            "message": event_message(record)[:512],
        }
        if record.status is LegStatus.ACCEPTED:
            variables["type"] = f"{family}_SUCCESS"
            variables["amount"] = record.amount
            variables["availableActions"] = available_actions(record)
        elif record.status is LegStatus.PENDING:
            # Not a *_REQUEST: Saleor would count it toward authorizeStatus, and checkoutComplete
            # could succeed on money the issuer has not confirmed. Information only; the final
            # IPN (or the settle inquiry, :mod:`.reconcile`) reports the money.
            variables["type"] = "INFO"
        elif earlier_accepted:
            # A failure after a success on the same item: keep it visible, change nothing.
            variables["type"] = "INFO"
        else:
            variables["type"] = f"{family}_FAILURE"
            variables["amount"] = record.amount
        return variables

    async def _complement_item(
        self, client: SaleorClient, session: PaymentSession, record: LegRecord
    ) -> str:
        known = await self.legs.complement_transaction(record.saleor_api_url, record.reference)
        if known:
            return known
        for attempt in range(2):
            target, existing = await self._complement_placement(client, session, record)
            if existing:
                await self.legs.set_complement_transaction(
                    record.saleor_api_url, record.reference, existing
                )
                return existing
            try:
                created = await client.mutate(
                    "transaction_create",
                    {"id": target, "transaction": self._complement_input(session, record)},
                    "transactionCreate",
                )
            except SaleorMutationError as exc:
                if exc.code != "NOT_FOUND":
                    raise
                # The checkout may have been completed between the query and the create.
                if attempt == 0:
                    continue
                msg = f"Saleor has neither the checkout nor an order for {target}: {exc.message}"
                raise ReportTargetGone(msg) from exc
            item_id = str(created["transaction"]["id"])
            await self.legs.set_complement_transaction(
                record.saleor_api_url, record.reference, item_id
            )
            return item_id
        msg = "could not place the card complement"  # pragma: no cover - loop always returns
        raise ReportNotPossible(msg)

    async def _complement_placement(
        self, client: SaleorClient, session: PaymentSession, record: LegRecord
    ) -> tuple[str, str | None]:
        """Where the complement goes (order if the checkout became one) and an existing one."""
        data = await client.execute("transaction_placement", {"id": session.transaction_id})
        item = data.get("transaction") or {}
        holder = item.get("order") or item.get("checkout")
        if not holder:
            return session.source_id, None
        for sibling in holder.get("transactions") or []:
            if (
                _metadata_value(sibling, "reference") == record.reference
                and _metadata_value(sibling, "leg") == Leg.LIMOCB.value
            ):
                return str(holder["id"]), str(sibling["id"])
        return str(holder["id"]), None

    def _complement_input(self, session: PaymentSession, record: LegRecord) -> dict[str, Any]:
        return {
            "name": item_name(Leg.LIMOCB),
            "message": f"Card complement of {session.method} payment {record.reference}",
            "privateMetadata": private_metadata(record),
            "paymentMethodDetails": {"card": {"name": "Carte bancaire (complément)"}},
        }
