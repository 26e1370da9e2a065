"""Use case: Up2pay calls the IPN URL about one leg of a payment.

Order of work (ADR 0001, "the IPN is the source of truth"):

1. verify the signature on the raw query string or body — nothing is parsed or stored before;
2. find the payment session from the reference ``R``; an unknown reference is kept for
   investigation (:mod:`.unknown_ipns`) and logged, never dropped;
3. persist: a report job carrying the whole leg record is queued first, then the
   :class:`~saleor_up2pay.transactions.legs.LegRecord` is created (keyed by ``S``, so a duplicate
   IPN is a no-op). A crash between the two leaves a job that re-creates the record;
4. answer at once (the route sends an empty 200); the job reports to Saleor with retries until
   Saleor accepts it (:mod:`.leg_reporter`), surviving restarts.

A pending IPN (``E=99999``) may be followed by a final one with the same ``S``: that one upgrades
the record and is reported again; any other repeat of an ``S`` is a duplicate.

Refused attempts on the voucher item are held back a little (:func:`refusal_hold`). Up2pay lets
the shopper try again on the same payment page (up to 3 attempts, one IPN each), and Saleor's
``transactionProcess`` answers with the *first* final event of the item without asking the app
(protocol §4.3): a ``CHARGE_FAILURE`` reported for attempt 1 would be what the storefront sees
even after attempt 2 paid. So a refusal is reported once the shopper has left the payment page
(verified browser return), or after an accepted attempt of the same payment has been reported,
or at the latest :data:`REFUSAL_HOLD` after the session started (:func:`wake_held_refusals`
makes the held report due as soon as one of the first two happens). It is still a
``*_FAILURE`` event; only its place in the item's history changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog

from saleor_up2pay.activity import MAX_ENTRIES as ACTIVITY_MAX_ENTRIES
from saleor_up2pay.activity import activity_key
from saleor_up2pay.jobs import ENQUEUE_LUA, Job, RetryAt
from saleor_up2pay.redis_store import LuaScript, instance_id
from saleor_up2pay.saleor.problems import Problem
from saleor_up2pay.services import Services
from saleor_up2pay.tracing import current_traceparent
from saleor_up2pay.transactions.gateway import app_clock
from saleor_up2pay.transactions.leg_reporter import LegReporter, ReportTargetGone
from saleor_up2pay.transactions.legs import (
    LegRecord,
    LegRepository,
    LegStatus,
    ipn_activity_entry,
    leg_keys,
    legs_tx_prefix,
    record_ipn_activity,
)
from saleor_up2pay.transactions.pending_legs import queue_settle, resolve_reported
from saleor_up2pay.transactions.sessions import ActionType, PaymentSession, SessionRepository
from saleor_up2pay.transactions.unknown_ipn_problems import (
    count_unattached_unknown_ipn,
    raise_unknown_ipn_problem,
)
from saleor_up2pay.transactions.unknown_ipns import (
    UnknownIpn,
    UnknownIpns,
)
from saleor_up2pay.up2pay.codes import Outcome
from saleor_up2pay.up2pay.errors import SignatureInvalid
from saleor_up2pay.up2pay.models import Leg
from saleor_up2pay.up2pay.notifications import Notification, verify_ipn

log = structlog.get_logger(__name__)

REPORT_JOB = "ipn.report"
"""Job kind: report one leg record to Saleor (payload ``{"leg": LegRecord as JSON}``)."""


def verify(services: Services, raw: bytes) -> Notification:
    """Verify and read a raw IPN; raises ``SignatureInvalid`` / ``MalformedMessage``."""
    store = services.ipn_keys
    try:
        return verify_ipn(raw, store.keys())
    except SignatureInvalid:
        refreshed = store.keys(refresh=True)
        return verify_ipn(raw, refreshed)


ReceiptStatus = Literal["accepted", "duplicate", "upgraded", "unknown_reference", "kept"]


@dataclass(frozen=True)
class IpnReceipt:
    """What the app did with one verified IPN."""

    status: ReceiptStatus
    reference: str
    numtrans: str | None
    leg: Leg


def status_of(notification: Notification) -> LegStatus:
    """The leg status an IPN outcome stands for."""
    if notification.outcome is Outcome.PAID:
        return LegStatus.ACCEPTED
    if notification.outcome is Outcome.PENDING:
        return LegStatus.PENDING
    return LegStatus.REFUSED


def leg_record(
    notification: Notification, session: PaymentSession, *, now: datetime | None = None
) -> LegRecord:
    """The leg record a verified IPN creates for its session."""
    return _leg_record(
        notification,
        session.saleor_api_url,
        session.action_type,
        session.transaction_id,
        now or datetime.now(UTC),
    )


def _leg_record(
    notification: Notification,
    saleor_api_url: str,
    action_type: ActionType,
    transaction_id: str,
    now: datetime,
) -> LegRecord:
    status = status_of(notification)
    amount = notification.amount_decimal
    captured = amount if status is LegStatus.ACCEPTED and action_type == "CHARGE" else 0
    # The complement gets its own item later (transactionCreate); every other leg, including
    # refused attempts, is reported on the item transactionInitialize created.
    item = None if notification.leg is Leg.LIMOCB else transaction_id
    return LegRecord(
        saleor_api_url=saleor_api_url,
        reference=notification.reference,
        leg=notification.leg,
        numtrans=notification.numtrans or "",
        numappel=notification.numappel or "",
        authorization=notification.authorization,
        amount=amount,
        currency="EUR",
        status=status,
        action_type=action_type,
        transaction_id=item,
        error_code=notification.error_code,
        message=notification.message_fr,
        card_type=notification.card_type or "",
        captured_amount=captured,
        paid_at=now,
    )


def report_job_id(record: LegRecord) -> str:
    """One report job per (instance, S, status): a duplicate IPN cannot queue a second one."""
    return f"ipn:{instance_id(record.saleor_api_url)}:{record.numtrans}:{record.status.value}"


async def queue_report(services: Services, record: LegRecord) -> bool:
    """Queue the Saleor report of ``record`` (no-op while one is pending for it)."""
    return await services.job_queue.enqueue(
        REPORT_JOB, {"leg": record.model_dump(mode="json")}, job_id=report_job_id(record)
    )


TX_PLACEHOLDER = "@up2pay:session.transaction_id@"
CHANNEL_PLACEHOLDER = "@up2pay:session.channel@"
"""Stand-ins, in the JSON the IPN intake gets, for what only the stored session knows: the
script puts the session's values in their place (:func:`receive_ipn`)."""

