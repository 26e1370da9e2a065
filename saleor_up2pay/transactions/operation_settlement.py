"""Exactly-once capture, refund and cancel: execute an intent, recover it, settle it.

The order-action use cases (:mod:`.transaction_charge_requested`,
:mod:`.transaction_refund_requested`, :mod:`.transaction_cancelation_requested`) write an intent
in the :mod:`journal <.journal>` and hand it here:

- :func:`execute` makes the GAE call of an intent, then writes its outcome and applies it to the
  leg. Crash points (``before_gae``, ``after_gae``, ``before_outcome``, ``after_journal``) call
  the injected fault hook (:attr:`~saleor_up2pay.services.Services.faults`, tests only).
  An exception *after* GAE answered never reaches Saleor as a 5xx (which Saleor would retry):
  the answer is built from GAE's result, and an uncertain one is settled later.
- :func:`reenter` handles a request whose entry exists (Saleor's redelivery): a known outcome is
  answered again; an intent without outcome is **inquired** (00017) first — executed → success;
  not executed and its lease over → executed now; otherwise → the asynchronous answer and a
  settle job. Nothing is re-sent blindly.
- the ``operation.settle`` job (:func:`run_settle_job`) inquires until the result is known
  (backoff of the job queue), reports ``<OPERATION>_SUCCESS`` / ``_FAILURE`` with the answered
  pspReference through the one event reporter, and raises the ``operation-uncertain:<psp>``
  problem after :data:`UNCERTAIN_PROBLEM_AFTER` tries (it keeps trying; the problem is dismissed
  once settled). The deferred-refund job (``refund.deferred``) settles through the same
  :func:`settle` once Up2pay allows the refund.

Problems shown to the merchant: ``operation-uncertain:<psp>``, ``refund-failed:<psp>`` (a
deferred refund Up2pay refused) and ``gae-credentials:<configuration id>`` (GAE answered 00006).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog

from saleor_up2pay.jobs import Job, RetryAt
from saleor_up2pay.redis_store import instance_id
from saleor_up2pay.saleor.ids import SaleorApiUrl, TransactionItemId
from saleor_up2pay.saleor.payloads import (
    ActionRequest,
    ActionTransaction,
    PayloadError,
    RequestedAction,
)
from saleor_up2pay.saleor.payloads import TransactionRefundRequested as _AnyRequest
from saleor_up2pay.saleor.problems import Problem
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.follow_up_events import report_event
from saleor_up2pay.transactions.journal import JournalEntry, JournalState, operation_id
from saleor_up2pay.transactions.legs import LegRecord, available_actions
from saleor_up2pay.transactions.order_actions import (
    ActionRefused,
    ActionServices,
    ActionTarget,
    gae_failure_message,
    incomplete_request,
    money,
)
from saleor_up2pay.transactions.results import (
    ActionAccepted,
    ActionFailure,
    ActionOutcome,
    ActionSuccess,
)
from saleor_up2pay.up2pay import (
    GAE_FAILOVER_CODES,
    GaeOutcome,
    GaeResult,
    InvalidPaymentRequest,
    Operation,
    to_minor_units,
    went_through,
)

log = structlog.get_logger(__name__)

SETTLE_JOB = "operation.settle"
"""Job kind: settle one journal entry (payload ``{"saleor_api_url", "op_id"}``)."""
UNCERTAIN_PROBLEM_AFTER = 5
"""Tries of the settle job before the merchant is shown the ``operation-uncertain`` problem."""
CREDENTIALS_REFUSED = "00006"

_GAE_OPERATION = {
    "capture": Operation.CAPTURE,
    "refund": Operation.REFUND,
    "cancel": Operation.CANCEL,
}


class StillUncertain(Exception):
    """The settle job could not tell yet whether the operation executed (retried)."""


class RetryUnavailable(Exception):
    """GAE was unreachable and nothing moved: the job runs again later."""


def uncertain_key(entry: JournalEntry) -> str:
    return f"operation-uncertain:{entry.psp_reference}"[:128]


def refund_failed_key(entry: JournalEntry) -> str:
    return f"refund-failed:{entry.psp_reference}"[:128]


def answer_of(entry: JournalEntry) -> ActionOutcome:
    """What Saleor is answered for an entry: its outcome, or the asynchronous form."""
    operation = entry.saleor_operation
    if entry.state is JournalState.SUCCESS:
        return ActionSuccess(
            operation=operation,
            psp_reference=entry.psp_reference,
            amount=entry.amount,
            actions=entry.actions or [],
            message=entry.message,
        )
    if entry.state is JournalState.FAILURE:
        return ActionFailure(operation=operation, message=entry.message, actions=entry.actions)
    return ActionAccepted(operation=operation, psp_reference=entry.psp_reference)


# --- GAE ---------------------------------------------------------------------------------------


async def call_gae(target: ActionTarget, entry: JournalEntry) -> GaeResult:
    """The intent's GAE call (a request our own checks refuse is FAILED: nothing was sent)."""
    record, gae = target.record, target.gae
    amount = to_minor_units(entry.amount, record.currency)
    numbers: dict[str, Any] = {
        "leg": record.leg,
        "amount": amount,
        "reference": target.reference,
        "numappel": record.numappel,
        "numtrans": record.numtrans,
    }
    try:
        if entry.gae_call == "capture":
            return await gae.capture(**numbers)
        if entry.gae_call == "cancel":
            return await gae.cancel(**numbers)
        return await gae.refund(**numbers, first_refund=entry.first_refund)
    except InvalidPaymentRequest as exc:
        return GaeResult(
            operation=_GAE_OPERATION[entry.gae_call],
            outcome=GaeOutcome.FAILED,
            code="",
            message=str(exc),
        )


