"""Leg records: one per Up2pay transaction (``S``, NUMTRANS) the app has received an IPN for.

An Up2pay payment with a voucher may produce several transactions: refused attempts, the voucher
leg (APETIZ, SODEXO, UPCHEQUDEJ, CVCONNECT) and, when the voucher balance does not cover the total,
a card complement (LIMOCB). Each verified IPN becomes a :class:`LegRecord`, stored before the IPN
is answered; the record is what later GAE operations (capture, cancel, refund) need: the leg (for
``ACQUEREUR``), NUMTRANS, NUMAPPEL, the amounts already captured/refunded/cancelled and the day it
was paid (refunds are only allowed from the next day).

Which Saleor transaction item a leg belongs to: the voucher legs (and their refused attempts) to
the item ``transactionInitialize`` created (the session's); LIMOCB legs to the complement item the
app creates with ``transactionCreate`` (``transaction_id`` is ``None`` until then).

Redis layout (per instance, so APP_DELETED purges it):

- ``up2pay:i:{<id>}:leg:<numtrans>`` → the record as JSON (created with SET NX: the IPN dedupe);
- ``up2pay:i:{<id>}:legs-ref:<reference>`` → set of numtrans;
- ``up2pay:i:{<id>}:legs-tx:<transaction id>`` → set of numtrans;
- ``up2pay:i:{<id>}:complement-tx:<reference>`` → the complement item's id (one per reference).

API::

    repo = LegRepository(redis)
    created = await repo.create(record)            # False: that S is already known (duplicate)
    record = await repo.get_by_numtrans(url, "722487980")
    records = await repo.legs_for_reference(url, reference)    # oldest first
    records = await repo.legs_for_transaction(url, transaction_id)
    record = await repo.get_by_transaction(url, transaction_id)  # the accepted leg, else latest
    record = main_leg(records)                     # the same, of legs already read
    record = await repo.update(url, numtrans, lambda r: r.with_refund(Decimal("3.20")))  # atomic
    await repo.save(record)                        # overwrite (+ indexes)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from saleor_up2pay.activity import ActivityEntry, ActivityLog
from saleor_up2pay.redis_store import LuaScript, Redis, instance_key
from saleor_up2pay.saleor.responses import Action
from saleor_up2pay.up2pay.models import Leg, Numappel, Numtrans

PARIS = ZoneInfo("Europe/Paris")
"""Up2pay's business day (refunds allowed from D+1) is the French one."""

ZERO = Decimal("0")


class LegStatus(StrEnum):
    """What the IPN said about this transaction."""

    ACCEPTED = "ACCEPTED"
    """Paid (CHARGE flow) or authorized (AUTHORIZATION flow): money is there."""
    REFUSED = "REFUSED"
    """Refused, cancelled by the shopper, or failed: no money moved."""
    PENDING = "PENDING"
    """Waiting for the issuer (``E=99999``): a later IPN with the same ``S`` settles it."""


ActionType = Literal["CHARGE", "AUTHORIZATION"]