# The IPN intake in one step (see record_leg). ENQUEUE_LUA defines enqueue_job. Every key is in
# one instance's hash tag (one slot on a Redis Cluster).
# KEYS = 1 leg record, 2 legs-ref set, 3 legs-tx set (when ARGV[10] = '1'), 4 jobs due zset,
#        5 report jobs' kind index, 6 activity list, 7 session (when ARGV[11] = '1'),
#        8.. the report job key of each status of ARGV[13], in that order
# ARGV = 1 record JSON, 2 S, 3 record status, 4 report job id prefix ('ipn:<instance>:<S>:'),
#        5 now (epoch s), 6 job kind, 7 activity line JSON, 8 activity cap, 9 traceparent,
#        10 '1' when the leg goes on a transaction item, 11 '1': read the session (an IPN),
#        12 record JSON when the session is an AUTHORIZATION, 13 the statuses (comma-separated),
#        14 the legs-tx key prefix (the session's item is known in the script only)
# With ARGV[11] = '1', the record and activity JSON hold TX_PLACEHOLDER and CHANNEL_PLACEHOLDER
# (quoted), replaced by the session's values; the legs-tx key is then built from ARGV[14] (it
# shares the instance's hash tag). Returns {outcome, session JSON or ''}: the session only when
# Python needs it ('upgrade', an accepted pending leg); {'no-session'} when there is none.
_INTAKE = LuaScript(
    ENQUEUE_LUA
    + """
local function replace(text, from, to)
  local i, j = string.find(text, from, 1, true)
  if not i then return text end
  return string.sub(text, 1, i - 1) .. to .. string.sub(text, j + 1)
end
local record, entry, tx_key = ARGV[1], ARGV[7], KEYS[3]
local session = ''
if ARGV[11] == '1' then
  session = redis.call('GET', KEYS[7])
  if not session then return {'no-session', ''} end
  local s = cjson.decode(session)
  if s['action_type'] == 'AUTHORIZATION' then record = ARGV[12] end
  entry = replace(entry, '"' .. '@up2pay:session.channel@' .. '"', cjson.encode(s['channel']))
  if ARGV[10] == '1' then
    record = replace(record, '"' .. '@up2pay:session.transaction_id@' .. '"',
      cjson.encode(s['transaction_id']))
    tx_key = ARGV[14] .. s['transaction_id']
  end
end
local job_keys = {}
local n = 8
for status in string.gmatch(ARGV[13], '[^,]+') do
  job_keys[status] = KEYS[n]
  n = n + 1
end
local existing = redis.call('GET', KEYS[1])
if existing then
  local old = cjson.decode(existing)
  if old['status'] == 'PENDING' and ARGV[3] ~= 'PENDING' then return {'upgrade', session} end
  if not old['reported'] then
    -- The first delivery may still be waiting for Saleor: make sure its job exists.
    local id = ARGV[4] .. old['status']
    local queued = enqueue_job(KEYS[4], job_keys[old['status']], KEYS[5], id, ARGV[5], ARGV[6],
      '{"leg":' .. existing .. '}', ARGV[5], ARGV[9])
    if queued == 1 then return {'duplicate+job', ''} end
  end
  return {'duplicate', ''}
end
redis.call('SET', KEYS[1], record)
redis.call('SADD', KEYS[2], ARGV[2])
if ARGV[10] == '1' then redis.call('SADD', tx_key, ARGV[2]) end
local id = ARGV[4] .. ARGV[3]
enqueue_job(KEYS[4], job_keys[ARGV[3]], KEYS[5], id, ARGV[5], ARGV[6],
  '{"leg":' .. record .. '}', ARGV[5], ARGV[9])
redis.call('LPUSH', KEYS[6], entry)
redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[8]) - 1)
if ARGV[3] ~= 'PENDING' then session = '' end
return {'accepted', session}
"""
)
_STATUSES = [status.value for status in LegStatus]

