"""TRANSACTION_REFUND_REQUESTED: refund (GAE 00014) part or all of a leg — now, or tomorrow.

Document: ``graphql/subscriptions/transaction_refund_requested.graphql``; payload model
:class:`~saleor_up2pay.saleor.payloads.TransactionRefundRequested`; what charge, refund and cancel
share is in :mod:`.order_actions`.

Rules (manual §4.2–§4.3, capabilities table in :mod:`saleor_up2pay.up2pay.models`):

- Conecs meal vouchers and the card complement are refundable, several partial refunds allowed,
  each with ``ACQUEREUR`` of its leg and that leg's NUMTRANS/NUMAPPEL. Chèque-Vacances Connect is
  not refundable through Up2pay: ``REFUND_FAILURE`` saying so.
- Up2pay accepts a refund from the day after the payment (D+1, French calendar). A refund asked on
  the day of the payment is not refused and not lost: the app answers Saleor's asynchronous form
  (``{"pspReference": "<S>:refund:<n>"}``, never with ``actions``: recorded fact 25), which
  Saleor keeps as a pending refund, reports the item's new actions with an ``INFO`` event, and
  queues a durable job (``refund.deferred``) for the next day 00:05 Paris time. The job
  runs the GAE refund, stores its outcome (so a retried job never refunds twice), then reports
  ``REFUND_SUCCESS`` / ``REFUND_FAILURE`` with that same pspReference
  (:func:`~saleor_up2pay.transactions.follow_up_events.report_event`), which settles the pending
  amount (and the granted refund, if any).
- Each refund has its own pspReference: Up2pay's own transaction number for the refund when it
  answered one (immediate refunds), else ``<S>:refund:<n>``.
- Refunds from a granted refund (``grantedRefund`` set) work the same. Deliveries not tied to a
  granted refund carry a top-level ``errors`` array from Saleor (recorded fact 11): accepted.

The refundable amount is reserved on the leg before GAE is called (atomic compare-and-set), so
two concurrent refunds cannot together exceed what was captured; a refused refund releases it.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import structlog

from saleor_up2pay.jobs import Job, RetryAt
from saleor_up2pay.redis_store import instance_id, instance_key
from saleor_up2pay.saleor.ids import SaleorApiUrl, TransactionItemId
from saleor_up2pay.saleor.payloads import (
    ActionTransaction,
    PayloadError,
    RequestedAction,
    TransactionRefundRequested,
)
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.follow_up_events import report_event
from saleor_up2pay.transactions.legs import PARIS, LegRecord, available_actions
from saleor_up2pay.transactions.order_actions import (
    ActionRefused,
    ActionServices,
    ActionTarget,
    gae_failure_message,
    incomplete_request,
    money,
    refused_outcome,
    require_accepted,
)
from saleor_up2pay.transactions.results import (
    ActionAccepted,
    ActionFailure,
    ActionOutcome,
    ActionSuccess,
)
from saleor_up2pay.up2pay import (
    GaeOutcome,
    GaeResult,
    InvalidPaymentRequest,
    Operation,
    to_minor_units,
)

log = structlog.get_logger(__name__)

REFUND_JOB = "refund.deferred"
RUN_AT = time(0, 5)
"""Deferred refunds run at 00:05 Paris time the day after the payment."""
RETRY_LATER = timedelta(hours=1)
OUTCOME_TTL = 400 * 24 * 3600


class RefundTooLarge(ActionRefused):
    """More than what is captured and not yet refunded (or reserved) on the leg."""


def next_allowed_run(record: LegRecord) -> datetime:
    """00:05 Paris time on the day after the payment: the first moment Up2pay allows a refund."""
    day = record.paid_on + timedelta(days=1)
    return datetime.combine(day, RUN_AT, tzinfo=PARIS)


def refund_allowed_now(record: LegRecord, now: datetime) -> bool:
    """Whether Up2pay accepts a refund of this leg today (D+1 rule of the leg's capabilities)."""
    if not record.leg.capabilities.refund_from_next_day:
        return True
    return now.astimezone(PARIS).date() > record.paid_on


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


def _release(amount: Decimal) -> Any:
    return lambda record: record.with_refund(-amount)


def _not_refundable_reason(record: LegRecord) -> str:
    return (
        f"{record.leg.label} payments cannot be refunded through Up2pay (manual §4.2, §4.3: only "
        "Conecs meal vouchers and the card complement can). Refund the customer another way, "
        "e.g. a bank transfer or store credit."
    )


class RefundRequested:
    """Refunds one leg immediately, or accepts it as pending and schedules it for D+1."""

    def __init__(self, deps: ActionServices) -> None:
        self._deps = deps

    async def execute(self, saleor_api_url: SaleorApiUrl, payload: dict[str, Any]) -> ActionOutcome:
        deps = self._deps
        try:
            try:
                request = TransactionRefundRequested.parse(payload)
            except PayloadError as exc:
                raise incomplete_request(exc) from exc
            target = await deps.target(saleor_api_url, request)
            self._check(target)
            # Reserve before anything can move money; RefundTooLarge if it no longer fits.
            await deps.legs.update(saleor_api_url, target.record.numtrans, _reserve(target.amount))
        except ActionRefused as exc:
            log.info("refund.refused", reason=exc.message)
            return refused_outcome("REFUND", exc)
        if not refund_allowed_now(target.record, deps.clock()):
            return await self._defer(target)
        return await self._refund_now(target)

    @staticmethod
    def _check(target: ActionTarget) -> None:
        record = target.record
        require_accepted(record, "refund")
        if not record.leg.capabilities.refund:
            raise ActionRefused(_not_refundable_reason(record), record)
        if target.amount <= 0:
            raise ActionRefused("The amount to refund must be positive.", record)

    async def _refund_now(self, target: ActionTarget) -> ActionOutcome:
        deps, record, amount = self._deps, target.record, target.amount
        result = await _call_gae(target, amount, first_refund=record.refunded_amount == 0)
        fallback = await deps.operation_reference(target, "refund")
        psp_reference = _refund_reference(result, record, fallback)
        await deps.record_gae(target, amount, result, psp_reference)
        if not result.ok:
            updated = await _settle_failure(deps, target, amount, result)
            return ActionFailure(
                operation="REFUND",
                message=gae_failure_message("refund", result),
                actions=available_actions(updated),
            )
        return ActionSuccess(
            operation="REFUND",
            psp_reference=psp_reference,
            amount=amount,
            actions=available_actions(await deps.current(target)),
            message=_success_message(record, amount, result),
        )

    async def _defer(self, target: ActionTarget) -> ActionOutcome:
        deps, record = self._deps, target.record
        psp_reference = await deps.operation_reference(target, "refund")
        run_at = next_allowed_run(record)
        await deps.queue.enqueue(
            REFUND_JOB,
            {
                "saleor_api_url": target.saleor_api_url,
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
            message=f"Refund asked on the day of the payment; runs {run_at.isoformat()}",
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
                f"the day after the payment, it runs {run_at.isoformat()}.",
                "availableActions": available_actions(await deps.current(target)),
            },
            job_id=f"event:{instance_id(target.saleor_api_url)}:{psp_reference}:info",
        )
        return ActionAccepted(operation="REFUND", psp_reference=psp_reference)


async def _call_gae(target: ActionTarget, amount: Decimal, *, first_refund: bool) -> GaeResult:
    record = target.record
    try:
        return await target.gae.refund(
            leg=record.leg,
            amount=to_minor_units(amount, record.currency),
            reference=target.reference,
            numappel=record.numappel,
            numtrans=record.numtrans,
            first_refund=first_refund,
        )
    except InvalidPaymentRequest as exc:
        # Our own validation refused the request before any network call: nothing moved.
        return GaeResult(
            operation=Operation.REFUND, outcome=GaeOutcome.FAILED, code="", message=str(exc)
        )


async def _settle_failure(
    deps: ActionServices, target: ActionTarget, amount: Decimal, result: GaeResult
) -> LegRecord:
    """Release the reservation unless money may have moved (UNCERTAIN keeps it reserved)."""
    if result.outcome is GaeOutcome.UNCERTAIN:
        log.error("refund.uncertain", numtrans=target.record.numtrans, amount=str(amount))
        return await deps.current(target)
    return await deps.legs.update(target.saleor_api_url, target.record.numtrans, _release(amount))


def _refund_reference(result: GaeResult, record: LegRecord, fallback: str) -> str:
    """Up2pay's own number for the refund when it gave a new one, else our derived reference."""
    number = result.numtrans
    if (
        result.ok
        and number
        and not result.confirmed_by_inquiry
        and number.lstrip("0") != (record.numtrans.lstrip("0"))
    ):
        return number
    return fallback


def _success_message(record: LegRecord, amount: Decimal, result: GaeResult) -> str:
    number = f", refund S={result.numtrans}" if result.numtrans else ""
    return (
        f"Up2pay refunded {money(amount)} of {record.leg.label} S={record.numtrans}"
        f"{number} (code {result.code})."
    )


# --- the deferred refund -----------------------------------------------------------------------


def _outcome_key(saleor_api_url: str, psp_reference: str) -> str:
    return instance_key(saleor_api_url, "refund-outcome", psp_reference)


async def run_deferred_refund(services: Services, job: Job) -> None:
    """Job ``refund.deferred``: execute a refund accepted on the payment day, then report it.

    Idempotent: the GAE outcome is stored before reporting, so a retry (Saleor down, process
    restarted) reports the stored outcome instead of refunding again.
    """
    deps = ActionServices.from_services(services)
    payload = job.payload
    url = SaleorApiUrl(str(payload["saleor_api_url"]))
    psp_reference = str(payload["psp_reference"])
    amount = Decimal(str(payload["amount"]))
    key = _outcome_key(url, psp_reference)

    stored = await services.redis.get(key)
    if stored is None:
        record = await deps.legs.get_by_numtrans(url, str(payload["numtrans"]))
        if record is None:
            log.warning("refund.deferred_dropped", reason="leg purged", psp=psp_reference)
            return
        if not refund_allowed_now(record, deps.clock()):
            raise RetryAt(max(next_allowed_run(record), deps.clock() + RETRY_LATER), "D+1")
        outcome = await _execute_deferred(
            deps, url, payload, record, amount=amount, psp_reference=psp_reference
        )
        await services.redis.set(key, json.dumps(outcome), ex=OUTCOME_TTL)
    else:
        outcome = json.loads(stored)

    variables: dict[str, Any] = {
        "id": str(payload["transaction_id"]),
        "type": outcome["type"],
        "pspReference": psp_reference,
        "amount": str(amount),
        "message": outcome["message"][:512],
        "availableActions": outcome["actions"],
    }
    result = await report_event(services, url, variables)
    log.info("refund.reported", psp_reference=psp_reference, type=outcome["type"], outcome=result)


async def _execute_deferred(
    deps: ActionServices,
    url: SaleorApiUrl,
    payload: dict[str, Any],
    record: LegRecord,
    *,
    amount: Decimal,
    psp_reference: str,
) -> dict[str, Any]:
    try:
        request = TransactionRefundRequested(
            action=RequestedAction(action_type="REFUND", amount=amount, currency=record.currency),
            transaction=ActionTransaction(
                id=TransactionItemId(str(payload["transaction_id"])),
                psp_reference=record.numtrans,
            ),
        )
        target = await deps.target(url, request)
    except ActionRefused as exc:
        updated = await deps.legs.update(url, record.numtrans, _release(amount))
        return {
            "type": "REFUND_FAILURE",
            "message": exc.message,
            "actions": available_actions(updated),
        }
    # The reservation made when the request was accepted already counts this amount.
    first = record.refunded_amount == amount
    result = await _call_gae(target, amount, first_refund=first)
    await deps.record_gae(target, amount, result, psp_reference)
    if result.outcome is GaeOutcome.UNAVAILABLE:
        # Nothing moved: let the job queue retry with backoff.
        msg = f"Up2pay GAE unavailable: {result.message}"
        raise RuntimeError(msg)
    if not result.ok:
        updated = await _settle_failure(deps, target, amount, result)
        return {
            "type": "REFUND_FAILURE",
            "message": gae_failure_message("refund", result),
            "actions": available_actions(updated),
        }
    current = await deps.legs.get_by_numtrans(url, record.numtrans)
    return {
        "type": "REFUND_SUCCESS",
        "message": _success_message(record, amount, result),
        "actions": available_actions(current or record),
    }


async def handle(services: Services, ctx: WebhookContext) -> ActionOutcome:
    """Webhook entry point (a top-level ``errors`` array is ignored)."""
    if ctx.errors:
        log.info("refund.payload_errors_ignored", count=len(ctx.errors))
    use_case = RefundRequested(ActionServices.from_services(services))
    return await use_case.execute(ctx.saleor_api_url, ctx.payload)
