"""Order-page actions routed to GAE: capture (charge) and cancel, plus what refunds share.

Saleor sends TRANSACTION_CHARGE_REQUESTED / _CANCELATION_REQUESTED / _REFUND_REQUESTED to the app
for one transaction item. Each item is one Up2pay leg (:mod:`saleor_up2pay.transactions.legs`):
the item ``transactionInitialize`` created ↔ the voucher leg; the complement item the app created
↔ the LIMOCB leg. The leg gives GAE what it needs: ``ACQUEREUR`` (from the leg, never from input),
NUMTRANS, NUMAPPEL, and how much is still capturable / refundable.

Every answer is HTTP 200 with an explicit result (Saleor retries only on 5xx and turns anything
else into "Failed to delivery request."): a GAE refusal, an unreachable platform or an operation
the leg does not allow is ``<OPERATION>_FAILURE`` with a readable message. Every GAE call goes to
the activity log (no secret in it). ``actions`` always come from the capabilities table and the
leg's current amounts (:func:`available_actions`).

Each capture, cancel and refund gets its own ``pspReference`` (``<S>:capture:<n>``...): Saleor
deduplicates events on (pspReference, type), so reusing the payment's S for a second partial
capture would be rejected.

A partial capture releases the remainder: Up2pay cancels it on a Conecs leg (manual §2.1.2.2),
and every leg is captured once (``Capabilities.partial_capture_voids_rest``). The
webhook answer carries only the ``CHARGE_SUCCESS``; the ``CANCEL_SUCCESS`` of the remainder is
reported to Saleor with ``transactionEventReport`` by a durable job (``transaction.event``) queued
before answering, so it survives a restart and is retried until Saleor accepts it.

A capture is reserved on its leg before GAE is called (:class:`CaptureReservation`, atomic
compare-and-set), as refunds are: two concurrent captures cannot exceed what is capturable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import structlog

from saleor_up2pay.activity import ActivityEntry, ActivityKind, ActivityLog
from saleor_up2pay.configuration import ConfigurationRepository
from saleor_up2pay.errors import AppError
from saleor_up2pay.redis_store import Redis, instance_id, instance_key
from saleor_up2pay.saleor.client import SaleorMutationError
from saleor_up2pay.saleor.responses import Action
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.gateway import Clock, GatewayFactory, app_clock, gateway_factory
from saleor_up2pay.transactions.jobs import Job, JobQueue, job_handler, job_queue
from saleor_up2pay.transactions.legs import LegRecord, LegRepository
from saleor_up2pay.transactions.results import (
    ActionFailure,
    ActionOutcome,
    ActionSuccess,
    Operation,
)
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from saleor_up2pay.transactions.source import (
    PayloadError,
    RequestedAction,
    action_channel,
    transaction_id,
)
from saleor_up2pay.up2pay import GaeOutcome, GaeResult, InvalidPaymentRequest, to_minor_units
from saleor_up2pay.up2pay.gae import GaeClient

log = structlog.get_logger(__name__)

ZERO = Decimal("0")
EVENT_JOB = "transaction.event"
EVENT_DELAY = timedelta(seconds=2)
"""Let Saleor store the webhook answer before the follow-up event arrives (order of the list)."""


def available_actions(record: LegRecord) -> list[Action]:
    """Dashboard buttons that will work on this leg now (capabilities table + amounts left)."""
    if not record.accepted:
        return []
    caps = record.leg.capabilities
    actions: list[Action] = []
    capturable = authorized_left(record)
    if caps.capture and capturable > 0:
        actions.append("CHARGE")
    if caps.cancel and capturable > 0:
        actions.append("CANCEL")
    if caps.refund and record.refundable_amount > 0:
        actions.append("REFUND")
    return actions


def authorized_left(record: LegRecord) -> Decimal:
    """What an authorization leg still allows to capture or cancel (zero on a charged leg)."""
    return record.capturable_amount if record.action_type == "AUTHORIZATION" else ZERO


def money(amount: Decimal) -> str:
    """``12.50 €`` for messages."""
    return f"{amount.quantize(Decimal('0.01'))} €"


class ActionRefused(Exception):
    """The request cannot go to GAE; the message says why (becomes ``*_FAILURE``)."""

    def __init__(self, message: str, record: LegRecord | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.record = record


def require_accepted(record: LegRecord, verb: str) -> None:
    """Refuse any operation on a leg Up2pay did not accept (``verb``: capture, cancel...)."""
    if not record.accepted:
        raise ActionRefused(f"This Up2pay payment was not accepted; there is nothing to {verb}.")


@dataclass(frozen=True)
class ActionTarget:
    """A charge/refund/cancel request resolved to its leg and how to reach Up2pay for it."""

    saleor_api_url: str
    transaction_id: str
    amount: Decimal
    record: LegRecord
    session: PaymentSession | None
    channel: str | None
    gae: GaeClient
    reference: str


class ActionServices:
    """The collaborators every order-page action uses (injected; tests build their own)."""

    def __init__(
        self,
        *,
        redis: Redis,
        legs: LegRepository,
        sessions: SessionRepository,
        configs: ConfigurationRepository,
        gateways: GatewayFactory,
        activity: ActivityLog,
        queue: JobQueue,
        clock: Clock,
    ) -> None:
        self.redis = redis
        self.legs = legs
        self.sessions = sessions
        self.configs = configs
        self.gateways = gateways
        self.activity = activity
        self.queue = queue
        self.clock = clock

    @classmethod
    def from_services(cls, services: Services) -> ActionServices:
        return cls(
            redis=services.redis,
            legs=LegRepository(services.redis),
            sessions=SessionRepository(services.redis),
            configs=ConfigurationRepository(services.redis, services.secretbox, services.settings),
            gateways=gateway_factory(services),
            activity=ActivityLog(services.redis),
            queue=job_queue(services),
            clock=app_clock(services),
        )

    async def find_leg(self, saleor_api_url: str, payload: dict[str, Any]) -> LegRecord:
        """The leg of the item in the payload: by item id, else by its pspReference (= S)."""
        item_id = transaction_id(payload)
        record = await self.legs.get_by_transaction(saleor_api_url, item_id)
        if record is None:
            psp = str((payload.get("transaction") or {}).get("pspReference") or "")
            if psp:
                record = await self.legs.get_by_numtrans(saleor_api_url, psp)
        if record is None:
            msg = "No Up2pay payment is known for this transaction (its IPN never arrived)."
            raise ActionRefused(msg)
        return record

    async def target(self, saleor_api_url: str, payload: dict[str, Any]) -> ActionTarget:
        """Resolve a request; raises :class:`ActionRefused` with a readable reason."""
        try:
            action = RequestedAction.from_payload(payload)
            item_id = transaction_id(payload)
        except PayloadError as exc:
            raise ActionRefused(f"Saleor's request is incomplete: {exc}.") from exc
        record = await self.find_leg(saleor_api_url, payload)
        session = await self.sessions.get(saleor_api_url, record.reference)
        channel = action_channel(payload) or (session.channel if session else None)
        try:
            if session is not None:
                config = await self.configs.get(saleor_api_url, session.config_id)
            elif channel is not None:
                config = await self.configs.for_channel(saleor_api_url, channel)
            else:
                config = self.configs.default()
        except AppError as exc:
            raise ActionRefused(
                f"The Up2pay configuration of this payment is gone: {exc.public_message}", record
            ) from exc
        if action.currency != record.currency:
            msg = f"Up2pay operations are in {record.currency}, not {action.currency}."
            raise ActionRefused(msg, record)
        return ActionTarget(
            saleor_api_url=saleor_api_url,
            transaction_id=item_id,
            amount=action.amount,
            record=record,
            session=session,
            channel=channel,
            gae=self.gateways(config).gae(),
            reference=record.reference,
        )

    async def current(self, target: ActionTarget, fallback: LegRecord | None = None) -> LegRecord:
        """The target's leg as stored now, else ``fallback`` (default: the leg as resolved)."""
        stored = await self.legs.get_by_numtrans(target.saleor_api_url, target.record.numtrans)
        return stored or fallback or target.record

    async def operation_reference(self, target: ActionTarget, operation: str) -> str:
        """A pspReference unique to this operation on this leg: ``<S>:<operation>:<n>``."""
        key = instance_key(target.saleor_api_url, "ops", target.record.numtrans)
        n = await self.redis.incr(key)
        return f"{target.record.numtrans}:{operation}:{n}"

    async def record_activity(
        self,
        target: ActionTarget,
        *,
        kind: ActivityKind,
        amount: Decimal,
        outcome: str,
        message: str,
        psp_reference: str,
    ) -> None:
        """One activity line about an operation on the target's leg (never a secret in it)."""
        record = target.record
        await self.activity.record(
            target.saleor_api_url,
            ActivityEntry(
                time=self.clock(),
                kind=kind,
                channel=target.channel,
                reference=record.reference,
                leg=record.leg.value,
                amount=amount,
                currency=record.currency,
                outcome=outcome,
                message=message,
                psp_reference=psp_reference,
            ),
        )

    async def record_gae(
        self, target: ActionTarget, amount: Decimal, result: GaeResult, psp_reference: str
    ) -> None:
        """One activity line per GAE call (no secret: numbers, code and platform comment)."""
        record = target.record
        await self.record_activity(
            target,
            kind="gae",
            amount=amount,
            outcome=f"{result.operation.name.lower()}:{result.outcome.value}",
            message=f"{result.operation.name} {result.code or '-'}: {result.message}",
            psp_reference=psp_reference,
        )
        log.info(
            "gae.action",
            operation=result.operation.name,
            leg=record.leg.value,
            numtrans=record.numtrans,
            code=result.code,
            outcome=result.outcome.value,
            psp_reference=psp_reference,
        )

    async def queue_event(
        self, saleor_api_url: str, transaction: str, variables: dict[str, Any], job_id: str
    ) -> None:
        """Report an event to Saleor later, durably (retried until Saleor accepts it)."""
        payload = {"saleor_api_url": saleor_api_url, "variables": {"id": transaction, **variables}}
        await self.queue.enqueue(
            EVENT_JOB,
            payload,
            job_id=job_id,
            run_at=self.clock() + EVENT_DELAY,
        )


