"""The refund split staff confirm on the order page: per-leg amounts for one refund."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_up2pay.dashboard.refund_split import (
    InvalidSplitRequest,
    LegAllowance,
    Strategy,
    propose_split,
)

VOUCHER = LegAllowance("voucher", "Bimpli (Apetiz)", False, Decimal("20.00"))
COMPLEMENT = LegAllowance("complement", "Card complement", True, Decimal("24.80"))


def amounts(proposal: object) -> dict[str, Decimal]:
    return {p.transaction_id: p.amount for p in proposal.parts}  # type: ignore[attr-defined]


def test_complement_first_takes_the_card_money_first() -> None:
    proposal = propose_split(Decimal("30.00"), [VOUCHER, COMPLEMENT], Strategy.COMPLEMENT_FIRST)
    assert amounts(proposal) == {"complement": Decimal("24.80"), "voucher": Decimal("5.20")}
    assert [p.transaction_id for p in proposal.parts] == ["complement", "voucher"]
    assert proposal.shortfall == 0


def test_voucher_first_takes_the_voucher_first() -> None:
    proposal = propose_split(Decimal("10.00"), [VOUCHER, COMPLEMENT], Strategy.VOUCHER_FIRST)
    assert amounts(proposal) == {"voucher": Decimal("10.00")}


def test_pro_rata_splits_in_proportion_to_the_cent() -> None:
    proposal = propose_split(Decimal("10.00"), [VOUCHER, COMPLEMENT], Strategy.PRO_RATA)
    # 20.00 / 44.80 and 24.80 / 44.80 of 10.00: 4.46 and 5.53, the lost cent to the first leg.
    assert amounts(proposal) == {"voucher": Decimal("4.47"), "complement": Decimal("5.53")}
    assert proposal.total == Decimal("10.00")


def test_a_leg_blocked_today_is_explained_with_the_shortfall() -> None:
    cv = LegAllowance(
        "cv", "Chèque-Vacances Connect", False, Decimal("0"), "cannot be refunded through Up2pay"
    )
    proposal = propose_split(Decimal("40.00"), [cv, COMPLEMENT], Strategy.VOUCHER_FIRST)
    assert amounts(proposal) == {"complement": Decimal("24.80")}
    assert proposal.shortfall == Decimal("15.20")
    assert proposal.explanations == ("Chèque-Vacances Connect: cannot be refunded through Up2pay",)


@pytest.mark.parametrize("bad", ["0", "-1.00", "1.005", "NaN"])
def test_the_amount_must_be_positive_cents(bad: str) -> None:
    with pytest.raises(InvalidSplitRequest):
        propose_split(Decimal(bad), [VOUCHER], Strategy.PRO_RATA)
