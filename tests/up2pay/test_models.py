"""Methods, legs and their capabilities, credentials, money conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_up2pay.up2pay import (
    CAPABILITIES,
    Credentials,
    InvalidAmount,
    Leg,
    Method,
    UnsupportedCurrency,
    from_minor_units,
    to_minor_units,
)

KEY = "0123456789ABCDEF" * 8


class TestCapabilities:
    @pytest.mark.parametrize("leg", [Leg.APETIZ, Leg.SODEXO, Leg.UPCHEQUDEJ])
    def test_conecs_capture_and_refund_but_no_cancel(self, leg: Leg) -> None:
        """Conecs legs: capture (partial voids the rest) and refund from D+1, several partial; no cancel."""
        caps = leg.capabilities
        assert (caps.capture, caps.cancel, caps.refund) == (True, False, True)
        assert caps.partial_capture_voids_rest
        assert caps.refund_from_next_day
        assert caps.several_partial_refunds

    def test_cvconnect_capture_only(self) -> None:
        """CV-Connect legs can only be captured."""
        caps = Leg.CVCONNECT.capabilities
        assert (caps.capture, caps.cancel, caps.refund) == (True, False, False)

    def test_card_complement_everything(self) -> None:
        """The LIMOCB complement can be captured, cancelled and refunded."""
        caps = Leg.LIMOCB.capabilities
        assert (caps.capture, caps.cancel, caps.refund) == (True, True, True)
        assert caps.partial_capture_voids_rest  # one capture per authorization

    def test_table_covers_every_leg(self) -> None:
        """Every leg has exactly one row."""
        assert set(CAPABILITIES) == set(Leg)


class TestLegsAndMethods:
    @pytest.mark.parametrize(
        ("leg", "acquirer"),
        [
            (Leg.APETIZ, "APETIZ"),
            (Leg.SODEXO, "SODEXO"),
            (Leg.UPCHEQUDEJ, "UPCHEQUDEJ"),
            (Leg.CVCONNECT, "CVCONNECT"),
            (Leg.LIMOCB, "LIMOCB"),
            (Leg.CARD, None),
        ],
    )
    def test_acquirer(self, leg: Leg, acquirer: str | None) -> None:
        """ACQUEREUR comes from the leg (manual §4.2 table); plain cards send none."""
        assert leg.acquirer == acquirer

    def test_methods(self) -> None:
        """Each method maps to its voucher leg and kind."""
        assert [m.leg for m in Method] == [Leg.APETIZ, Leg.SODEXO, Leg.UPCHEQUDEJ, Leg.CVCONNECT]
        assert Method.CVCONNECT.kind == "holiday"
        assert Method.SODEXO.kind == "meal"
        assert "Pluxee" in Method.SODEXO.label

    def test_voucher_legs(self) -> None:
        """Voucher legs are the four LIMONETIK methods; LIMOCB and cards are not."""
        assert {leg for leg in Leg if leg.is_voucher} == {m.leg for m in Method}
        assert Leg.from_card_type("limocb") is Leg.LIMOCB
        assert Leg.from_card_type("EUROCARD_MASTERCARD") is Leg.CARD


class TestCredentials:
    def test_repr_hides_the_key(self) -> None:
        """The HMAC key never shows in the repr."""
        creds = Credentials("1999888", "32", "2", KEY)
        assert KEY not in repr(creds)
        assert "1999888" in repr(creds)

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            (("199988", "32", "2", KEY), "SITE"),
            (("1999888", "1", "2", KEY), "RANG"),
            (("1999888", "32", "1234567890", KEY), "IDENTIFIANT"),
            (("1999888", "32", "2", "ABC"), "HMAC key"),
        ],
    )
    def test_invalid_values_are_refused(self, args, match) -> None:
        """Bad SITE, RANG, IDENTIFIANT and key formats are refused without echoing the key."""
        with pytest.raises(ValueError, match=match) as info:
            Credentials(*args)
        assert KEY not in str(info.value)


class TestMoney:
    def test_round_trip(self) -> None:
        """Cents and Decimal euros convert both ways exactly."""
        assert to_minor_units(Decimal("44.80"), "EUR") == 4480
        assert from_minor_units(4480) == Decimal("44.80")
        assert str(from_minor_units(5)) == "0.05"

    def test_refusals(self) -> None:
        """Non-euro and sub-cent amounts raise distinct errors."""
        with pytest.raises(UnsupportedCurrency):
            to_minor_units(Decimal(1), "USD")
        with pytest.raises(InvalidAmount):
            to_minor_units(Decimal("0.001"), "EUR")