async def inquire(target: ActionTarget, entry: JournalEntry) -> bool | None:
    """Did the intent's GAE call execute? Inquiry 00017: True / False / None (cannot tell)."""
    record = target.record
    result = await target.gae.inquire(
        leg=record.leg, numappel=record.numappel, numtrans=record.numtrans
    )
    if not result.ok:
        log.warning("operation.inquiry_failed", code=result.code, outcome=result.outcome.value)
        return None
    verdict = went_through(_GAE_OPERATION[entry.gae_call], result, first_refund=entry.first_refund)
    log.info(
        "operation.inquired",
        psp_reference=entry.psp_reference,
        status=result.status,
        executed=verdict,
    )
    return verdict


# --- outcomes on the leg -------------------------------------------------------------------------


async def apply_success(
    deps: ActionServices, entry: JournalEntry, result: GaeResult | None
) -> JournalEntry:
    """Book a success on the leg (what the reservation did not) and write it in the journal."""
    url, numtrans, now = entry.saleor_api_url, entry.numtrans, deps.clock()

    def book(record: LegRecord) -> LegRecord:
        if entry.gae_call == "capture":
            return record.model_copy(update={"captured_at": record.captured_at or now})
        if entry.operation == "cancel":
            return record.with_cancel(record.capturable_amount)
        return record

    record = await deps.legs.update(url, numtrans, book)
    actions = available_actions(record)
    if entry.voided > 0:
        void_reference = f"{entry.psp_reference}:void"
        await deps.queue_event(
            SaleorApiUrl(url),
            TransactionItemId(entry.transaction_id),
            {
                "type": "CANCEL_SUCCESS",
                "pspReference": void_reference,
                "amount": str(entry.voided),
                "message": (
                    f"Up2pay cancelled the uncaptured {money(entry.voided)} of this "
                    f"{record.leg.label} payment: a payment is captured once, so a "
                    "partial capture releases the rest."
                ),
                "availableActions": actions,
            },
            job_id=f"event:{instance_id(url)}:{void_reference}",
        )
    code = result.code if result else ""
    return await deps.journal.put(
        entry.model_copy(
            update={
                "state": JournalState.SUCCESS,
                "code": code,
                "message": _success_message(entry, record, result),
                "actions": actions,
            }
        )
    )