LegOutcome = Literal["accepted", "duplicate", "upgraded"]


async def record_leg(
    services: Services, record: LegRecord, channel: str | None, *, source: str = "ipn"
) -> LegOutcome:
    """Record one verified leg and queue its Saleor report: **the** way a leg enters the app.

    ``record`` is the leg as Up2pay told it (:func:`leg_record` builds it from an IPN and its
    session; a reconciliation builds it from a GAE answer, ``source="inquiry"``,
    :mod:`.reconcile`); ``channel`` is the session's channel slug, for the activity log. A new
    pending leg also gets its settle-by-inquiry job (:mod:`.pending_legs`). Returns:

    - ``"accepted"``: a new ``S``: the record, its indexes (by reference, by transaction item),
      its report job (:data:`REPORT_JOB`, id :func:`report_job_id`) and an ``ipn`` activity line
      were written together, atomically, in one Redis round trip (one Lua script);
    - ``"duplicate"``: that ``S`` is known and this changes nothing; if the stored leg is not
      reported yet, its report job is made sure to exist (same script, nothing else written);
    - ``"upgraded"``: the stored leg was PENDING and this one is final: the record is replaced
      (keeping the transaction item already attached), reported again and logged (a few round
      trips; rare).

    Raises ``RedisError`` when Redis is unavailable: then nothing was written (a script runs
    whole or not at all), and the caller may simply try again.
    """
    outcome, _ = await _intake(services, record, channel, source=source, session_key=None)
    return await _after_intake(services, record, channel, outcome, source=source)


async def _intake(
    services: Services,
    record: LegRecord,
    channel: str | None,
    *,
    source: str,
    session_key: str | None,
    authorization_record: LegRecord | None = None,
) -> tuple[str, str]:
    """Run the intake script: ``(outcome, session JSON or '')``.

    With ``session_key`` (an IPN), ``record`` is the CHARGE template and
    ``authorization_record`` the AUTHORIZATION one (:data:`TX_PLACEHOLDER` for the item,
    :data:`CHANNEL_PLACEHOLDER` for ``channel``): the script reads the session and completes them.
    """
    queue = services.job_queue
    id_prefix = f"ipn:{instance_id(record.saleor_api_url)}:{record.numtrans}:"
    shard = await queue.register_shard(id_prefix)
    leg_key, ref_key, tx_key = leg_keys(record)
    outcome_text = record.status.value.lower()
    if source != "ipn":
        outcome_text = f"{source}:{outcome_text}"
    entry = ipn_activity_entry(record, channel, outcome=outcome_text, message=record.message)
    due_key, _, kind_key = queue.script_keys(id_prefix, REPORT_JOB)
    keys = [
        leg_key,
        ref_key,
        tx_key or leg_key,  # a placeholder in the same slot when unused
        due_key,
        kind_key,
        activity_key(record.saleor_api_url),
        session_key or leg_key,
        *(shard.job(id_prefix + status) for status in _STATUSES),
    ]
    args = [
        record.model_dump_json(),
        record.numtrans,
        record.status.value,
        id_prefix,
        queue.due_text(),
        REPORT_JOB,
        entry.model_dump_json(),
        str(ACTIVITY_MAX_ENTRIES),
        current_traceparent(),
        "1" if record.transaction_id else "0",
        "1" if session_key else "0",
        (authorization_record or record).model_dump_json(),
        ",".join(_STATUSES),
        legs_tx_prefix(record.saleor_api_url),
    ]
    # Acknowledged by a replica before the IPN's 200 (REDIS_REPLICA_ACK): ReplicaAckMissing else.
    found = await services.replica_acks.run(services.redis, _INTAKE, keys, args)
    outcome, session = str(found[0]), str(found[1] or "")
    return outcome, session


