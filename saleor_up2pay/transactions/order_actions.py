"""What the three order-page actions share: capture, refund and cancel routed to GAE.

Saleor sends TRANSACTION_CHARGE_REQUESTED / _CANCELATION_REQUESTED / _REFUND_REQUESTED to the app
for one transaction item; each event's use case lives in its own module
(:mod:`.transaction_charge_requested`, :mod:`.transaction_cancelation_requested`,
:mod:`.transaction_refund_requested`). Each item is one Up2pay leg
(:mod:`saleor_up2pay.transactions.legs`): the item ``transactionInitialize`` created ↔ the voucher
leg; the complement item the app created ↔ the LIMOCB leg. The leg gives GAE what it needs:
``ACQUEREUR`` (from the leg, never from input), NUMTRANS, NUMAPPEL, and how much is still
capturable / refundable.

This module resolves a request to its leg and configuration (:meth:`ActionServices.target`),
words GAE failures, keeps the activity log and hands out per-operation pspReferences.

Every answer is HTTP 200 with an explicit result (Saleor retries only on 5xx and turns anything
else into "Failed to delivery request."): a GAE refusal, an unreachable platform or an operation
the leg does not allow is ``<OPERATION>_FAILURE`` with a readable message. Every GAE call goes to
the activity log (no secret in it). ``actions`` always come from the capabilities table and the
leg's current amounts (:func:`~saleor_up2pay.transactions.legs.available_actions`).

Each capture, cancel and refund gets its own ``pspReference`` (``<S>:capture:<n>``...): Saleor
deduplicates events on (pspReference, type), so reusing the payment's S for a second partial
capture would be rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import structlog

from saleor_up2pay.activity import ActivityEntry, ActivityKind, ActivityLog
from saleor_up2pay.configuration import ConfigurationRepository, Up2payConfiguration
from saleor_up2pay.errors import AppError
from saleor_up2pay.jobs import JobQueue
from saleor_up2pay.problems import ProblemBoard
from saleor_up2pay.redis_store import Redis, ReplicaAcks, instance_key
from saleor_up2pay.saleor.ids import SaleorApiUrl, TransactionItemId
from saleor_up2pay.saleor.payloads import ActionRequest
from saleor_up2pay.saleor.problems import Problem
from saleor_up2pay.services import FaultHook, Services, no_faults
from saleor_up2pay.transactions.follow_up_events import EVENT_DELAY, EVENT_JOB
from saleor_up2pay.transactions.gateway import Clock, app_clock, gateway_factory
from saleor_up2pay.transactions.journal import (
    GaeCall,
    JournalEntry,
    JournalState,
    OperationJournal,
    OperationKind,
    journal_key,
)
from saleor_up2pay.transactions.legs import LegRecord, LegRepository, available_actions
from saleor_up2pay.transactions.results import ActionFailure, Operation
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from saleor_up2pay.up2pay import GaeOutcome, GaeResult
from saleor_up2pay.up2pay.models import Leg, Numappel, Numtrans

log = structlog.get_logger(__name__)


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


class GaeOperations(Protocol):
    """The GAE calls the order actions make (:class:`~saleor_up2pay.up2pay.GaeClient`; tests
    give an in-memory fake)."""

    async def capture(
        self, *, leg: Leg, amount: int, reference: str, numappel: Numappel, numtrans: Numtrans
    ) -> GaeResult: ...

    async def cancel(
        self, *, leg: Leg, amount: int, reference: str, numappel: Numappel, numtrans: Numtrans
    ) -> GaeResult: ...

    async def refund(
        self,
        *,
        leg: Leg,
        amount: int,
        reference: str,
        numappel: Numappel,
        numtrans: Numtrans,
        first_refund: bool = False,
    ) -> GaeResult: ...

    async def inquire(
        self,
        *,
        leg: Leg | None,
        numappel: Numappel,
        numtrans: Numtrans,
        reference: str | None = None,
    ) -> GaeResult: ...


GaeFactory = Callable[[Up2payConfiguration], GaeOperations]
"""The GAE client of a configuration's merchant account."""


@dataclass(frozen=True)
class ActionTarget:
    """A charge/refund/cancel request resolved to its leg and how to reach Up2pay for it."""

    saleor_api_url: SaleorApiUrl
    transaction_id: TransactionItemId
    amount: Decimal
    record: LegRecord
    session: PaymentSession | None
    channel: str | None
    gae: GaeOperations
    reference: str
    config_id: str = ""


LEASE_MARGIN = timedelta(seconds=8)
"""Added to the GAE time budget: how long an intent's call may still be in flight."""