async def apply_failure(deps: ActionServices, entry: JournalEntry, message: str) -> JournalEntry:
    """Release what the intent reserved (nothing moved) and write the failure in the journal."""
    url, numtrans = entry.saleor_api_url, entry.numtrans

    def release(record: LegRecord) -> LegRecord:
        if not entry.reserved:
            return record
        if entry.operation == "capture":
            return record.model_copy(
                update={
                    "captured_amount": record.captured_amount - entry.amount,
                    "cancelled_amount": record.cancelled_amount - entry.voided,
                }
            )
        if entry.operation == "refund":
            return record.with_refund(-entry.amount)
        return record

    try:
        record = await deps.legs.update(url, numtrans, release)
        actions: list[Any] | None = list(available_actions(record))
    except KeyError:
        actions = None
    return await deps.journal.put(
        entry.model_copy(
            update={"state": JournalState.FAILURE, "message": message, "actions": actions}
        )
    )


def _success_message(entry: JournalEntry, record: LegRecord, result: GaeResult | None) -> str:
    if result is None or result.confirmed_by_inquiry or not result.code:
        how = "confirmed by inquiry"
    else:
        how = f"code {result.code}"
    label, numtrans, amount = record.leg.label, record.numtrans, money(entry.amount)
    if entry.operation == "capture":
        return f"Up2pay captured {amount} of {label} S={numtrans} ({how})."
    if entry.operation == "cancel":
        return f"Up2pay cancelled {label} S={numtrans} ({amount}, {how})."
    if entry.gae_call == "cancel":
        return (
            f"Up2pay cancelled {label} S={numtrans} the day it was paid ({amount}, {how}): "
            "the card is never debited, so nothing needs refunding."
        )
    number = (
        f", refund S={result.numtrans}"
        if result and result.numtrans and not result.confirmed_by_inquiry
        else ""
    )
    return f"Up2pay refunded {amount} of {label} S={numtrans}{number} ({how})."


# --- executing and re-entering ------------------------------------------------------------------


async def execute(
    deps: ActionServices,
    target: ActionTarget,
    entry: JournalEntry,
    *,
    retry_unavailable: bool = False,
    adopt_refund_number: bool = True,
) -> JournalEntry:
    """Make the intent's GAE call and write its outcome; returns the entry as it now stands.

    The intent is first confirmed on a replica (:meth:`ActionServices.confirm_intent`; raises
    before anything is sent when it cannot be).

    ``retry_unavailable`` (jobs): GAE unreachable raises :class:`RetryUnavailable` after
    putting the entry back as it was (nothing moved). Never raises after GAE answered: the
    returned entry (maybe not stored) says what to answer. ``adopt_refund_number``: an
    immediate refund answered synchronously takes Up2pay's own number for the refund as its
    pspReference (a job reports with the one already answered).
    """
    await deps.confirm_intent(entry)  # a replica has the intent: a failover cannot lose it now
    await deps.faults("before_gae")
    result = await call_gae(target, entry)
    await deps.faults("after_gae")
    try:
        await deps.faults("before_outcome")  # a Redis blip while the outcome is written
        await deps.record_gae(target, entry.amount, result, entry.psp_reference)
        result = await _unless_it_executed(target, entry, result)
        if result.code == CREDENTIALS_REFUSED:
            await deps.raise_problem(
                entry.saleor_api_url,
                Problem(
                    key=f"gae-credentials:{target.config_id or 'default'}"[:128],
                    message="Up2pay refused the merchant credentials of configuration "
                    f"{target.config_id or 'default'} (GAE code 00006): check the site, rank "
                    "and HMAC key. Captures, refunds and cancels fail until then.",
                    critical_threshold=1,
                ),
            )
        if result.ok:
            if adopt_refund_number:
                entry = _adopt_refund_number(entry, result, target.record)
            entry = await apply_success(deps, entry, result)
        elif result.outcome is GaeOutcome.UNCERTAIN:
            log.error("operation.uncertain", psp_reference=entry.psp_reference)
            entry = await deps.journal.put(
                entry.model_copy(
                    update={"state": JournalState.UNCERTAIN, "message": result.message}
                )
            )
            await queue_settle(deps, entry)
        elif result.outcome is GaeOutcome.UNAVAILABLE and retry_unavailable:
            raise RetryUnavailable(result.message)
        else:
            operation = {"capture": "capture", "cancel": "cancel", "refund": "refund"}
            entry = await apply_failure(
                deps, entry, gae_failure_message(operation[entry.gae_call], result)
            )
    except RetryUnavailable:
        raise
    except Exception:
        # GAE answered: whatever failed after it must not become a 5xx (Saleor would resend).
        log.exception("operation.after_gae_failed", psp_reference=entry.psp_reference)
        entry = await _after_gae_fallback(deps, entry, result)
    await deps.faults("after_journal")
    return entry


