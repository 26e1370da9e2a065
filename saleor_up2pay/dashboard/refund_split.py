"""Split one refund across an order's Up2pay legs: a pure function, no I/O.

Staff enter one amount and a strategy; :func:`propose_split` answers how much to ask of each leg,
never more than what that leg allows *today* (:attr:`LegAllowance.refundable_now`). The parts sum
to the amount asked, or to less with the shortfall stated (``shortfall``) and each leg that could
not take its share explained (``LegAllowance.blocked_reason``: a Chèque-Vacances Connect leg, a leg
paid today that Up2pay refunds only from the next day...).

Strategies:

- ``complement_first``: the card complement legs first, then the vouchers (the customer gets
  the card money back first);
- ``voucher_first``: the vouchers first, then the card complement;
- ``pro_rata``: each leg in proportion to what it allows today, rounded to the cent, the cents
  left by rounding given to the legs in order (never above a leg's allowance).

Within one group, legs keep the order given (oldest first).

Granted refunds (:func:`plan_grant`): Saleor refunds a granted refund whole, on one transaction
item; the plan names the leg that can take it whole today, or says why none can.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

CENT = Decimal("0.01")
ZERO = Decimal("0")


class Strategy(StrEnum):
    COMPLEMENT_FIRST = "complement_first"
    VOUCHER_FIRST = "voucher_first"
    PRO_RATA = "pro_rata"


@dataclass(frozen=True)
class LegAllowance:
    """What one leg (one Saleor transaction item) can take of a refund today."""

    transaction_id: str
    label: str
    is_complement: bool
    refundable_now: Decimal
    """Captured, not refunded nor reserved, and refundable through Up2pay today (≥ 0)."""
    blocked_reason: str = ""
    """Why ``refundable_now`` is zero although money is on the leg (shown to staff)."""


@dataclass(frozen=True)
class SplitPart:
    transaction_id: str
    label: str
    amount: Decimal


@dataclass(frozen=True)
class SplitProposal:
    requested: Decimal
    strategy: Strategy
    parts: tuple[SplitPart, ...]
    """One per leg with a non-zero amount, in the order they are asked."""
    shortfall: Decimal
    """What the legs cannot take today (``requested - total``)."""
    explanations: tuple[str, ...] = field(default=())

    @property
    def total(self) -> Decimal:
        return sum((p.amount for p in self.parts), ZERO)


class InvalidSplitRequest(ValueError):
    """The amount asked is not a positive amount in cents."""


def _ordered(legs: Sequence[LegAllowance], strategy: Strategy) -> list[LegAllowance]:
    # sorted() is stable: within complements and within vouchers, the legs keep their order.
    if strategy is Strategy.COMPLEMENT_FIRST:
        return sorted(legs, key=lambda leg: not leg.is_complement)
    if strategy is Strategy.VOUCHER_FIRST:
        return sorted(legs, key=lambda leg: leg.is_complement)
    return list(legs)


def _greedy(amount: Decimal, legs: Sequence[LegAllowance]) -> dict[str, Decimal]:
    shares: dict[str, Decimal] = {}
    left = amount
    for leg in legs:
        take = min(left, leg.refundable_now)
        if take > 0:
            shares[leg.transaction_id] = take
            left -= take
    return shares


def _pro_rata(amount: Decimal, legs: Sequence[LegAllowance]) -> dict[str, Decimal]:
    usable = [leg for leg in legs if leg.refundable_now > 0]
    pool = sum((leg.refundable_now for leg in usable), ZERO)
    if pool <= amount:
        return {leg.transaction_id: leg.refundable_now for leg in usable}
    shares = {
        leg.transaction_id: (amount * leg.refundable_now / pool).quantize(CENT, ROUND_DOWN)
        for leg in usable
    }
    left = amount - sum(shares.values(), ZERO)
    for leg in usable:  # cents lost to rounding down, in order, within each allowance
        if left <= 0:
            break
        extra = min(left, leg.refundable_now - shares[leg.transaction_id])
        shares[leg.transaction_id] += extra
        left -= extra
    return {key: value for key, value in shares.items() if value > 0}


def propose_split(
    requested: Decimal, legs: Sequence[LegAllowance], strategy: Strategy
) -> SplitProposal:
    """Per-leg amounts for a refund of ``requested`` (see the module docstring)."""
    if not requested.is_finite() or requested <= 0 or requested != requested.quantize(CENT):
        msg = "The refund must be a positive amount in cents."
        raise InvalidSplitRequest(msg)
    ordered = _ordered(legs, strategy)
    if strategy is Strategy.PRO_RATA:
        shares = _pro_rata(requested, ordered)
    else:
        shares = _greedy(requested, ordered)
    parts = tuple(
        SplitPart(leg.transaction_id, leg.label, shares[leg.transaction_id])
        for leg in ordered
        if shares.get(leg.transaction_id, ZERO) > 0
    )
    total = sum((p.amount for p in parts), ZERO)
    shortfall = requested - total
    explanations = tuple(
        f"{leg.label}: {leg.blocked_reason}"
        for leg in ordered
        if leg.blocked_reason and leg.refundable_now <= 0
    )
    return SplitProposal(
        requested=requested,
        strategy=strategy,
        parts=parts,
        shortfall=shortfall,
        explanations=explanations if shortfall > 0 else (),
    )


# --- granted refunds ------------------------------------------------------------------------------


class GrantBlock(StrEnum):
    """Why a granted refund cannot be asked of Saleor from the widget now."""

    PENDING = "pending"
    """Saleor is already processing it (``REFUND_IS_PENDING``)."""
    PROCESSED = "processed"
    """It is refunded (``SUCCESS``)."""
    NOT_UP2PAY = "not_up2pay"
    """It is tied to a transaction item that is not an Up2pay leg (another payment app's)."""
    LEG_BLOCKED = "leg_blocked"
    """Its leg cannot take the whole granted amount today (D+1, Chèque-Vacances, refunded)."""
    NO_SINGLE_LEG = "no_single_leg"
    """Not tied to a leg, and no leg can take the whole granted amount today."""


@dataclass(frozen=True)
class Grant:
    """One of the order's granted refunds (Saleor's ``OrderGrantedRefund``)."""

    grant_id: str
    amount: Decimal
    status: str
    """``NONE``, ``PENDING``, ``SUCCESS`` or ``FAILURE`` (the latest linked refund event)."""
    transaction_id: str | None
    """The transaction item Saleor tied it to (``orderGrantRefundCreate(transactionId)``)."""


@dataclass(frozen=True)
class GrantPlan:
    """What asking Saleor to refund one granted refund would do.

    Saleor refunds a granted refund **whole, on one transaction item**:
    ``transactionRequestRefundForGrantedRefund`` creates one ``REFUND_REQUEST`` for the granted
    amount on the grant's item (the ``id`` given is used only when the grant has no item yet, and
    the amount may not exceed what that item has charged). So a grant is never split across legs:
    either one leg takes it whole today (``transaction_id`` set), or it is blocked (``block``).
    """

    grant_id: str
    amount: Decimal
    transaction_id: str | None = None
    label: str = ""
    assigns: bool = False
    """True when the grant has no item yet and Saleor will tie it to ``transaction_id``."""
    block: GrantBlock | None = None
    leg_label: str = ""
    """The leg the grant is tied to, when it is one (also when blocked)."""
    leg_allows: Decimal = ZERO
    """What that leg (or, for an untied grant, the roomiest leg) allows today."""
    leg_reason: str = ""
    """Why the leg allows less than the grant (the leg's ``blocked_reason``), if known."""

    @property
    def possible(self) -> bool:
        return self.block is None and self.transaction_id is not None


def plan_grant(
    grant: Grant,
    legs: Sequence[LegAllowance],
    strategy: Strategy = Strategy.COMPLEMENT_FIRST,
) -> GrantPlan:
    """Which leg refunds ``grant`` whole today, or why none can (see :class:`GrantPlan`).

    A grant tied to an item goes to that item or nowhere (Saleor ignores another ``id``). An
    untied grant (created before Saleor 3.21 made ``transactionId`` mandatory) goes to the first
    leg, in ``strategy`` order, that allows the whole amount today.
    """
    if grant.status == "SUCCESS":
        return GrantPlan(grant.grant_id, grant.amount, block=GrantBlock.PROCESSED)
    if grant.status == "PENDING":
        return GrantPlan(grant.grant_id, grant.amount, block=GrantBlock.PENDING)
    if grant.transaction_id is not None:
        leg = next((x for x in legs if x.transaction_id == grant.transaction_id), None)
        if leg is None:
            return GrantPlan(grant.grant_id, grant.amount, block=GrantBlock.NOT_UP2PAY)
        if leg.refundable_now >= grant.amount:
            return GrantPlan(
                grant.grant_id, grant.amount, leg.transaction_id, leg.label, leg_label=leg.label
            )
        return GrantPlan(
            grant.grant_id,
            grant.amount,
            block=GrantBlock.LEG_BLOCKED,
            leg_label=leg.label,
            leg_allows=leg.refundable_now,
            leg_reason=leg.blocked_reason,
        )
    for leg in _ordered(legs, strategy):
        if leg.refundable_now >= grant.amount:
            return GrantPlan(
                grant.grant_id, grant.amount, leg.transaction_id, leg.label, assigns=True
            )
    roomiest = max((leg.refundable_now for leg in legs), default=ZERO)
    return GrantPlan(
        grant.grant_id, grant.amount, block=GrantBlock.NO_SINGLE_LEG, leg_allows=roomiest
    )
