"""TRANSACTION_CANCELATION_REQUESTED: void an authorization (GAE 00005), card complement only.

Document: ``graphql/subscriptions/transaction_cancelation_requested.graphql``; payload model
:class:`~saleor_up2pay.saleor.payloads.TransactionCancelationRequested`; what charge, refund and
cancel share is in :mod:`.order_actions`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog

from saleor_up2pay.saleor.ids import SaleorApiUrl
from saleor_up2pay.saleor.payloads import TransactionCancelationRequested
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.journal import JournalState
from saleor_up2pay.transactions.legs import LegRecord, authorized_left, available_actions
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

    async def execute(self, saleor_api_url: SaleorApiUrl, payload: dict[str, Any]) -> ActionOutcome:
        deps = self._deps
        try:
            started = await start(
                deps,
                saleor_api_url,
                "TRANSACTION_CANCELATION_REQUESTED",
                TransactionCancelationRequested,
                payload,
            )
            if started.replay is not None:
                return started.replay
            op_id, target = started.op_id, started.target
            remaining = self._check(target)
        except ActionRefused as exc:
            log.info("cancel.refused", reason=exc.message)
            return refused_outcome("CANCEL", exc)
        record = target.record
        psp_reference = await deps.operation_reference(target, "cancel")
        intent = deps.intent(
            op_id,
            target,
            operation="cancel",
            gae_call="cancel",
            amount=remaining,
            psp_reference=psp_reference,
            reserved=False,
        )
        if record.captured_amount > 0:
            updated = await deps.legs.update(saleor_api_url, record.numtrans, _cancel_rest)
            done = intent.model_copy(
                update={
                    "state": JournalState.SUCCESS,
                    "actions": available_actions(updated),
                    "message": f"The uncaptured {money(remaining)} is released: Up2pay never "
                    "captures it (no GAE call, which would also void the captured part).",
                }
            )
            await deps.journal.put(done)
            return answer_of(done)
        if not await deps.journal.claim(intent):  # a concurrent redelivery wrote it first
            concurrent = await deps.journal.get(saleor_api_url, op_id)
            if concurrent is not None:
                return await reenter(deps, target, concurrent)
        return answer_of(await execute(deps, target, intent))

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


async def handle(services: Services, ctx: WebhookContext) -> ActionOutcome:
    """Webhook entry point: GAE cancel for LIMOCB; a voucher leg gets CANCEL_FAILURE."""
    use_case = CancelRequested(ActionServices.from_services(services))
    return await use_case.execute(ctx.saleor_api_url, ctx.payload)