class ActionServices:
    """The collaborators every order-page action uses (injected; tests build their own)."""

    def __init__(
        self,
        *,
        redis: Redis,
        legs: LegRepository,
        sessions: SessionRepository,
        configs: ConfigurationRepository,
        gae: GaeFactory,
        activity: ActivityLog,
        queue: JobQueue,
        clock: Clock,
        journal: OperationJournal | None = None,
        problems: ProblemBoard | None = None,
        faults: FaultHook = no_faults,
        lease: timedelta = timedelta(seconds=20),
        replica_acks: ReplicaAcks | None = None,
    ) -> None:
        self.redis = redis
        self.replica_acks = replica_acks
        """Confirms an intent is on a replica before its GAE call (None: never waits)."""
        self.journal = journal or OperationJournal(redis)
        self.problems = problems
        """Where problems the merchant must see go (None in unit tests: logged only)."""
        self.faults = faults
        """Test-only crash points (:data:`~saleor_up2pay.services.FaultHook`)."""
        self.lease = lease
        """How long a GAE call may be in flight (time budget + margin)."""
        self.legs = legs
        self.sessions = sessions
        self.configs = configs
        self.gae = gae
        self.activity = activity
        self.queue = queue
        self.clock = clock

    @classmethod
    def from_services(cls, services: Services) -> ActionServices:
        return cls(
            redis=services.redis,
            legs=LegRepository(services.redis),
            sessions=SessionRepository(services.redis),
            configs=services.configurations,
            gae=lambda config: gateway_factory(services)(config).gae(),
            activity=ActivityLog(services.redis),
            queue=services.job_queue,
            clock=app_clock(services),
            journal=OperationJournal(services.redis),
            problems=services.problems,
            faults=services.faults,
            lease=timedelta(seconds=float(services.settings.gae_time_budget_seconds))
            + LEASE_MARGIN,
            replica_acks=services.replica_acks,
        )

    def intent(
        self,
        op_id: str,
        target: ActionTarget,
        *,
        operation: OperationKind,
        gae_call: GaeCall,
        amount: Decimal,
        psp_reference: str,
        now: datetime | None = None,
        state: JournalState = JournalState.INTENT,
        first_refund: bool = False,
        reserved: bool = True,
    ) -> JournalEntry:
        """A new journal entry on ``target``'s leg, leased from ``now`` (or the clock)."""
        now = now or self.clock()
        return JournalEntry(
            op_id=op_id,
            operation=operation,
            gae_call=gae_call,
            saleor_api_url=target.saleor_api_url,
            transaction_id=target.transaction_id,
            numtrans=target.record.numtrans,
            amount=amount,
            psp_reference=psp_reference,
            state=state,
            created_at=now,
            lease_until=now + self.lease,
            first_refund=first_refund,
            reserved=reserved,
        )

    async def confirm_intent(self, entry: JournalEntry) -> None:
        """Before an intent's GAE call: wait until a replica has the intent (REDIS_REPLICA_ACK).

        A failover that lost the intent after money moved would let a redelivery of the
        request send the call again blindly (nothing would remember it). Raises
        :class:`~saleor_up2pay.redis_store.ReplicaAckMissing` (or ``WriteLost``) instead: nothing
        is sent; the request fails as a crash before GAE does (Saleor redelivers, a job reruns).
        """
        if self.replica_acks is not None:
            await self.replica_acks.confirm(
                self.redis, journal_key(entry.saleor_api_url, entry.op_id)
            )

    async def raise_problem(self, saleor_api_url: str, problem: Problem) -> None:
        """Show ``problem`` to the merchant; never raises (a problem shows a fault)."""
        log.warning("order_action.problem", key=problem.key, message=problem.message)
        if self.problems is None:
            return
        try:
            await self.problems.raise_(saleor_api_url, problem)
        except Exception:
            log.exception("order_action.problem_not_raised", key=problem.key)

    async def resolve_problems(self, saleor_api_url: str, *keys: str) -> None:
        """Dismiss settled problems; never raises."""
        if self.problems is None:
            return
        try:
            await self.problems.resolve(saleor_api_url, *keys)
        except Exception:
            log.exception("order_action.problem_not_resolved", keys=list(keys))

    async def find_leg(self, saleor_api_url: SaleorApiUrl, request: ActionRequest) -> LegRecord:
        """The leg of the request's item: by item id, else by its pspReference (= S)."""
        item_id = request.transaction.id
        record = await self.legs.get_by_transaction(saleor_api_url, item_id)
        if record is None:
            psp = request.transaction.psp_reference
            if psp:
                record = await self.legs.get_by_numtrans(saleor_api_url, psp)
        if record is None:
            msg = "No Up2pay payment is known for this transaction (its IPN never arrived)."
            raise ActionRefused(msg)
        return record

    async def target(self, saleor_api_url: SaleorApiUrl, request: ActionRequest) -> ActionTarget:
        """Resolve a parsed request; raises :class:`ActionRefused` with a readable reason."""
        action, item_id = request.action, request.transaction.id
        record = await self.find_leg(saleor_api_url, request)
        session = await self.sessions.get(saleor_api_url, record.reference)
        channel = request.transaction.channel or (session.channel if session else None)
        try:
            config = await self.configs.for_payment(
                saleor_api_url, session.config_id if session else None, channel
            )
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
            gae=self.gae(config),
            reference=record.reference,
            config_id=config.id,
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
        self,
        saleor_api_url: SaleorApiUrl,
        transaction: TransactionItemId,
        variables: dict[str, Any],
        job_id: str,
    ) -> None:
        """Report an event to Saleor later, durably (:mod:`.follow_up_events`)."""
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


def incomplete_request(exc: ValueError) -> ActionRefused:
    """The refusal of a payload that does not fit the event's model."""
    return ActionRefused(f"Saleor's request is incomplete: {exc}.")


def refused_outcome(operation: Operation, exc: ActionRefused) -> ActionFailure:
    """``<OPERATION>_FAILURE`` for a refused request, with the leg's actions when it is known."""
    actions = available_actions(exc.record) if exc.record else None
    return ActionFailure(operation=operation, message=exc.message, actions=actions)