async def _unless_it_executed(
    target: ActionTarget, entry: JournalEntry, result: GaeResult
) -> GaeResult:
    """A failover code (``00001``/``00003``/``00097``/``00098``) left unretried (no backup host)
    does not prove the operation did not execute (its answer may be what was lost): inquire.
    Executed → success; cannot tell → uncertain; proven not executed → the failure stands."""
    if result.ok or result.code not in GAE_FAILOVER_CODES:
        return result
    verdict = await inquire(target, entry)
    if verdict is True:
        return replace(result, outcome=GaeOutcome.SUCCESS, confirmed_by_inquiry=True)
    if verdict is None:
        return replace(
            result,
            outcome=GaeOutcome.UNCERTAIN,
            message=f"Up2pay answered code {result.code} ({result.message}); it may have been "
            "executed: the app checks with Up2pay.",
        )
    return result


def _adopt_refund_number(entry: JournalEntry, result: GaeResult, record: LegRecord) -> JournalEntry:
    number = result.numtrans
    if (
        entry.gae_call == "refund"
        and number
        and not result.confirmed_by_inquiry
        and number.lstrip("0") != record.numtrans.lstrip("0")
    ):
        return entry.model_copy(update={"psp_reference": number})
    return entry


async def _after_gae_fallback(
    deps: ActionServices, entry: JournalEntry, result: GaeResult
) -> JournalEntry:
    """The entry to answer from when writing the outcome failed (kept only in memory)."""
    if result.ok:
        state, message = JournalState.SUCCESS, f"Up2pay executed it (code {result.code})."
    elif result.outcome is GaeOutcome.UNCERTAIN:
        state, message = JournalState.UNCERTAIN, result.message
    else:
        state, message = JournalState.FAILURE, gae_failure_message(entry.gae_call, result)
    fallback = entry.model_copy(update={"state": state, "message": message})
    if state is not JournalState.FAILURE:
        # The settle job finds the intent, inquires and books what the answer could not
        # (leg, follow-up events); reporting the answered outcome again is a no-op for Saleor.
        try:
            await queue_settle(deps, fallback)
        except Exception:
            log.exception("operation.settle_not_queued", psp_reference=entry.psp_reference)
    return fallback


@dataclass(frozen=True)
class Started:
    """An order-action request resolved and looked up in the journal (:func:`start`)."""

    op_id: str
    target: ActionTarget
    replay: ActionOutcome | None
    """The answer of an earlier delivery of this very request (re-entered, never re-sent
    blindly); None when the request is new, or an earlier try moved nothing."""