class LegRecord(BaseModel):
    """One Up2pay transaction (one IPN ``S``) of a payment, and what happened to it since."""

    model_config = ConfigDict(frozen=True)

    saleor_api_url: str
    reference: str
    """``PBX_CMD`` (IPN ``R``): ties the leg to its payment session."""
    leg: Leg
    numtrans: Numtrans
    """Transaction number ``S`` (NUMTRANS in GAE); also the Saleor ``pspReference`` of the leg."""
    numappel: Numappel
    """Call number ``T`` (NUMAPPEL in GAE); shared by every leg of one payment."""
    authorization: str | None = None
    """Authorization number ``A`` (absent on refusals and on CV-Connect legs)."""
    amount: Decimal
    """Amount of this leg (IPN ``M``), in euros."""
    currency: str = "EUR"
    status: LegStatus
    action_type: ActionType = "CHARGE"
    """CHARGE: the amount was captured at payment; AUTHORIZATION: it waits for a capture."""
    transaction_id: str | None = None
    """Saleor TransactionItem of this leg (None for a complement not created in Saleor yet)."""
    error_code: str = ""
    """Up2pay ``E`` (``00000`` = accepted)."""
    message: str = ""
    """Readable outcome (French message of the error code)."""
    card_type: str = ""
    """Raw ``C`` of the IPN."""
    captured_amount: Decimal = ZERO
    refunded_amount: Decimal = ZERO
    cancelled_amount: Decimal = ZERO
    paid_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    """When the IPN was received (for the D+1 refund rule, see :attr:`paid_on`)."""
    reported: bool = False
    """Saleor has accepted the report of this IPN."""
    captured_at: datetime | None = None
    """When the app's capture (GAE 00002) of an authorization executed: an authorized leg is
    remitted, and refundable, from the day after its capture, not after its payment."""

    @property
    def accepted(self) -> bool:
        return self.status is LegStatus.ACCEPTED

    @property
    def paid_on(self) -> date:
        """The French calendar day of the payment (refunds are allowed from the day after)."""
        return self.paid_at.astimezone(PARIS).date()

    @property
    def paid_in_on(self) -> date:
        """The French calendar day the money was taken: the capture day of an authorization,
        else the payment day. Up2pay remits at the end of that day; refunds come after it."""
        if self.action_type == "AUTHORIZATION" and self.captured_at is not None:
            return self.captured_at.astimezone(PARIS).date()
        return self.paid_on

    @property
    def capturable_amount(self) -> Decimal:
        """What an authorization still allows to capture."""
        if not self.accepted:
            return ZERO
        return max(ZERO, self.amount - self.captured_amount - self.cancelled_amount)

    @property
    def refundable_amount(self) -> Decimal:
        """What was captured and not refunded yet."""
        return max(ZERO, self.captured_amount - self.refunded_amount)

    def with_capture(self, amount: Decimal, *, voids_rest: bool = False) -> LegRecord:
        """This leg after a capture of ``amount`` (a Conecs partial capture cancels the rest)."""
        captured = self.captured_amount + amount
        cancelled = self.cancelled_amount
        if voids_rest:
            cancelled = max(ZERO, self.amount - captured)
        return self.model_copy(update={"captured_amount": captured, "cancelled_amount": cancelled})

    def with_refund(self, amount: Decimal) -> LegRecord:
        """This leg after a refund of ``amount``."""
        return self.model_copy(update={"refunded_amount": self.refunded_amount + amount})

    def with_cancel(self, amount: Decimal) -> LegRecord:
        """This leg after cancelling ``amount`` of its authorization."""
        return self.model_copy(update={"cancelled_amount": self.cancelled_amount + amount})


def authorized_left(record: LegRecord) -> Decimal:
    """What an authorization leg still allows to capture or cancel (zero on a charged leg)."""
    return record.capturable_amount if record.action_type == "AUTHORIZATION" else ZERO


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


def ipn_activity_entry(
    record: LegRecord, channel: str | None, *, outcome: str, message: str
) -> ActivityEntry:
    """The ``ipn`` line of the activity log about this leg."""
    return ActivityEntry(
        kind="ipn",
        channel=channel,
        reference=record.reference,
        leg=record.leg.value,
        amount=record.amount,
        outcome=outcome,
        message=message,
        psp_reference=record.numtrans,
    )


async def record_ipn_activity(
    redis: Redis, record: LegRecord, channel: str | None, *, outcome: str, message: str
) -> None:
    """One ``ipn`` line in the activity log about this leg (received, reported, abandoned)."""
    await ActivityLog(redis).record(
        record.saleor_api_url,
        ipn_activity_entry(record, channel, outcome=outcome, message=message),
    )


