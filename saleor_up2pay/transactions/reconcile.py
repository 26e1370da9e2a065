"""Finding legs no IPN told about, and settling pending ones, with GAE inquiries (00017).

Up2pay documents no IPN redelivery (protocol §3.2): a lost IPN would leave a shopper debited and
a checkout never paid. Two jobs (queued by :mod:`.pending_legs`) close the gap:

- **reconcile** (:func:`reconcile_job`), ``RECONCILE_DELAY_SECONDS`` after a verified browser
  return and once the payment page's time is up. A return carries the signed ``S`` and ``T`` of
  its leg: when no IPN brought that ``S``, GAE is asked about it and what it says becomes a leg
  record exactly as an IPN would make it — through the same write path
  (:func:`~saleor_up2pay.transactions.ipn_received.record_leg`: dedupe on ``S``, same report job),
  so an IPN arriving later is a duplicate. GAE's inquiry needs ``NUMTRANS`` (protocol §4.2): a
  leg whose ``S`` nobody told the app (no IPN, no return; or a card complement, which the return
  does not describe) cannot be looked up, and becomes a merchant-visible problem instead;
- **settle** (:func:`settle_job`): a pending leg (``E=99999``) is inquired every
  ``PENDING_SETTLE_SECONDS`` until GAE says it is final, then reported like the final IPN would
  be (a final IPN arriving first wins: the leg is no longer pending and the job stops).

Problems raised here (:class:`~saleor_up2pay.problems.ProblemBoard`), dismissed when a leg of the
payment is reported (:func:`~.pending_legs.resolve_reported`):

- ``leg-missing:<reference>`` — a return's leg GAE does not know, or a voucher leg that pays
  less than the total with no card complement known when the page expired;
- ``payment-unconfirmed:<reference>`` — the page expired with no IPN and no browser return;
- ``leg-unverified:<S>`` — GAE cannot be asked (unavailable, refusing) after several tries, or
  answers a status the app cannot map.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import structlog

from saleor_up2pay.jobs import Job, RetryAt
from saleor_up2pay.saleor.problems import Problem
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.gateway import gateway_factory
from saleor_up2pay.transactions.ipn_received import record_leg
from saleor_up2pay.transactions.legs import LegRecord, LegRepository, LegStatus
from saleor_up2pay.transactions.pending_legs import queue_reconcile
from saleor_up2pay.transactions.sessions import PaymentSession, ReturnedLeg, SessionRepository
from saleor_up2pay.up2pay.codes import GaeOutcome, describe_error_code
from saleor_up2pay.up2pay.models import Leg, Numappel, Numtrans, from_minor_units
from saleor_up2pay.up2pay.notifications import Notification

log = structlog.get_logger(__name__)

PENDING_STATUS = "En attente"
"""``STATUS`` the app reads as "still pending at the issuer". Not documented by Up2pay: a guess
(docs/sandbox.md), matched without accents or case; the sandbox answers it."""

ACCEPTED_STATUSES = {"autorise", "capture", "rembourse"}
REFUSED_STATUSES = {"refuse", "rejet support"}
NOT_FOUND_CODES = {"00015", "00018"}


class LegUnverifiable(Exception):
    """GAE could not be asked about a leg (retried by the job queue)."""


def _normalise(status: str | None) -> str:
    text = unicodedata.normalize("NFKD", status or "")
    return "".join(ch for ch in text if not unicodedata.combining(ch)).strip().lower()


def status_of_inquiry(status: str | None) -> LegStatus | None:
    """The leg status an inquiry's ``STATUS`` stands for (None: not one the app can map)."""
    value = _normalise(status)
    if value in ACCEPTED_STATUSES:
        return LegStatus.ACCEPTED
    if value in REFUSED_STATUSES:
        return LegStatus.REFUSED
    if value == _normalise(PENDING_STATUS):
        return LegStatus.PENDING
    return None


def _numbers(value: str | None, fallback: str) -> str:
    """GAE pads numbers to 10 digits; IPNs do not: the app keys legs by the IPN's spelling."""
    return str(int(value)) if value and value.isdigit() else fallback