async def _after_intake(
    services: Services, record: LegRecord, channel: str | None, outcome: str, *, source: str
) -> LegOutcome:
    """What follows the intake script: wake the worker, queue the settle job of a pending leg,
    or replace a pending leg by its final one (rare)."""
    queue = services.job_queue
    if outcome == "duplicate":  # nothing queued: the worker has nothing new to look at
        return "duplicate"
    if outcome == "duplicate+job":
        queue.wake()
        return "duplicate"
    if outcome == "accepted":
        queue.wake()
        if record.status is LegStatus.PENDING:
            await queue_settle(services, record)
        return "accepted"
    # A final IPN after a pending one: replace the record, keeping its transaction item.
    outcome_text = record.status.value.lower()
    if source != "ipn":
        outcome_text = f"{source}:{outcome_text}"
    await queue_report(services, record)
    await LegRepository(services.redis).update(
        record.saleor_api_url,
        record.numtrans,
        lambda old: record.model_copy(update={"transaction_id": old.transaction_id}),
    )
    await record_ipn_activity(
        services.redis, record, channel, outcome=outcome_text, message=record.message
    )
    return "upgraded"


async def receive_ipn(services: Services, raw: bytes) -> IpnReceipt:
    """Verify, persist and queue one IPN. Raises ``SignatureInvalid`` / ``MalformedMessage``.

    Two Redis round trips for a new leg or a duplicate: the global reference index (which Saleor
    instance), then the intake script, which reads the session in the instance's hash slot and
    writes the leg with everything that goes with it; one log line at INFO (``ipn.received``,
    or ``ipn.duplicate``). An unknown reference, a missing ``S`` or a pending leg take a few
    more.
    """
    notification = verify(services, raw)
    sessions = SessionRepository(services.redis)
    url = await sessions.reference_url(notification.reference)
    if url is None or not notification.numtrans:
        session = None if url is None else await sessions.get(url, notification.reference)
        return await _keep(services, notification, raw, url, session)

    now = datetime.now(UTC)
    template = _leg_record(notification, url, "CHARGE", TX_PLACEHOLDER, now)
    outcome, session_json = await _intake(
        services,
        template,
        CHANNEL_PLACEHOLDER,
        source="ipn",
        session_key=sessions.session_key(url, notification.reference),
        authorization_record=_leg_record(notification, url, "AUTHORIZATION", TX_PLACEHOLDER, now),
    )
    if outcome == "no-session":
        return await _keep(services, notification, raw, url, None)
    if session_json:  # a case the script leaves to Python: it needs the complete record
        session = PaymentSession.model_validate_json(session_json)
        result = await _after_intake(
            services,
            leg_record(notification, session, now=now),
            session.channel,
            outcome,
            source="ipn",
        )
    else:
        result = await _after_intake(services, template, None, outcome, source="ipn")
    log.info(
        "ipn.duplicate" if result == "duplicate" else "ipn.received",
        reference=template.reference,
        numtrans=template.numtrans,
        leg=template.leg.value,
        error_code=template.error_code,
        status=template.status.value,
        amount=str(template.amount),
        receipt=result,
    )
    return IpnReceipt(result, template.reference, template.numtrans, template.leg)


async def _keep(
    services: Services,
    notification: Notification,
    raw: bytes,
    url: str | None,
    session: PaymentSession | None,
) -> IpnReceipt:
    await keep_unknown(services, notification, raw, url if session is None else None, session)
    status: ReceiptStatus = "unknown_reference" if session is None else "kept"
    return IpnReceipt(status, notification.reference, notification.numtrans, notification.leg)