# Writes ARGV[2] only if the key still holds ARGV[1] (optimistic update without WATCH).
_COMPARE_AND_SET = LuaScript("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
""")

# Like _COMPARE_AND_SET, and writes KEYS[2] (ARGV[3], TTL ARGV[4] s) in the same step unless it
# exists already (-1: nothing written).
_COMPARE_AND_SET_WITH = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return 1
"""


def _leg_key(url: str, numtrans: str) -> str:
    return instance_key(url, "leg", numtrans)


def leg_keys(record: LegRecord) -> tuple[str, str, str | None]:
    """``(record key, reference index, transaction index or None)`` of a leg, for scripts that
    write a leg with other keys atomically (the IPN intake)."""
    url = record.saleor_api_url
    tx = _tx_key(url, record.transaction_id) if record.transaction_id else None
    return _leg_key(url, record.numtrans), _ref_key(url, record.reference), tx


def _ref_key(url: str, reference: str) -> str:
    return instance_key(url, "legs-ref", reference)


def _tx_key(url: str, transaction_id: str) -> str:
    return instance_key(url, "legs-tx", transaction_id)


def _complement_key(url: str, reference: str) -> str:
    return instance_key(url, "complement-tx", reference)


def main_leg(records: list[LegRecord]) -> LegRecord | None:
    """Of one item's legs (oldest first), the one GAE actions target: the accepted one, else the
    latest (what :meth:`LegRepository.get_by_transaction` answers, for legs already read)."""
    accepted = [r for r in records if r.accepted]
    if accepted:
        return accepted[-1]
    return records[-1] if records else None


class LegRepository:
    """Stores :class:`LegRecord` objects in Redis (layout in the module docstring)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def create(self, record: LegRecord) -> bool:
        """Store a new leg; False (nothing written) if this NUMTRANS is already known."""
        url = record.saleor_api_url
        created = await self._redis.set(
            _leg_key(url, record.numtrans), record.model_dump_json(), nx=True
        )
        if not created:
            return False
        await self._index(record)
        return True

    async def save(self, record: LegRecord) -> None:
        """Write a leg (overwriting it) and its indexes."""
        await self._redis.set(
            _leg_key(record.saleor_api_url, record.numtrans), record.model_dump_json()
        )
        await self._index(record)

    async def _index(self, record: LegRecord) -> None:
        url = record.saleor_api_url
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(_ref_key(url, record.reference), record.numtrans)
            if record.transaction_id:
                pipe.sadd(_tx_key(url, record.transaction_id), record.numtrans)
            await pipe.execute()

    async def get_by_numtrans(self, saleor_api_url: str, numtrans: str) -> LegRecord | None:
        """The leg of transaction number ``S`` on that instance."""
        raw = await self._redis.get(_leg_key(saleor_api_url, numtrans))
        return LegRecord.model_validate_json(raw) if raw else None

    async def _many(self, saleor_api_url: str, numtranses: set[str]) -> list[LegRecord]:
        if not numtranses:
            return []
        keys = [_leg_key(saleor_api_url, n) for n in sorted(numtranses)]
        raws = await self._redis.mget(keys)
        records = [LegRecord.model_validate_json(raw) for raw in raws if raw]
        return sorted(records, key=lambda r: (r.paid_at, r.numtrans))

    async def legs_for_reference(self, saleor_api_url: str, reference: str) -> list[LegRecord]:
        """Every leg (and refused attempt) of one payment reference, oldest first."""
        members = await self._redis.smembers(_ref_key(saleor_api_url, reference))
        return await self._many(saleor_api_url, {str(m) for m in members})

    async def legs_for_transaction(
        self, saleor_api_url: str, transaction_id: str
    ) -> list[LegRecord]:
        """Every leg reported on one Saleor transaction item, oldest first."""
        members = await self._redis.smembers(_tx_key(saleor_api_url, transaction_id))
        return await self._many(saleor_api_url, {str(m) for m in members})

    async def get_by_transaction(
        self, saleor_api_url: str, transaction_id: str
    ) -> LegRecord | None:
        """The leg that GAE actions on this item target: the accepted one, else the latest."""
        return main_leg(await self.legs_for_transaction(saleor_api_url, transaction_id))

    async def update(
        self,
        saleor_api_url: str,
        numtrans: str,
        change: Callable[[LegRecord], LegRecord],
    ) -> LegRecord:
        """Apply ``change`` to a stored leg atomically (compare-and-set, retried on a race).

        Raises ``KeyError`` if the leg does not exist.
        """
        key = _leg_key(saleor_api_url, numtrans)
        while True:
            raw = await self._redis.get(key)
            if not raw:
                raise KeyError(numtrans)
            updated = change(LegRecord.model_validate_json(raw))
            swapped = await _COMPARE_AND_SET(self._redis, [key], [raw, updated.model_dump_json()])
            if swapped:
                await self._index(updated)
                return updated

    async def update_and_set(
        self,
        saleor_api_url: str,
        numtrans: str,
        change: Callable[[LegRecord], LegRecord],
        *,
        key: str,
        value: Callable[[], str],
        ttl_seconds: int,
    ) -> LegRecord | None:
        """:meth:`update`, writing ``key`` = ``value()`` (read after ``change`` ran) in the same
        atomic step: an operation's intent with its reservation. None, and nothing written, when
        ``key`` already exists.
        """
        leg_key = _leg_key(saleor_api_url, numtrans)
        while True:
            raw = await self._redis.get(leg_key)
            if not raw:
                raise KeyError(numtrans)
            updated = change(LegRecord.model_validate_json(raw))
            swapped = await self._redis.eval(
                _COMPARE_AND_SET_WITH,
                2,
                leg_key,
                key,
                raw,
                updated.model_dump_json(),
                value(),
                str(ttl_seconds),
            )
            if swapped == -1:
                return None
            if swapped:
                await self._index(updated)
                return updated

    async def complement_transaction(self, saleor_api_url: str, reference: str) -> str | None:
        """The id of the card-complement item created for ``reference``, if any."""
        value = await self._redis.get(_complement_key(saleor_api_url, reference))
        return str(value) if value else None

    async def set_complement_transaction(
        self, saleor_api_url: str, reference: str, transaction_id: str
    ) -> None:
        """Remember the card-complement item of ``reference``."""
        await self._redis.set(_complement_key(saleor_api_url, reference), transaction_id)


def legs_tx_prefix(saleor_api_url: str) -> str:
    """The transaction-index key of an item is this prefix and its id (for the IPN intake, which
    learns the item from the session inside its script)."""
    return _tx_key(saleor_api_url, "")
