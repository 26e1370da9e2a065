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

from saleor_up2pay.jobs import Job, RetryAt
from saleor_up2pay.redis_store import instance_id
from saleor_up2pay.saleor.problems import Problem
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.gateway import app_clock
from saleor_up2pay.transactions.leg_reporter import LegReporter, ReportTargetGone
from saleor_up2pay.transactions.legs import (
    LegRecord,
    LegRepository,
    LegStatus,
    record_ipn_activity,
)
from saleor_up2pay.transactions.pending_legs import queue_settle, resolve_reported
from saleor_up2pay.transactions.sessions import (
    PaymentSession,
    SessionRepository,
    reference_index_key,
)
from saleor_up2pay.transactions.unknown_ipn_problems import raise_unknown_ipn_problem
from saleor_up2pay.transactions.unknown_ipns import UnknownIpn, UnknownIpns
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
    status = status_of(notification)
    amount = notification.amount_decimal
    captured = amount if status is LegStatus.ACCEPTED and session.action_type == "CHARGE" else 0
    # The complement gets its own item later (transactionCreate); every other leg, including
    # refused attempts, is reported on the item transactionInitialize created.
    transaction_id = None if notification.leg is Leg.LIMOCB else session.transaction_id
    return LegRecord(
        saleor_api_url=session.saleor_api_url,
        reference=notification.reference,
        leg=notification.leg,
        numtrans=notification.numtrans or "",
        numappel=notification.numappel or "",
        authorization=notification.authorization,
        amount=amount,
        currency="EUR",
        status=status,
        action_type=session.action_type,
        transaction_id=transaction_id,
        error_code=notification.error_code,
        message=notification.message_fr,
        card_type=notification.card_type or "",
        captured_amount=captured,
        paid_at=now or datetime.now(UTC),
    )


def report_job_id(record: LegRecord) -> str:
    """One report job per (instance, S, status): a duplicate IPN cannot queue a second one."""
    return f"ipn:{instance_id(record.saleor_api_url)}:{record.numtrans}:{record.status.value}"


async def queue_report(services: Services, record: LegRecord) -> bool:
    """Queue the Saleor report of ``record`` (no-op while one is pending for it)."""
    return await services.job_queue.enqueue(
        REPORT_JOB, {"leg": record.model_dump(mode="json")}, job_id=report_job_id(record)
    )


async def receive_ipn(services: Services, raw: bytes) -> IpnReceipt:
    """Verify, persist and queue one IPN. Raises ``SignatureInvalid`` / ``MalformedMessage``."""
    notification = verify(services, raw)
    bound = log.bind(
        reference=notification.reference,
        numtrans=notification.numtrans,
        leg=notification.leg.value,
        error_code=notification.error_code,
    )
    session = await SessionRepository(services.redis).get_by_reference(notification.reference)
    if session is None or not notification.numtrans:
        reason = "unknown reference" if session is None else "no transaction number (S)"
        await UnknownIpns(services.redis).keep(
            UnknownIpn(
                reason=reason,
                reference=notification.reference,
                numtrans=notification.numtrans,
                numappel=notification.numappel,
                card_type=notification.card_type,
                amount_cents=notification.amount,
                error_code=notification.error_code,
                raw=raw.decode("utf-8", "replace"),
            )
        )
        bound.warning("ipn.kept_for_investigation", reason=reason)
        url = (
            session.saleor_api_url
            if session
            else await services.redis.get(reference_index_key(notification.reference))
        )
        await raise_unknown_ipn_problem(
            services.problems,
            str(url) if url else None,
            redis=services.redis,
            reference=notification.reference,
            numtrans=notification.numtrans,
            reason=reason,
        )
        status: ReceiptStatus = "unknown_reference" if session is None else "kept"
        return IpnReceipt(status, notification.reference, notification.numtrans, notification.leg)

    record = leg_record(notification, session)
    status = await record_leg(services, session, record)
    return IpnReceipt(status, record.reference, record.numtrans, record.leg)