def inquired_record(
    session: PaymentSession,
    returned: ReturnedLeg,
    status: LegStatus,
    *,
    authorization: str | None,
    now: datetime,
) -> LegRecord:
    """The leg record an IPN would have created, from a return's numbers and GAE's status."""
    amount = from_minor_units(returned.amount_cents)
    leg = Leg.from_card_type(returned.card_type or session.method)
    code = {
        LegStatus.ACCEPTED: "00000",
        LegStatus.PENDING: "99999",
        LegStatus.REFUSED: "" if returned.error_code in {"00000", "99999"} else returned.error_code,
    }[status]
    info, _ = describe_error_code(code) if code else (None, None)
    message = info.fr if info is not None else "Refusé"
    captured = amount if status is LegStatus.ACCEPTED and session.action_type == "CHARGE" else 0
    return LegRecord(
        saleor_api_url=session.saleor_api_url,
        reference=session.reference,
        leg=leg,
        numtrans=Numtrans(returned.numtrans),
        numappel=Numappel(returned.numappel),
        authorization=authorization if status is LegStatus.ACCEPTED else None,
        amount=amount,
        currency="EUR",
        status=status,
        action_type=session.action_type,
        transaction_id=None if leg is Leg.LIMOCB else session.transaction_id,
        error_code=code,
        message=f"{message} (consultation GAE)",
        card_type=returned.card_type,
        captured_amount=Decimal(captured),
        paid_at=now,
    )


async def inquire(
    services: Services, session: PaymentSession, returned: ReturnedLeg, job: Job
) -> tuple[LegStatus, str | None] | None:
    """GAE's word on one leg: (status, authorization), or None when GAE does not know it.

    Raises :class:`LegUnverifiable` (the job retries; after ``REPORT_PROBLEM_ATTEMPTS`` runs a
    ``leg-unverified:<S>`` problem is shown) when GAE cannot be asked or answers what the app
    cannot map.
    """
    config = await services.configurations.get(session.saleor_api_url, session.config_id)
    gae = gateway_factory(services)(config).gae()
    leg = Leg.from_card_type(returned.card_type) if returned.card_type else None
    result = await gae.inquire(
        leg=leg, numappel=Numappel(returned.numappel), numtrans=Numtrans(returned.numtrans)
    )
    if result.code in NOT_FOUND_CODES:
        return None
    status = status_of_inquiry(result.status) if result.outcome is GaeOutcome.SUCCESS else None
    if status is not None:
        return status, result.authorization
    why = (
        f"GAE answered status {result.status!r}"
        if result.outcome is GaeOutcome.SUCCESS
        else f"GAE answered {result.code or 'nothing'}: {result.message}"
    )
    if job.attempts >= services.settings.report_problem_attempts:
        await services.problems.raise_(
            session.saleor_api_url,
            Problem(
                key=f"leg-unverified:{returned.numtrans}",
                message=(
                    f"Up2pay transaction S={returned.numtrans} of payment {session.reference} "
                    f"could not be checked with Up2pay ({why}); the app keeps trying. Check it "
                    "in the Up2pay back office."
                ),
            ),
        )
    raise LegUnverifiable(why)


async def keep_returned_leg(
    services: Services, session: PaymentSession, notification: Notification
) -> None:
    """A verified browser return: keep its leg's S, T, M, C, E and queue the reconcile.

    The reconcile is due ``RECONCILE_DELAY_SECONDS`` later; it does nothing if the IPN of that
    ``S`` arrived meanwhile. A return without a transaction (a cancel: no ``S``, or ``S=0``)
    keeps nothing.
    """
    numtrans = notification.numtrans or ""
    if not numtrans.strip("0") or not notification.numappel:
        return  # a cancel on the page: no transaction was made (S=0 or none)
    returned = ReturnedLeg(
        numtrans=notification.numtrans,
        numappel=notification.numappel,
        amount_cents=notification.amount,
        card_type=notification.card_type or "",
        error_code=notification.error_code,
    )
    sessions = SessionRepository(services.redis)
    await sessions.record_returned_leg(session.saleor_api_url, session.reference, returned)
    delay = timedelta(seconds=services.settings.reconcile_delay_seconds)
    await queue_reconcile(
        services,
        session.saleor_api_url,
        session.reference,
        "return",
        at=datetime.now(UTC) + delay,
    )


