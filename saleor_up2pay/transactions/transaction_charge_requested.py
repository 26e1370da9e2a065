"""TRANSACTION_CHARGE_REQUESTED: capture (GAE 00002) part or all of an authorized Up2pay leg.

Document: ``graphql/subscriptions/transaction_charge_requested.graphql``; payload model
:class:`~saleor_up2pay.saleor.payloads.TransactionChargeRequested`; what charge, refund and cancel
share is in :mod:`.order_actions`.

A partial capture releases the remainder: Up2pay cancels it on a Conecs leg (manual §2.1.2.2),
and every leg is captured once (``Capabilities.partial_capture_voids_rest``). The
webhook answer carries only the ``CHARGE_SUCCESS``; the ``CANCEL_SUCCESS`` of the remainder is
reported to Saleor with ``transactionEventReport`` by a durable job (``transaction.event``,
:mod:`.follow_up_events`) queued before answering, so it survives a restart and is retried until
Saleor accepts it.

A capture is reserved on its leg before GAE is called (:class:`CaptureReservation`, atomic
compare-and-set) in the same write as the operation's journal intent (:mod:`.journal`), as refunds
are: two concurrent captures cannot exceed what is capturable, and a redelivered request is
answered from the journal (:mod:`.operation_settlement`), never captured twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog

from saleor_up2pay.saleor.ids import SaleorApiUrl
from saleor_up2pay.saleor.payloads import TransactionChargeRequested
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.journal import (
    ENTRY_TTL,
    JournalEntry,
    journal_key,
)
from saleor_up2pay.transactions.legs import LegRecord, authorized_left
from saleor_up2pay.transactions.operation_settlement import answer_of, execute, reenter, start
from saleor_up2pay.transactions.order_actions import (
    ActionRefused,
    ActionServices,
    ActionTarget,
    money,
    refused_outcome,
    require_accepted,
)
from saleor_up2pay.transactions.results import ActionOutcome

log = structlog.get_logger(__name__)

ZERO = Decimal("0")


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

    async def execute(self, saleor_api_url: SaleorApiUrl, payload: dict[str, Any]) -> ActionOutcome:
        deps = self._deps
        try:
            started = await start(
                deps,
                saleor_api_url,
                "TRANSACTION_CHARGE_REQUESTED",
                TransactionChargeRequested,
                payload,
            )
            if started.replay is not None:
                return started.replay
            op_id, target = started.op_id, started.target
            self._check(target)
            record = target.record
            voids_rest = record.leg.capabilities.partial_capture_voids_rest
            reservation = CaptureReservation(target.amount, voids_rest=voids_rest)
            psp_reference = await deps.operation_reference(target, "capture")
            intent = deps.intent(
                op_id,
                target,
                operation="capture",
                gae_call="capture",
                amount=target.amount,
                psp_reference=psp_reference,
            )

            def reserve(current: LegRecord) -> LegRecord:
                return reservation.reserve(current)

            # The intent (with the voided rest, known once reserved) and the reservation: one
            # atomic write, before GAE is called.
            reserved = await deps.legs.update_and_set(
                saleor_api_url,
                record.numtrans,
                reserve,
                key=journal_key(saleor_api_url, op_id),
                value=lambda: _with_voided(intent, reservation),
                ttl_seconds=ENTRY_TTL,
            )
        except ActionRefused as exc:
            log.info("charge.refused", reason=exc.message)
            return refused_outcome("CHARGE", exc)
        if reserved is None:  # a concurrent redelivery wrote it first
            concurrent = await deps.journal.get(saleor_api_url, op_id)
            if concurrent is not None:
                return await reenter(deps, target, concurrent)
        stored = await deps.journal.get(saleor_api_url, op_id)
        entry = await execute(deps, target, stored or intent)
        return answer_of(entry)

    @staticmethod
    def _check(target: ActionTarget) -> None:
        """What does not depend on the leg's amounts (those are checked when reserving)."""
        record = target.record
        require_accepted(record, "capture")
        if not record.leg.capabilities.capture:
            raise ActionRefused(f"{record.leg.label} payments cannot be captured.", record)
        if target.amount <= 0:
            raise ActionRefused("The amount to capture must be positive.", record)


def _with_voided(intent: JournalEntry, reservation: CaptureReservation) -> str:
    """The intent as stored: the voided rest is what the reservation booked."""
    return intent.model_copy(update={"voided": reservation.voided}).model_dump_json()


async def handle(services: Services, ctx: WebhookContext) -> ActionOutcome:
    """Webhook entry point: GAE capture with the leg's ACQUEREUR, answered as a result."""
    use_case = ChargeRequested(ActionServices.from_services(services))
    return await use_case.execute(ctx.saleor_api_url, ctx.payload)