async def keep_unknown(
    services: Services,
    notification: Notification,
    raw: bytes,
    dangling_url: str | None,
    session: PaymentSession | None,
) -> None:
    """Keep a verified IPN no leg can be made of (:mod:`.unknown_ipns`), and show it.

    When its Saleor instance can be told (the reference names a session but the IPN has no
    ``S``, or the reference index outlived its session), the ``ipn-unknown-reference`` App
    problem is raised on that instance by a job (Saleor is not called on the IPN's path).
    """
    reason = "unknown reference" if session is None else "no transaction number (S)"
    instance = session.saleor_api_url if session is not None else dangling_url
    await UnknownIpns(services.redis).keep(
        UnknownIpn(
            reason=reason,
            reference=notification.reference,
            numtrans=notification.numtrans,
            numappel=notification.numappel,
            card_type=notification.card_type,
            amount_cents=notification.amount,
            error_code=notification.error_code,
            saleor_api_url=instance,
            raw=raw.decode("utf-8", "replace"),
        )
    )
    log.warning(
        "ipn.kept_for_investigation",
        reason=reason,
        reference=notification.reference,
        numtrans=notification.numtrans,
        leg=notification.leg.value,
        error_code=notification.error_code,
    )
    if instance is None:
        # No Saleor to show it in: the configuration page shows a global count instead.
        await count_unattached_unknown_ipn(services.redis)
    else:
        await services.job_queue.enqueue(
            UNKNOWN_PROBLEM_JOB,
            {"saleor_api_url": instance, "reference": notification.reference, "reason": reason},
            job_id=f"ipn-unknown:{instance_id(instance)}:{notification.reference}",
        )


UNKNOWN_PROBLEM_JOB = "ipn.unknown_problem"
"""Job kind: raise ``ipn-unknown-reference`` on the instance an unattachable IPN belongs to."""


async def raise_unknown_problem_job(services: Services, job: Job) -> None:
    """Job ``ipn.unknown_problem``: show an IPN the app could not attach, as an App problem."""
    await raise_unknown_ipn_problem(
        services.problems,
        str(job.payload["saleor_api_url"]),
        redis=services.redis,
        reference=str(job.payload["reference"]),
        numtrans=None,
        reason=str(job.payload.get("reason", "unknown reference")),
    )


LEFT_THE_PAGE = frozenset({"refused", "cancelled", "pending"})
"""Verified browser-return outcomes after which the shopper cannot pay on the same page."""
RELOCK_DELAY = timedelta(milliseconds=200)
REFUSAL_HOLD = timedelta(minutes=10)
"""Longest a refused voucher attempt waits for the shopper to leave the payment page."""
REFUSAL_POLL = timedelta(seconds=15)
SUCCESS_FIRST_DELAY = timedelta(seconds=1)
GONE_ATTEMPTS = 10
"""Runs of a report job Saleor answers NOT_FOUND (item or checkout deleted) before it stops and
keeps the leg for investigation (with the default backoff, about ten minutes)."""


async def keep_unreportable(
    services: Services, session: PaymentSession, record: LegRecord, reason: str
) -> None:
    """Stop reporting a leg Saleor will never take; keep it for investigation, log it loudly."""
    await UnknownIpns(services.redis).keep(
        UnknownIpn(
            reason=f"not reportable to Saleor: {reason}",
            reference=record.reference,
            numtrans=record.numtrans,
            numappel=record.numappel,
            card_type=record.card_type or record.leg.value,
            amount_cents=int(record.amount * 100),
            error_code=record.error_code,
            saleor_api_url=record.saleor_api_url,
        )
    )
    await record_ipn_activity(
        services.redis, record, session.channel, outcome="not_reportable", message=reason
    )
    log.error(
        "ipn.report_abandoned",
        reference=record.reference,
        numtrans=record.numtrans,
        leg=record.leg.value,
        status=record.status.value,
        reason=reason,
    )


async def raise_unreported_problem(
    services: Services, job: Job, record: LegRecord, reason: str
) -> None:
    """After ``REPORT_PROBLEM_ATTEMPTS`` failed runs, show the leg as ``leg-unreported:<S>``.

    Dismissed once the leg is reported (:func:`~.pending_legs.resolve_reported`).
    """
    if job.attempts < services.settings.report_problem_attempts:
        return
    await services.problems.raise_(
        record.saleor_api_url,
        Problem(
            key=f"leg-unreported:{record.numtrans}",
            message=(
                f"Up2pay {record.leg.value} leg S={record.numtrans} of payment {record.reference} "
                f"({record.amount} {record.currency}, {record.status.value.lower()}) could not be "
                f"reported to Saleor after {job.attempts} tries ({reason[:300]}); the app keeps "
                "trying."
            ),
        ),
    )