def gae_failure_message(operation: str, result: GaeResult) -> str:
    """What a merchant reads when Up2pay did not execute an operation."""
    if result.outcome is GaeOutcome.UNCERTAIN:
        return f"Up2pay {operation}: {result.message}"
    if result.outcome is GaeOutcome.UNAVAILABLE:
        return (
            f"Up2pay could not be reached for the {operation}; nothing was done. {result.message}"
        )
    return f"Up2pay refused the {operation} (code {result.code}): {result.message}"


def refused_outcome(operation: Operation, exc: ActionRefused) -> ActionFailure:
    """``<OPERATION>_FAILURE`` for a refused request, with the leg's actions when it is known."""
    actions = available_actions(exc.record) if exc.record else None
    return ActionFailure(operation=operation, message=exc.message, actions=actions)


class CaptureReservation:
    """A capture reserved on its leg before GAE is called, so concurrent captures cannot overlap.

    :meth:`reserve` is the atomic change applied with :meth:`LegRepository.update`: it checks
    ``amount`` against what is capturable *now* and books it as captured — and, on a leg
    whose partial capture voids the rest (``partial_capture_voids_rest``), books that rest as
    cancelled too, so
    a concurrent capture finds nothing left. :meth:`release` undoes exactly what was booked.
    """

    def __init__(self, amount: Decimal, *, voids_rest: bool) -> None:
        self.amount = amount
        self.voids_rest = voids_rest
        self.voided = ZERO
        """The remainder the capture cancels (set by :meth:`reserve`)."""

    def reserve(self, record: LegRecord) -> LegRecord:
        capturable = authorized_left(record)
        if capturable <= 0:
            raise ActionRefused("Nothing is left to capture on this payment.", record)
        if self.amount > capturable:
            msg = (
                f"Cannot capture {money(self.amount)}: only {money(capturable)} is authorized "
                "and not captured."
            )
            raise ActionRefused(msg, record)
        # Recomputed on every compare-and-set retry: the last call is the one stored.
        self.voided = capturable - self.amount if self.voids_rest else ZERO
        return record.model_copy(
            update={
                "captured_amount": record.captured_amount + self.amount,
                "cancelled_amount": record.cancelled_amount + self.voided,
            }
        )

    def release(self, record: LegRecord) -> LegRecord:
        return record.model_copy(
            update={
                "captured_amount": record.captured_amount - self.amount,
                "cancelled_amount": record.cancelled_amount - self.voided,
            }
        )


