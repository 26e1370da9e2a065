"""The refund split staff confirm on the order page: per-leg amounts for one refund."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_up2pay.dashboard.refund_split import (
    Grant,
    GrantBlock,
    InvalidSplitRequest,
    LegAllowance,
    Strategy,
    plan_grant,
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


# --- picking a granted refund ---------------------------------------------------------------------


def grant(amount: str, transaction_id: str | None, status: str = "NONE") -> Grant:
    return Grant("grant-1", Decimal(amount), status, transaction_id)


def test_a_grant_tied_to_a_leg_that_allows_it_goes_whole_to_that_leg() -> None:
    plan = plan_grant(grant("19.90", "complement"), [VOUCHER, COMPLEMENT])
    assert (plan.possible, plan.transaction_id, plan.amount) == (
        True,
        "complement",
        Decimal("19.90"),
    )
    assert not plan.assigns


def test_a_grant_tied_to_a_leg_never_moves_to_another_leg() -> None:
    """Saleor ignores another item for a tied grant: the voucher could take 15.00, but the grant
    is the complement's, which allows only 10.00 today."""
    short = LegAllowance("complement", "Card complement", True, Decimal("10.00"), "partly refunded")
    plan = plan_grant(grant("15.00", "complement"), [VOUCHER, short])
    assert (plan.possible, plan.block) == (False, GrantBlock.LEG_BLOCKED)
    assert (plan.leg_label, plan.leg_allows, plan.leg_reason) == (
        "Card complement",
        Decimal("10.00"),
        "partly refunded",
    )


def test_a_grant_on_a_cheque_vacances_leg_is_blocked_with_the_reason() -> None:
    cv = LegAllowance("cv", "Chèque-Vacances Connect", False, Decimal("0"), "cannot be refunded")
    plan = plan_grant(grant("5.00", "cv"), [cv])
    assert plan.block is GrantBlock.LEG_BLOCKED
    assert plan.leg_reason == "cannot be refunded"


def test_an_untied_grant_goes_to_the_first_leg_that_takes_it_whole() -> None:
    complement_first = plan_grant(grant("20.00", None), [VOUCHER, COMPLEMENT])
    assert (complement_first.transaction_id, complement_first.assigns) == ("complement", True)
    voucher_first = plan_grant(grant("20.00", None), [VOUCHER, COMPLEMENT], Strategy.VOUCHER_FIRST)
    assert voucher_first.transaction_id == "voucher"
    # 22.00: the voucher (20.00) cannot take it whole, the complement (24.80) can.
    assert (
        plan_grant(
            grant("22.00", None), [VOUCHER, COMPLEMENT], Strategy.VOUCHER_FIRST
        ).transaction_id
        == "complement"
    )


def test_a_grant_no_single_leg_can_take_whole_is_never_split() -> None:
    plan = plan_grant(grant("30.00", None), [VOUCHER, COMPLEMENT])
    assert (plan.possible, plan.block, plan.leg_allows) == (
        False,
        GrantBlock.NO_SINGLE_LEG,
        Decimal("24.80"),
    )


@pytest.mark.parametrize(
    ("status", "block"), [("PENDING", GrantBlock.PENDING), ("SUCCESS", GrantBlock.PROCESSED)]
)
def test_a_pending_or_refunded_grant_is_not_asked_again(status: str, block: GrantBlock) -> None:
    assert plan_grant(grant("5.00", "voucher", status), [VOUCHER]).block is block


def test_a_failed_grant_can_be_asked_again() -> None:
    assert plan_grant(grant("5.00", "voucher", "FAILURE"), [VOUCHER]).possible


def test_a_grant_on_another_payment_app_s_item_is_not_the_widget_s() -> None:
    assert plan_grant(grant("5.00", "stripe-item"), [VOUCHER]).block is GrantBlock.NOT_UP2PAY