async def start(
    deps: ActionServices,
    saleor_api_url: SaleorApiUrl,
    event: str,
    model: type[ActionRequest],
    payload: dict[str, Any],
) -> Started:
    """What every order action does first: parse the payload, find the leg, and look the
    request up in the journal. Raises :class:`ActionRefused` (incomplete request, unknown leg...).
    """
    op_id = operation_id(event, payload)
    try:
        request = model.parse(payload)
    except PayloadError as exc:
        raise incomplete_request(exc) from exc
    target = await deps.target(saleor_api_url, request)
    existing = await deps.journal.get(saleor_api_url, op_id)
    if existing is not None and existing.state is not JournalState.FAILURE:
        return Started(op_id, target, await reenter(deps, target, existing))
    if existing is not None:
        await deps.journal.forget(existing)  # it moved nothing: this is a new try
    return Started(op_id, target, None)


async def reenter(deps: ActionServices, target: ActionTarget, entry: JournalEntry) -> ActionOutcome:
    """A request whose journal entry exists (a redelivery): never sends GAE blindly."""
    log.info("operation.reentered", psp_reference=entry.psp_reference, state=entry.state.value)
    if entry.state in {JournalState.SUCCESS, JournalState.FAILURE, JournalState.DEFERRED}:
        return answer_of(entry)
    if entry.state is JournalState.UNCERTAIN:
        await queue_settle(deps, entry)
        return answer_of(entry)
    executed = await inquire(target, entry)
    now = deps.clock()
    if executed is True:
        return answer_of(await apply_success(deps, entry, None))
    if executed is False and now >= entry.lease_until:
        renewed = await deps.journal.put(entry.model_copy(update={"lease_until": now + deps.lease}))
        return answer_of(await execute(deps, target, renewed))
    # In flight elsewhere, or cannot tell: settle later.
    await queue_settle(deps, entry, run_at=max(now, entry.lease_until))
    return answer_of(entry.model_copy(update={"state": JournalState.UNCERTAIN}))


async def queue_settle(
    deps: ActionServices, entry: JournalEntry, run_at: datetime | None = None
) -> None:
    """Queue the settle job of an entry (one per entry: a second enqueue is a no-op)."""
    await deps.queue.enqueue(
        SETTLE_JOB,
        {"saleor_api_url": entry.saleor_api_url, "op_id": entry.op_id},
        job_id=f"settle:{instance_id(entry.saleor_api_url)}:{entry.op_id}",
        run_at=run_at,
    )


# --- settling (jobs) ------------------------------------------------------------------------------


async def target_of(deps: ActionServices, entry: JournalEntry) -> ActionTarget:
    """The entry's leg and GAE client, resolved as its request was."""
    record = await deps.legs.get_by_numtrans(entry.saleor_api_url, entry.numtrans)
    if record is None:
        msg = "The Up2pay payment of this operation is no longer known."
        raise ActionRefused(msg)
    request = _AnyRequest(
        action=RequestedAction(
            action_type=entry.saleor_operation, amount=entry.amount, currency=record.currency
        ),
        transaction=ActionTransaction(
            id=TransactionItemId(entry.transaction_id), psp_reference=record.numtrans
        ),
    )
    return await deps.target(SaleorApiUrl(entry.saleor_api_url), request)


async def settle(
    services: Services,
    deps: ActionServices,
    entry: JournalEntry,
    *,
    attempts: int,
    allowed: bool = True,
) -> JournalEntry:
    """Bring ``entry`` to a known outcome and report it to Saleor (once).

    ``allowed``: a deferred refund may run now (D+1). Raises :class:`StillUncertain` (retry with
    backoff) while GAE cannot tell, :class:`RetryUnavailable` when GAE is unreachable,
    :class:`~saleor_up2pay.jobs.RetryAt` while an intent's call may still be in flight.
    """
    if not entry.settled:
        entry = await _settle_outcome(deps, entry, attempts=attempts, allowed=allowed)
    if not entry.reported:
        await _report(services, entry)
        entry = await deps.journal.put(entry.model_copy(update={"reported": True}))
    await deps.resolve_problems(entry.saleor_api_url, uncertain_key(entry))
    return entry