def refusals_held(session: PaymentSession, browser: str | None, now: datetime) -> bool:
    """Whether the shopper may still pay on the same Up2pay page after a refused attempt.

    True until the browser comes back ``refused``/``cancelled``/``pending`` (verified return:
    the shopper left the payment page; a pending payment ends it too) or
    :data:`REFUSAL_HOLD` after the session started. Shared by the refusal reports
    (:func:`refusal_hold`) and ``transactionProcess``, so both give the same answer.
    """
    if browser in LEFT_THE_PAGE:
        return False
    return now < session.created_at + REFUSAL_HOLD


async def refusal_hold(
    services: Services, session: PaymentSession, record: LegRecord, now: datetime
) -> datetime | None:
    """When to look again at a refused voucher attempt, or None to report it now.

    Held while the shopper may still pay on the same page: no verified browser return yet (or
    one saying ``accepted``/``pending`` whose IPN has not come) and the session is younger than
    :data:`REFUSAL_HOLD`. When an accepted attempt of the payment is known, the refusal waits
    until that success is reported, so the success is the item's first final event.
    """
    if record.status is not LegStatus.REFUSED or record.leg is Leg.LIMOCB:
        return None
    legs = await LegRepository(services.redis).legs_for_reference(
        record.saleor_api_url, record.reference
    )
    accepted = [
        leg
        for leg in legs
        if leg.leg is not Leg.LIMOCB and leg.accepted and leg.numtrans != record.numtrans
    ]
    if accepted:
        return None if all(leg.reported for leg in accepted) else now + SUCCESS_FIRST_DELAY
    browser = await SessionRepository(services.redis).browser_return(
        record.saleor_api_url, record.reference
    )
    if not refusals_held(session, browser, now):
        return None
    return min(session.created_at + REFUSAL_HOLD, now + REFUSAL_POLL)


async def report_ipn_job(services: Services, job: Job) -> None:
    """Job ``ipn.report``: make sure the leg record exists, then report it to Saleor.

    Legs of one reference are reported one at a time (the reference lock
    :meth:`LegReporter.begin` takes). The Redis side is two scripts in the common case (see
    :mod:`.leg_reporter`).
    """
    queued = LegRecord.model_validate(job.payload["leg"])
    reporter = LegReporter(services)
    start = await reporter.begin(queued)
    if start.state == "no_session":
        # The instance's data is gone (APP_DELETED purged it): nothing to report to any more.
        log.warning("ipn.report_dropped", reason="no session", numtrans=queued.numtrans)
        return
    if start.state == "done" or start.record is None or start.session is None:
        return
    record, session = start.record, start.session
    if start.state == "locked":
        hold = await refusal_hold(services, session, record, app_clock(services)())
        if hold is not None:
            raise RetryAt(hold, "refused attempt held while the shopper may pay on the same page")
        raise RetryAt(datetime.now(UTC) + RELOCK_DELAY, "another leg of it is being reported")
    async with reporter.holding(start):
        hold = await refusal_hold(services, session, record, app_clock(services)())
        if hold is not None:
            raise RetryAt(hold, "refused attempt held while the shopper may pay on the same page")
        try:
            await reporter.report_leg(start)
        except ReportTargetGone as exc:
            if job.attempts < GONE_ATTEMPTS:
                await raise_unreported_problem(services, job, record, str(exc))
                raise
            await keep_unreportable(services, session, record, str(exc))
            return
        except Exception as exc:
            await raise_unreported_problem(services, job, record, f"{type(exc).__name__}: {exc}")
            raise
    if start.problems_open:
        await resolve_reported(services.problems, record)
    if record.accepted and record.leg is not Leg.LIMOCB and start.reference_legs > 1:
        await wake_held_refusals(services, record.saleor_api_url, record.reference)


async def wake_held_refusals(services: Services, saleor_api_url: str, reference: str) -> int:
    """Make the held refusal reports of ``reference`` due now (see :func:`refusal_hold`).

    Called once the shopper left the payment page (verified browser return) and once an accepted
    voucher leg is reported. Returns how many jobs were woken.
    """
    legs = await LegRepository(services.redis).legs_for_reference(saleor_api_url, reference)
    queue = services.job_queue
    woken = 0
    for leg in legs:
        if leg.status is LegStatus.REFUSED and leg.leg is not Leg.LIMOCB and not leg.reported:
            woken += await queue.run_now(report_job_id(leg))
    return woken