async def reconcile_job(services: Services, job: Job) -> None:
    """Job ``leg.reconcile``: find the legs of one payment that no IPN brought."""
    url = str(job.payload["saleor_api_url"])
    reference = str(job.payload["reference"])
    reason = str(job.payload.get("reason", "return"))
    sessions = SessionRepository(services.redis)
    session = await sessions.get(url, reference)
    if session is None:  # purged by an uninstall
        return
    repo = LegRepository(services.redis)
    known = {leg.numtrans: leg for leg in await repo.legs_for_reference(url, reference)}
    returned = await sessions.returned_leg(url, reference)
    bound = log.bind(reference=reference, reason=reason)
    if returned is not None and returned.numtrans not in known:
        found = await inquire(services, session, returned, job)
        if found is None:
            await _missing(
                services,
                session,
                f"Up2pay does not know transaction S={returned.numtrans} that the shopper's "
                f"browser came back with for payment {reference}; no IPN came either.",
            )
            bound.error("reconcile.leg_not_found", numtrans=returned.numtrans)
        else:
            status, authorization = found
            record = inquired_record(
                session, returned, status, authorization=authorization, now=services.now()
            )
            outcome = await record_leg(services, record, session.channel, source="inquiry")
            bound.warning(
                "reconcile.leg_found", numtrans=record.numtrans, status=status.value, as_=outcome
            )
            known[record.numtrans] = record
    if reason != "expiry":
        return
    browser = await sessions.browser_return(url, reference)
    if not known and returned is None and browser != "cancelled":
        await services.problems.raise_(
            url,
            Problem(
                key=f"payment-unconfirmed:{reference}",
                message=(
                    f"The Up2pay payment page of {reference} ({session.amount} "
                    f"{session.currency}, {session.method}) expired with no word from Up2pay "
                    "(no IPN, no browser return). If the shopper paid, the payment is only in the "
                    "Up2pay back office: look for this reference there."
                ),
            ),
        )
        bound.warning("reconcile.payment_unconfirmed")
        return
    voucher_paid = sum(
        (r.amount for r in known.values() if r.accepted and r.leg is not Leg.LIMOCB), Decimal(0)
    )
    complement = any(r.leg is Leg.LIMOCB for r in known.values())
    if Decimal(0) < voucher_paid < session.amount and not complement:
        await _missing(
            services,
            session,
            f"Payment {reference}: the voucher paid {voucher_paid} of {session.amount} "
            f"{session.currency} and no card complement was heard of (its IPN may be lost; "
            "Up2pay can only be asked about a transaction number the app knows). Check the "
            "reference in the Up2pay back office.",
        )
        bound.warning("reconcile.complement_unknown", voucher_paid=str(voucher_paid))


async def _missing(services: Services, session: PaymentSession, message: str) -> None:
    await services.problems.raise_(
        session.saleor_api_url,
        Problem(key=f"leg-missing:{session.reference}", message=message, critical_threshold=1),
    )


async def settle_job(services: Services, job: Job) -> None:
    """Job ``leg.settle``: inquire a pending leg until GAE says it is final, then report it."""
    url = str(job.payload["saleor_api_url"])
    numtrans = str(job.payload["numtrans"])
    record = await LegRepository(services.redis).get_by_numtrans(url, numtrans)
    if record is None or record.status is not LegStatus.PENDING:
        return  # settled by its final IPN (or purged)
    session = await SessionRepository(services.redis).get(url, record.reference)
    if session is None:
        return
    returned = ReturnedLeg(
        numtrans=record.numtrans,
        numappel=record.numappel,
        amount_cents=int(record.amount * 100),
        card_type=record.card_type or record.leg.value,
        error_code=record.error_code,
    )
    found = await inquire(services, session, returned, job)
    again = datetime.now(UTC) + timedelta(seconds=services.settings.pending_settle_seconds)
    if found is None or found[0] is LegStatus.PENDING:
        raise RetryAt(again, "the leg is still pending at the issuer")
    status, authorization = found
    final = inquired_record(
        session, returned, status, authorization=authorization, now=record.paid_at
    )
    await record_leg(services, final, session.channel, source="inquiry")
    log.info("settle.leg_final", numtrans=numtrans, status=status.value)


__all__ = [
    "PENDING_STATUS",
    "inquired_record",
    "reconcile_job",
    "settle_job",
    "status_of_inquiry",
]