class ChargeRequested:
    """TRANSACTION_CHARGE_REQUESTED: capture (GAE 00002) part or all of an authorized leg.

    The amount is reserved on the leg before GAE is called (:class:`CaptureReservation`), as
    refunds are: two concurrent captures cannot together exceed what is capturable, and a capture
    Up2pay did not execute releases its reservation (an UNCERTAIN one keeps it: money may have
    moved).
    """

    def __init__(self, deps: ActionServices) -> None:
        self._deps = deps

    async def execute(self, saleor_api_url: str, payload: dict[str, Any]) -> ActionOutcome:
        deps = self._deps
        try:
            target = await deps.target(saleor_api_url, payload)
            self._check(target)
            voids_rest = target.record.leg.capabilities.partial_capture_voids_rest
            reservation = CaptureReservation(target.amount, voids_rest=voids_rest)
            reserved = await deps.legs.update(
                saleor_api_url, target.record.numtrans, reservation.reserve
            )
        except ActionRefused as exc:
            log.info("charge.refused", reason=exc.message)
            return refused_outcome("CHARGE", exc)
        record, amount = target.record, target.amount
        psp_reference = await deps.operation_reference(target, "capture")
        try:
            result = await target.gae.capture(
                leg=record.leg,
                amount=to_minor_units(amount, record.currency),
                reference=target.reference,
                call_number=record.numappel,
                transaction_number=record.numtrans,
            )
        except InvalidPaymentRequest as exc:
            released = await deps.legs.update(saleor_api_url, record.numtrans, reservation.release)
            return refused_outcome("CHARGE", ActionRefused(str(exc), released))
        await deps.record_gae(target, amount, result, psp_reference)
        if not result.ok:
            if result.outcome is GaeOutcome.UNCERTAIN:
                log.error("charge.uncertain", numtrans=record.numtrans, amount=str(amount))
                current = reserved
            else:
                current = await deps.legs.update(
                    saleor_api_url, record.numtrans, reservation.release
                )
            return ActionFailure(
                operation="CHARGE",
                message=gae_failure_message("capture", result),
                actions=available_actions(current),
            )
        remainder = reservation.voided
        updated = await deps.current(target, fallback=reserved)
        actions = available_actions(updated)
        if remainder > 0:
            void_reference = await deps.operation_reference(target, "void")
            await deps.queue_event(
                saleor_api_url,
                target.transaction_id,
                {
                    "type": "CANCEL_SUCCESS",
                    "pspReference": void_reference,
                    "amount": str(remainder),
                    "message": (
                        f"Up2pay cancelled the uncaptured {money(remainder)} of this "
                        f"{record.leg.label} payment: a payment is captured once, so a "
                        "partial capture releases the rest."
                    ),
                    "availableActions": actions,
                },
                job_id=f"event:{instance_id(saleor_api_url)}:{void_reference}",
            )
        return ActionSuccess(
            operation="CHARGE",
            psp_reference=psp_reference,
            amount=amount,
            actions=actions,
            message=f"Up2pay captured {money(amount)} of {record.leg.label} S={record.numtrans} "
            f"(code {result.code}).",
        )

    @staticmethod
    def _check(target: ActionTarget) -> None:
        """What does not depend on the leg's amounts (those are checked when reserving)."""
        record = target.record
        require_accepted(record, "capture")
        if not record.leg.capabilities.capture:
            raise ActionRefused(f"{record.leg.label} payments cannot be captured.", record)
        if target.amount <= 0:
            raise ActionRefused("The amount to capture must be positive.", record)


