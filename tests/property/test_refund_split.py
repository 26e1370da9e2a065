"""Properties of the refund split: never above a leg's allowance, sum = asked or explained."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from saleor_up2pay.dashboard.refund_split import LegAllowance, Strategy, propose_split

cents = st.integers(min_value=0, max_value=500_000).map(lambda c: Decimal(c) / 100)
legs = st.lists(
    st.builds(
        LegAllowance,
        transaction_id=st.uuids().map(str),
        label=st.just("leg"),
        is_complement=st.booleans(),
        refundable_now=cents,
        blocked_reason=st.sampled_from(["", "from tomorrow"]),
    ),
    max_size=5,
    unique_by=lambda leg: leg.transaction_id,
)
requested = st.integers(min_value=1, max_value=1_000_000).map(lambda c: Decimal(c) / 100)


@given(requested, legs, st.sampled_from(list(Strategy)))
def test_split_is_within_each_leg_and_sums_to_the_request_or_a_shortfall(
    amount: Decimal, allowances: list[LegAllowance], strategy: Strategy
) -> None:
    proposal = propose_split(amount, allowances, strategy)
    allowed = {leg.transaction_id: leg.refundable_now for leg in allowances}
    for part in proposal.parts:
        assert Decimal("0") < part.amount <= allowed[part.transaction_id]
        assert part.amount == part.amount.quantize(Decimal("0.01"))
    assert len({p.transaction_id for p in proposal.parts}) == len(proposal.parts)
    assert proposal.total + proposal.shortfall == amount
    pool = sum(allowed.values(), Decimal("0"))
    assert proposal.total == min(amount, pool)
    assert proposal.shortfall >= 0