async def _settle_outcome(
    deps: ActionServices, entry: JournalEntry, *, attempts: int, allowed: bool
) -> JournalEntry:
    now = deps.clock()
    try:
        target = await target_of(deps, entry)
    except ActionRefused as exc:
        return await apply_failure(deps, entry, exc.message)
    if entry.state is JournalState.DEFERRED:
        if not allowed:
            msg = "a deferred refund settles through its own job"
            raise RuntimeError(msg)
        intent = await deps.journal.put(
            entry.model_copy(
                update={
                    "state": JournalState.INTENT,
                    "lease_until": now + deps.lease,
                    "first_refund": target.record.refunded_amount == entry.amount,
                }
            )
        )
        try:
            entry = await execute(
                deps, target, intent, retry_unavailable=True, adopt_refund_number=False
            )
        except RetryUnavailable:
            await deps.journal.put(entry)  # back to deferred: nothing moved
            raise
        return await _still_unsettled(deps, entry, attempts)
    executed = await inquire(target, entry)
    if executed is True:
        return await apply_success(deps, entry, None)
    if executed is False and entry.state is JournalState.UNCERTAIN:
        return await apply_failure(
            deps,
            entry,
            f"Up2pay did not execute the {entry.gae_call} (confirmed by inquiry); nothing moved. "
            f"{entry.message}",
        )
    if executed is False:  # an intent that never reached GAE
        if now < entry.lease_until:
            raise RetryAt(entry.lease_until, "the call may still be in flight")
        renewed = await deps.journal.put(entry.model_copy(update={"lease_until": now + deps.lease}))
        try:
            entry = await execute(
                deps, target, renewed, retry_unavailable=True, adopt_refund_number=False
            )
        except RetryUnavailable:
            await deps.journal.put(renewed.model_copy(update={"lease_until": now}))
            raise
    return await _still_unsettled(deps, entry, attempts)


async def _still_unsettled(
    deps: ActionServices, entry: JournalEntry, attempts: int
) -> JournalEntry:
    if entry.settled:
        return entry
    if attempts >= UNCERTAIN_PROBLEM_AFTER:
        await deps.raise_problem(
            entry.saleor_api_url,
            Problem(
                key=uncertain_key(entry),
                message=f"Up2pay cannot say whether the {entry.gae_call} of {money(entry.amount)} "
                f"(S={entry.numtrans}, {entry.psp_reference}) was executed after {attempts} "
                "tries. The app keeps asking; check the transaction in the Up2pay back office.",
                critical_threshold=1,
            ),
        )
    msg = f"{entry.psp_reference}: outcome still unknown"
    raise StillUncertain(msg)


async def _report(services: Services, entry: JournalEntry) -> None:
    variables: dict[str, Any] = {
        "id": entry.transaction_id,
        "type": f"{entry.saleor_operation}_"
        + ("SUCCESS" if entry.state is JournalState.SUCCESS else "FAILURE"),
        "pspReference": entry.psp_reference,
        "amount": str(entry.amount),
        "message": entry.message[:512],
    }
    if entry.actions is not None:
        variables["availableActions"] = entry.actions
    outcome = await report_event(services, SaleorApiUrl(entry.saleor_api_url), variables)
    log.info("operation.reported", psp_reference=entry.psp_reference, outcome=outcome)


async def run_settle_job(services: Services, job: Job) -> None:
    """Job ``operation.settle``: inquire until the entry's outcome is known, then report it."""
    deps = ActionServices.from_services(services)
    url = SaleorApiUrl(str(job.payload["saleor_api_url"]))
    entry = await deps.journal.get(url, str(job.payload["op_id"]))
    if entry is None or entry.state is JournalState.DEFERRED:
        log.info("operation.settle_nothing", job_id=job.id)
        return
    await settle(services, deps, entry, attempts=job.attempts, allowed=False)
