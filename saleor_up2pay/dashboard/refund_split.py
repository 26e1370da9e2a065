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
    if strategy is Strategy.COMPLEMENT_FIRST:
        return [leg for leg in legs if leg.is_complement] + [
            leg for leg in legs if not leg.is_complement
        ]
    if strategy is Strategy.VOUCHER_FIRST:
        return [leg for leg in legs if not leg.is_complement] + [
            leg for leg in legs if leg.is_complement
        ]
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
