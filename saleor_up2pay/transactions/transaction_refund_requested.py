"""TRANSACTION_REFUND_REQUESTED: refund (GAE 00014) part or all of a leg — now, or tomorrow.

Document: ``graphql/subscriptions/transaction_refund_requested.graphql``; payload model
:class:`~saleor_up2pay.saleor.payloads.TransactionRefundRequested`; what charge, refund and cancel
share is in :mod:`.order_actions`.

Rules (manual §4.2–§4.3, capabilities table in :mod:`saleor_up2pay.up2pay.models`):

- Conecs meal vouchers and the card complement are refundable, several partial refunds allowed,
  each with ``ACQUEREUR`` of its leg and that leg's NUMTRANS/NUMAPPEL. Chèque-Vacances Connect is
  not refundable through Up2pay: ``REFUND_FAILURE`` saying so.
- Up2pay accepts a refund from the day after the money was taken (D+1, French calendar): the
  payment day in the CHARGE flow, the capture day in the AUTHORIZATION flow (a captured leg is
  remitted at the end of that day). A same-day refund of the whole card complement is a GAE
  cancel (00005), executed at once (:func:`cancel_instead`). Any other refund asked too early is
  not refused and not lost: the app answers Saleor's asynchronous form
  (``{"pspReference": "<S>:refund:<n>"}``, never with ``actions``: recorded fact 25), which
  Saleor keeps as a pending refund, reports the item's new actions with an ``INFO`` event, and
  queues a durable job (``refund.deferred``) for 00:05 Paris time the day after. The job turns
  the journal entry into an intent before calling GAE and writes the outcome after, so a rerun
  never refunds twice (:mod:`.operation_settlement`), then reports ``REFUND_SUCCESS`` /
  ``REFUND_FAILURE`` with that same pspReference.
- Each refund has its own pspReference: Up2pay's own transaction number for the refund when it
  answered one (immediate refunds), else ``<S>:refund:<n>``.
- Refunds from a granted refund (``grantedRefund`` set) work the same. Deliveries not tied to a
  granted refund carry a top-level ``errors`` array from Saleor (recorded fact 11): accepted.

The refundable amount is reserved on the leg before GAE is called, in one atomic write with the
operation's journal intent (:mod:`.journal`), so two concurrent refunds cannot together exceed
what was captured; a refused refund releases it. A redelivered request is answered from the
journal, never refunded again.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import structlog

from saleor_up2pay.jobs import Job, RetryAt
from saleor_up2pay.redis_store import instance_id
from saleor_up2pay.saleor.ids import SaleorApiUrl
from saleor_up2pay.saleor.payloads import TransactionRefundRequested
from saleor_up2pay.saleor.problems import Problem
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.journal import (
    ENTRY_TTL,
    GaeCall,
    JournalEntry,
    JournalState,
    journal_key,
)
from saleor_up2pay.transactions.legs import PARIS, LegRecord, available_actions
from saleor_up2pay.transactions.operation_settlement import (
    RetryUnavailable,
    answer_of,
    execute,
    reenter,
    refund_failed_key,
    settle,
    start,
)
from saleor_up2pay.transactions.order_actions import (
    ActionRefused,
    ActionServices,
    ActionTarget,
    money,
    refused_outcome,
    require_accepted,
)
from saleor_up2pay.transactions.results import ActionAccepted, ActionOutcome

log = structlog.get_logger(__name__)

REFUND_JOB = "refund.deferred"
RUN_AT = time(0, 5)
"""Deferred refunds run at 00:05 Paris time the day after the payment."""
RETRY_LATER = timedelta(hours=1)


class RefundTooLarge(ActionRefused):
    """More than what is captured and not yet refunded (or reserved) on the leg."""


def next_allowed_run(record: LegRecord) -> datetime:
    """00:05 Paris time the day after the money was taken (the payment, or the capture of an
    authorization): the first moment Up2pay allows a refund."""
    day = record.paid_in_on + timedelta(days=1)
    return datetime.combine(day, RUN_AT, tzinfo=PARIS)


def refund_allowed_now(record: LegRecord, now: datetime) -> bool:
    """Whether Up2pay accepts a refund of this leg today (D+1 rule of the leg's capabilities,
    counted from the capture day in the authorization flow)."""
    if not record.leg.capabilities.refund_from_next_day:
        return True
    return now.astimezone(PARIS).date() > record.paid_in_on


def _reserve(amount: Decimal) -> Any:
    def change(record: LegRecord) -> LegRecord:
        if amount > record.refundable_amount:
            msg = (
                f"Cannot refund {money(amount)}: only {money(record.refundable_amount)} of this "
                f"{record.leg.label} payment is captured and not refunded."
            )
            raise RefundTooLarge(msg, record)
        return record.with_refund(amount)

    return change


def _not_refundable_reason(record: LegRecord) -> str:
    return (
        f"{record.leg.label} payments cannot be refunded through Up2pay (manual §4.2, §4.3: only "
        "Conecs meal vouchers and the card complement can). Refund the customer another way, "
        "e.g. a bank transfer or store credit."
    )


def cancel_instead(record: LegRecord, amount: Decimal, now: datetime) -> bool:
    """A same-day refund Up2pay allows as a cancel (00005): the whole captured amount of a leg
    that can be cancelled (the card complement), taken today and so not remitted yet, and
    nothing refunded before."""
    return (
        record.leg.capabilities.cancel
        and record.refunded_amount == 0
        and record.captured_amount > 0
        and amount == record.captured_amount
        and record.paid_in_on == now.astimezone(PARIS).date()
    )


class RefundRequested:
    """Refunds one leg immediately (or cancels a card complement paid today), or accepts it as
    pending and schedules it for the day after the money was taken."""

    def __init__(self, deps: ActionServices) -> None:
        self._deps = deps

    async def execute(self, saleor_api_url: SaleorApiUrl, payload: dict[str, Any]) -> ActionOutcome:
        deps = self._deps
        try:
            started = await start(
                deps,
                saleor_api_url,
                "TRANSACTION_REFUND_REQUESTED",
                TransactionRefundRequested,
                payload,
            )
            if started.replay is not None:
                return started.replay
            op_id, target = started.op_id, started.target
            self._check(target)
            record, now = target.record, deps.clock()
            if refund_allowed_now(record, now):
                gae_call: GaeCall = "refund"
                state = JournalState.INTENT
            elif cancel_instead(record, target.amount, now):
                gae_call, state = "cancel", JournalState.INTENT
            else:
                gae_call, state = "refund", JournalState.DEFERRED
            psp_reference = await deps.operation_reference(target, "refund")
            intent = deps.intent(
                op_id,
                target,
                operation="refund",
                gae_call=gae_call,
                amount=target.amount,
                psp_reference=psp_reference,
                now=now,
                state=state,
                first_refund=record.refunded_amount == 0,
            )
            # Reserve before anything can move money (RefundTooLarge if it no longer fits), in
            # the same atomic write as the intent.
            reserved = await deps.legs.update_and_set(
                saleor_api_url,
                record.numtrans,
                _reserve(target.amount),
                key=journal_key(saleor_api_url, op_id),
                value=intent.model_dump_json,
                ttl_seconds=ENTRY_TTL,
            )
        except ActionRefused as exc:
            log.info("refund.refused", reason=exc.message)
            return refused_outcome("REFUND", exc)
        if reserved is None:  # a concurrent redelivery wrote it first
            concurrent = await deps.journal.get(saleor_api_url, op_id)
            if concurrent is not None:
                return await reenter(deps, target, concurrent)
        if state is JournalState.DEFERRED:
            return await self._defer(target, intent)
        entry = await execute(deps, target, intent)
        return answer_of(entry)

    @staticmethod
    def _check(target: ActionTarget) -> None:
        record = target.record
        require_accepted(record, "refund")
        if not record.leg.capabilities.refund:
            raise ActionRefused(_not_refundable_reason(record), record)
        if target.amount <= 0:
            raise ActionRefused("The amount to refund must be positive.", record)

    async def _defer(self, target: ActionTarget, entry: JournalEntry) -> ActionOutcome:
        deps, record = self._deps, target.record
        psp_reference = entry.psp_reference
        run_at = next_allowed_run(record)
        await deps.queue.enqueue(
            REFUND_JOB,
            {
                "saleor_api_url": target.saleor_api_url,
                "op_id": entry.op_id,
                "transaction_id": target.transaction_id,
                "numtrans": record.numtrans,
                "amount": str(target.amount),
                "psp_reference": psp_reference,
                "channel": target.channel,
            },
            job_id=f"refund:{instance_id(target.saleor_api_url)}:{psp_reference}",
            run_at=run_at,
        )
        await deps.record_activity(
            target,
            kind="refund_scheduled",
            amount=target.amount,
            outcome="scheduled",
            message=f"Refund asked before Up2pay allows it; runs {run_at.isoformat()}",
            psp_reference=psp_reference,
        )
        log.info(
            "refund.deferred",
            numtrans=record.numtrans,
            amount=str(target.amount),
            run_at=run_at.isoformat(),
            psp_reference=psp_reference,
        )
        # The asynchronous answer cannot carry the item's new actions (recorded fact 25):
        # an INFO event reports them, and says when the refund runs.
        await deps.queue_event(
            target.saleor_api_url,
            target.transaction_id,
            {
                "type": "INFO",
                "pspReference": psp_reference,
                "message": f"Refund of {money(target.amount)} accepted; Up2pay allows it from "
                f"the day after the money was taken, it runs {run_at.isoformat()}.",
                "availableActions": available_actions(await deps.current(target)),
            },
            job_id=f"event:{instance_id(target.saleor_api_url)}:{psp_reference}:info",
        )
        return ActionAccepted(operation="REFUND", psp_reference=psp_reference)


# --- the deferred refund -----------------------------------------------------------------------


async def run_deferred_refund(services: Services, job: Job) -> None:
    """Job ``refund.deferred``: execute a refund accepted before Up2pay allowed it, then report it.

    Exactly once: the journal entry becomes an intent before GAE is called and gets its outcome
    after; a rerun (crash, Redis blip) with an intent and no outcome inquires first
    (:func:`~saleor_up2pay.transactions.operation_settlement.settle`), a known outcome is only
    reported. A refund Up2pay refused raises the ``refund-failed:<psp>`` problem.
    """
    deps = ActionServices.from_services(services)
    payload = job.payload
    url = SaleorApiUrl(str(payload["saleor_api_url"]))
    entry = await _deferred_entry(deps, url, payload)
    if entry is None:
        log.warning("refund.deferred_dropped", reason="unknown", psp=payload.get("psp_reference"))
        return
    record = await deps.legs.get_by_numtrans(url, entry.numtrans)
    if record is None:
        log.warning("refund.deferred_dropped", reason="leg purged", psp=entry.psp_reference)
        return
    if entry.state is JournalState.DEFERRED and not refund_allowed_now(record, deps.clock()):
        raise RetryAt(max(next_allowed_run(record), deps.clock() + RETRY_LATER), "D+1")
    try:
        entry = await settle(services, deps, entry, attempts=job.attempts)
    except RetryUnavailable as exc:
        msg = f"Up2pay GAE unavailable: {exc}"
        raise RuntimeError(msg) from exc
    if entry.state is JournalState.FAILURE:
        await deps.raise_problem(
            url,
            Problem(
                key=refund_failed_key(entry),
                message=f"The refund of {money(entry.amount)} accepted on "
                f"{entry.created_at.date().isoformat()} (S={entry.numtrans}, "
                f"{entry.psp_reference}) failed: {entry.message} Refund the customer another way.",
            ),
        )
    log.info("refund.reported", psp_reference=entry.psp_reference, type=entry.state.value)


async def _deferred_entry(
    deps: ActionServices, url: SaleorApiUrl, payload: dict[str, Any]
) -> JournalEntry | None:
    """The job's journal entry (a job queued before the journal existed gets one now)."""
    op_id = payload.get("op_id")
    if op_id:
        return await deps.journal.get(url, str(op_id))
    psp_reference = str(payload["psp_reference"])
    now = deps.clock()
    legacy = JournalEntry(
        op_id=f"deferred-{psp_reference}",
        operation="refund",
        gae_call="refund",
        saleor_api_url=url,
        transaction_id=str(payload["transaction_id"]),
        numtrans=str(payload["numtrans"]),
        amount=Decimal(str(payload["amount"])),
        psp_reference=psp_reference,
        state=JournalState.DEFERRED,
        created_at=now,
        lease_until=now,
    )
    await deps.journal.claim(legacy)
    return await deps.journal.get(url, legacy.op_id)


async def handle(services: Services, ctx: WebhookContext) -> ActionOutcome:
    """Webhook entry point (a top-level ``errors`` array is ignored)."""
    if ctx.errors:
        log.info("refund.payload_errors_ignored", count=len(ctx.errors))
    use_case = RefundRequested(ActionServices.from_services(services))
    return await use_case.execute(ctx.saleor_api_url, ctx.payload)