def _cancel_rest(record: LegRecord) -> LegRecord:
    """The leg with what its authorization still allows booked as cancelled."""
    return record.with_cancel(record.capturable_amount)


def _cannot_cancel_reason(record: LegRecord) -> str:
    caps = record.leg.capabilities
    reason = (
        f"{record.leg.label} payments cannot be cancelled at Up2pay: only the card complement "
        "can (manual §4.2)."
    )
    if caps.refund:
        return reason + " Refund it instead, from the day after the payment."
    return reason + " They cannot be refunded through Up2pay either; settle it with the customer."


class CancelRequested:
    """TRANSACTION_CANCELATION_REQUESTED: void an authorization (GAE 00005), card complement only.

    Staff on the order page, or Saleor releasing the funds of an abandoned checkout (no order, no
    issuing principal) — handled the same way. GAE cancels a whole transaction; after a partial
    capture the uncaptured rest simply lapses (a GAE cancel would also void what was captured), so
    the app records it as cancelled without calling GAE and says so in the message.
    """

    def __init__(self, deps: ActionServices) -> None:
        self._deps = deps

    async def execute(self, saleor_api_url: str, payload: dict[str, Any]) -> ActionOutcome:
        deps = self._deps
        try:
            target = await deps.target(saleor_api_url, payload)
            remaining = self._check(target)
        except ActionRefused as exc:
            log.info("cancel.refused", reason=exc.message)
            return refused_outcome("CANCEL", exc)
        record = target.record
        psp_reference = await deps.operation_reference(target, "cancel")
        if record.captured_amount > 0:
            updated = await deps.legs.update(saleor_api_url, record.numtrans, _cancel_rest)
            return ActionSuccess(
                operation="CANCEL",
                psp_reference=psp_reference,
                amount=remaining,
                actions=available_actions(updated),
                message=f"The uncaptured {money(remaining)} is released: Up2pay never captures "
                "it (no GAE call, which would also void the captured part).",
            )
        try:
            result = await target.gae.cancel(
                leg=record.leg,
                amount=to_minor_units(record.amount, record.currency),
                reference=target.reference,
                call_number=record.numappel,
                transaction_number=record.numtrans,
            )
        except InvalidPaymentRequest as exc:
            return refused_outcome("CANCEL", ActionRefused(str(exc), record))
        await deps.record_gae(target, remaining, result, psp_reference)
        if not result.ok:
            return ActionFailure(
                operation="CANCEL",
                message=gae_failure_message("cancel", result),
                actions=available_actions(record),
            )
        updated = await deps.legs.update(saleor_api_url, record.numtrans, _cancel_rest)
        return ActionSuccess(
            operation="CANCEL",
            psp_reference=psp_reference,
            amount=remaining,
            actions=available_actions(updated),
            message=f"Up2pay cancelled {record.leg.label} S={record.numtrans} "
            f"({money(remaining)}, code {result.code}).",
        )

    @staticmethod
    def _check(target: ActionTarget) -> Decimal:
        record = target.record
        require_accepted(record, "cancel")
        if not record.leg.capabilities.cancel:
            raise ActionRefused(_cannot_cancel_reason(record), record)
        remaining = authorized_left(record)
        if remaining <= 0:
            msg = (
                "Nothing authorized is left to cancel on this payment; a captured amount is "
                "refunded, not cancelled."
            )
            raise ActionRefused(msg, record)
        return remaining


