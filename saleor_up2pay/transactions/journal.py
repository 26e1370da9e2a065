"""The operation journal: every money-moving GAE call is written down before it is made.

A capture, refund or cancel (deferred or not) gets one :class:`JournalEntry`, keyed by a stable
operation id (:func:`operation_id`: Saleor redelivers a request byte for byte, so a redelivery maps
to the same entry). The entry is written as an **intent** (operation, leg, amount,
pspReference, the GAE call it stands for) *before* GAE is called — for captures and refunds in one
atomic Redis step with the leg's reservation
(:meth:`~saleor_up2pay.transactions.legs.LegRepository.update_and_set`) — and gets its
**outcome** after GAE answered:

``intent`` → ``success`` | ``failure`` | ``uncertain``; a refund Up2pay only allows tomorrow is
``deferred`` until its job turns it into an intent.

Whoever finds an intent without an outcome (a Saleor redelivery after a crash, a rerun job, the
settle job) asks GAE first (inquiry 00017) and never re-sends blindly
(:mod:`.operation_settlement`). An intent carries a lease (``lease_until``): until it runs out the
call may still be in flight in another process, so nothing re-sends it before then.

Redis: ``up2pay:i:{<instance>}:op:<operation id>`` → the entry as JSON, kept :data:`ENTRY_TTL`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from saleor_up2pay.redis_store import Redis, instance_key
from saleor_up2pay.saleor.responses import Action

ENTRY_TTL = 400 * 24 * 3600
"""Entries are kept longer than any redelivery, deferral or settlement can last."""

OperationKind = Literal["capture", "refund", "cancel"]
"""What Saleor asked for (the event)."""
GaeCall = Literal["capture", "refund", "cancel"]
"""The GAE operation that carries it out (a same-day refund of a card complement is a cancel)."""


class JournalState(StrEnum):
    INTENT = "intent"
    """Written before the GAE call; no outcome known yet."""
    SUCCESS = "success"
    """Up2pay executed it (answer, or an inquiry proved it)."""
    FAILURE = "failure"
    """Up2pay did not execute it; nothing moved (a re-entry may try again)."""
    UNCERTAIN = "uncertain"
    """GAE may have executed it; the settle job inquires until it is known."""
    DEFERRED = "deferred"
    """A refund accepted today, executed by its job tomorrow (nothing sent yet)."""


class JournalEntry(BaseModel):
    """One money-moving operation and what is known about it."""

    model_config = ConfigDict(frozen=True)

    op_id: str
    operation: OperationKind
    gae_call: GaeCall
    saleor_api_url: str
    transaction_id: str
    numtrans: str
    """The leg (NUMTRANS ``S``)."""
    amount: Decimal
    psp_reference: str
    """The pspReference Saleor knows this operation by (answered or reported)."""
    state: JournalState = JournalState.INTENT
    created_at: datetime
    lease_until: datetime
    """Until then the GAE call may still be in flight: nobody else sends it."""
    first_refund: bool = False
    """A refund with no earlier one on its leg (an inquiry's ``Remboursé`` then proves it)."""
    voided: Decimal = Decimal("0")
    """A partial capture: the rest it cancels (booked with the reservation)."""
    reserved: bool = True
    """Whether the amount was reserved on the leg with the intent (capture, refund)."""
    code: str = ""
    message: str = ""
    actions: list[Action] | None = None
    """The item's actions after the outcome (what Saleor is told)."""
    reported: bool = False
    """The outcome was answered or reported to Saleor."""

    @property
    def settled(self) -> bool:
        return self.state in {JournalState.SUCCESS, JournalState.FAILURE}

    @property
    def saleor_operation(self) -> Literal["CHARGE", "REFUND", "CANCEL"]:
        return {"capture": "CHARGE", "refund": "REFUND", "cancel": "CANCEL"}[self.operation]  # type: ignore[return-value]


def operation_id(event: str, payload: dict[str, Any]) -> str:
    """A stable id of one Saleor request: the same for every redelivery of it.

    Saleor redelivers the stored payload (same bytes), so its canonical JSON identifies the
    request; two requests differ in the item's amounts once the first one is settled. (Two
    *identical* requests while the first is still pending are taken as one: see
    ``docs/reliability.md``.)
    """
    canonical = json.dumps(
        {"event": event, "payload": payload}, sort_keys=True, default=str, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def journal_key(saleor_api_url: str, op_id: str) -> str:
    return instance_key(saleor_api_url, "op", op_id)


class OperationJournal:
    """Reads and writes :class:`JournalEntry` objects (layout in the module docstring)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, saleor_api_url: str, op_id: str) -> JournalEntry | None:
        raw = await self._redis.get(journal_key(saleor_api_url, op_id))
        return JournalEntry.model_validate_json(raw) if raw else None

    async def claim(self, entry: JournalEntry) -> bool:
        """Write a new entry; False (nothing written) when one with its id exists."""
        created = await self._redis.set(
            journal_key(entry.saleor_api_url, entry.op_id),
            entry.model_dump_json(),
            nx=True,
            ex=ENTRY_TTL,
        )
        return bool(created)

    async def put(self, entry: JournalEntry) -> JournalEntry:
        """Overwrite an entry (its outcome, its new lease...)."""
        await self._redis.set(
            journal_key(entry.saleor_api_url, entry.op_id), entry.model_dump_json(), ex=ENTRY_TTL
        )
        return entry

    async def forget(self, entry: JournalEntry) -> None:
        """Drop an entry whose operation did not move money (a new request may reuse its id)."""
        await self._redis.delete(journal_key(entry.saleor_api_url, entry.op_id))