async def record_leg(
    services: Services, session: PaymentSession, record: LegRecord, *, source: str = "ipn"
) -> ReceiptStatus:
    """Persist one leg and queue its Saleor report: what a verified IPN does with its leg.

    The one write path for a leg, whoever learnt of it: an IPN, or a GAE inquiry
    (:mod:`.reconcile`, ``source="inquiry"``). Dedupe is on ``S``: a leg already known is a
    no-op (``duplicate``) unless it was pending and this one is final (``upgraded``: reported
    again). A new pending leg also gets its settle-by-inquiry job (:mod:`.pending_legs`).
    """
    bound = log.bind(
        reference=record.reference, numtrans=record.numtrans, leg=record.leg.value, source=source
    )
    legs = LegRepository(services.redis)
    existing = await legs.get_by_numtrans(record.saleor_api_url, record.numtrans)
    if existing is not None:
        upgrade = existing.status is LegStatus.PENDING and record.status is not LegStatus.PENDING
        if not upgrade:
            if not existing.reported:
                # The first delivery may still be waiting for Saleor: make sure a job exists.
                await queue_report(services, existing)
            bound.info("ipn.duplicate")
            return "duplicate"
        await queue_report(services, record)
        await legs.update(
            record.saleor_api_url,
            record.numtrans,
            lambda old: record.model_copy(update={"transaction_id": old.transaction_id}),
        )
        receipt_status: ReceiptStatus = "upgraded"
    else:
        await queue_report(services, record)
        if not await legs.create(record):
            bound.info("ipn.duplicate")
            return "duplicate"
        receipt_status = "accepted"
        if record.status is LegStatus.PENDING:
            await queue_settle(services, record)
    await record_ipn_activity(
        services.redis,
        record,
        session.channel,
        outcome=record.status.value.lower()
        if source == "ipn"
        else f"{source}:{record.status.value.lower()}",
        message=record.message,
    )
    bound.info("ipn.received", status=record.status.value, amount=str(record.amount))
    return receipt_status


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

    Legs of one reference are reported one at a time (:meth:`LegReporter.reference_lock`).
    """
    queued = LegRecord.model_validate(job.payload["leg"])
    session = await SessionRepository(services.redis).get(queued.saleor_api_url, queued.reference)
    if session is None:
        # The instance's data is gone (APP_DELETED purged it): nothing to report to any more.
        log.warning("ipn.report_dropped", reason="no session", numtrans=queued.numtrans)
        return
    legs = LegRepository(services.redis)
    await legs.create(queued)  # no-op unless the process died between queueing and storing
    record = await legs.get_by_numtrans(queued.saleor_api_url, queued.numtrans)
    if record is None:  # purged by an uninstall meanwhile
        log.info("ipn.report_dropped", reason="leg purged", numtrans=queued.numtrans)
        return
    if record.reported and record.status is queued.status:
        return
    hold = await refusal_hold(services, session, record, app_clock(services)())
    if hold is not None:
        raise RetryAt(hold, "refused attempt held while the shopper may pay on the same page")
    reporter = LegReporter(services)
    # Legs of one reference are reported one at a time: the complement item must be created once.
    async with reporter.reference_lock(record.saleor_api_url, record.reference) as locked:
        if not locked:
            raise RetryAt(datetime.now(UTC) + RELOCK_DELAY, "another leg of it is being reported")
        try:
            await reporter.report_leg(record)
        except ReportTargetGone as exc:
            if job.attempts < GONE_ATTEMPTS:
                await raise_unreported_problem(services, job, record, str(exc))
                raise
            await keep_unreportable(services, session, record, str(exc))
            return
        except Exception as exc:
            await raise_unreported_problem(services, job, record, f"{type(exc).__name__}: {exc}")
            raise
    await resolve_reported(services.problems, record)
    if record.accepted and record.leg is not Leg.LIMOCB:
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