# --- follow-up events --------------------------------------------------------------------------


async def report_event(services: Services, saleor_api_url: str, variables: dict[str, Any]) -> str:
    """``transactionEventReport`` with the app token; ``alreadyProcessed`` counts as done.

    Raises on transport errors (the job retries). A conflict Saleor will never accept (same
    pspReference and type with another amount) is logged and dropped.
    """
    from saleor_up2pay.transactions.reporter import Reporter  # noqa: PLC0415 - import cycle

    client = await Reporter(services).client(saleor_api_url)
    try:
        result = await client.mutate(
            "transaction_event_report", variables, "transactionEventReport"
        )
    except SaleorMutationError as exc:
        if exc.code in {"INCORRECT_DETAILS", "ALREADY_EXISTS", "NOT_FOUND"}:
            log.error("event.report_conflict", code=exc.code, message=exc.message)
            return f"conflict:{exc.code}"
        raise
    return "already_processed" if result.get("alreadyProcessed") else "created"


@job_handler(EVENT_JOB)
async def report_event_job(services: Services, job: Job) -> None:
    """Job: report one follow-up event (e.g. the cancelled remainder of a Conecs capture)."""
    outcome = await report_event(
        services, str(job.payload["saleor_api_url"]), dict(job.payload["variables"])
    )
    log.info("event.reported", job_id=job.id, outcome=outcome)


async def handle_charge(ctx: WebhookContext) -> dict[str, Any]:
    """TRANSACTION_CHARGE_REQUESTED entry point."""
    outcome = await ChargeRequested(ActionServices.from_services(ctx.services)).execute(
        ctx.saleor_api_url, ctx.payload
    )
    return outcome.to_response().dump()


async def handle_cancel(ctx: WebhookContext) -> dict[str, Any]:
    """TRANSACTION_CANCELATION_REQUESTED entry point."""
    outcome = await CancelRequested(ActionServices.from_services(ctx.services)).execute(
        ctx.saleor_api_url, ctx.payload
    )
    return outcome.to_response().dump()
