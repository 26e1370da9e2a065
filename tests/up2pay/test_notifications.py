"""Verified notifications read into typed values: codes, legs, LIMONETIK specifics, scopes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_up2pay.up2pay import (
    Leg,
    MalformedMessage,
    Outcome,
    PublicKeys,
    SignatureInvalid,
    describe_error_code,
    parse_notification,
    verify_ipn,
    verify_return,
)
from saleor_up2pay.up2pay.codes import IPN_CODES
from tests.up2pay.samples import SAMPLES, fake_up2pay_key, public_pem, signed_query


@pytest.fixture(scope="module")
def keys() -> PublicKeys:
    return PublicKeys.from_pem(public_pem(fake_up2pay_key()))


def ipn(**values: str) -> str:
    """An IPN's PBX_RETOUR part in our letters' order (absent letters omitted)."""
    order = "MRTABCEPQSWYZ"
    return "&".join(f"{k}={values[k]}" for k in order if k in values)


APETIZ_PAID = ipn(
    M="1500",
    R="foX8PuNwrNc8",
    T="2310165",
    B="0",
    C="APETIZ",
    E="00000",
    P="LIMONETIK",
    S="722487980",
    Z="1-2",
)


class TestVerifyIpn:
    def test_voucher_leg_paid(self, keys) -> None:
        """A signed Apetiz IPN reads as a paid APETIZ leg with its numbers (no A needed)."""
        n = verify_ipn(signed_query(APETIZ_PAID), keys)
        assert n.outcome is Outcome.PAID
        assert n.is_paid
        assert n.leg is Leg.APETIZ
        assert n.amount == 1500
        assert n.amount_decimal == Decimal("15.00")
        assert (n.reference, n.numappel, n.numtrans) == (
            "foX8PuNwrNc8",
            "2310165",
            "722487980",
        )
        assert n.authorization is None
        assert n.payment_type == "LIMONETIK"
        assert n.is_limonetik
        assert n.mixed_index == (1, 2)
        assert n.message_en == "Payment accepted."

    def test_own_leading_parameters_are_dropped(self, keys) -> None:
        """Our PBX_REPONDRE_A parameters before M are not signed and do not break the IPN."""
        n = verify_ipn("channel=default&order=42&" + signed_query(APETIZ_PAID), keys)
        assert n.leg is Leg.APETIZ
        assert ("channel", "default") not in n.params

    def test_tampered_ipn_fails(self, keys) -> None:
        """Changing the amount after signing makes the IPN fail verification."""
        raw = signed_query(APETIZ_PAID).replace("M=1500", "M=9500")
        with pytest.raises(SignatureInvalid):
            verify_ipn(raw, keys)

    def test_bytes_body_is_accepted(self, keys) -> None:
        """A POST body given as bytes verifies the same way."""
        assert verify_ipn(signed_query(APETIZ_PAID).encode(), keys).is_paid

    def test_unsigned_ipn_is_malformed(self, keys) -> None:
        """An IPN without K is malformed, not merely invalid."""
        with pytest.raises(MalformedMessage):
            verify_ipn(APETIZ_PAID, keys)

    def test_public_sample_with_its_own_names(self) -> None:
        """Sample S5 verifies with Up2pay's key and reads through its own PBX_RETOUR names."""
        s5 = next(s for s in SAMPLES if s.id == "S5")
        names = {"Mt": "M", "Id": "R", "Ref": "S", "Erreur": "E", "K": "K"}
        n = verify_ipn(s5.raw, PublicKeys.shipped(), names=names)
        assert (n.amount, n.reference, n.numtrans) == (100, "47", "601957")
        # A plain card sample without A is never "paid".
        assert n.outcome is Outcome.ERROR


class TestVerifyReturn:
    def test_whole_query_is_signed(self, keys) -> None:
        """A browser return is verified over every parameter, ours included."""
        raw = signed_query("up2pay=accepted&" + APETIZ_PAID)
        assert verify_return(raw, keys).is_paid
        # The same query verified as an IPN drops 'up2pay=accepted' and fails.
        with pytest.raises(SignatureInvalid):
            verify_ipn(raw, keys)

    def test_return_with_our_parameters_removed_fails(self, keys) -> None:
        """Dropping our own parameter from a signed return breaks its signature."""
        raw = signed_query("up2pay=accepted&" + APETIZ_PAID)
        with pytest.raises(SignatureInvalid):
            verify_return(raw.removeprefix("up2pay=accepted&"), keys)


class TestParseNotification:
    @pytest.mark.parametrize("code", sorted(IPN_CODES))
    def test_every_documented_code_has_an_outcome_and_messages(self, code: str) -> None:
        """Each code of the table reads to its outcome with a French and an English message."""
        n = parse_notification([("M", "100"), ("R", "X"), ("C", "SODEXO"), ("E", code)])
        assert n.outcome is IPN_CODES[code].outcome
        assert n.message_fr
        assert n.message_en
        assert n.message_fr != n.message_en

    @pytest.mark.parametrize(
        ("code", "outcome"),
        [
            ("00000", Outcome.PAID),
            ("99999", Outcome.PENDING),
            ("00001", Outcome.PLATFORM_ERROR),
            ("00003", Outcome.PLATFORM_ERROR),
            ("00004", Outcome.REFUSED),
            ("00006", Outcome.ERROR),
            ("00030", Outcome.ERROR),
        ],
    )
    def test_outcomes(self, code: str, outcome: Outcome) -> None:
        """Paid, pending, backup-host platform errors, refusals and errors are told apart."""
        assert (
            parse_notification([("M", "1"), ("R", "X"), ("E", code), ("C", "APETIZ")]).outcome
            is outcome
        )

    def test_bank_refusal_carries_bank_code(self) -> None:
        """A 001xx code is a refusal with the bank code and its meaning."""
        n = parse_notification([("M", "1"), ("R", "X"), ("E", "00151"), ("C", "LIMOCB")])
        assert n.outcome is Outcome.REFUSED
        assert n.bank_code == "51"
        assert "Insufficient funds" in n.message_en
        assert "Provision insuffisante" in n.message_fr

    def test_unknown_bank_code_still_refused(self) -> None:
        """A bank code missing from the table is still a refusal naming the code."""
        info, bank = describe_error_code("00177")
        assert (info.outcome, bank) == (Outcome.REFUSED, "77")
        assert "77" in info.en

    @pytest.mark.parametrize("code", ["00200", "00300", "12345"])
    def test_unknown_codes_are_failures(self, code: str) -> None:
        """Undocumented codes are never paid."""
        n = parse_notification([("M", "1"), ("R", "X"), ("E", code), ("C", "APETIZ")])
        assert n.outcome is Outcome.ERROR
        assert code in n.message_en

    @pytest.mark.parametrize(
        ("card_type", "leg"),
        [
            ("APETIZ", Leg.APETIZ),
            ("SODEXO", Leg.SODEXO),
            ("UPCHEQUDEJ", Leg.UPCHEQUDEJ),
            ("CVCONNECT", Leg.CVCONNECT),
            ("LIMOCB", Leg.LIMOCB),
            ("CB", Leg.CARD),
            ("Visa Electron", Leg.CARD),
        ],
    )
    def test_card_type_to_leg(self, card_type: str, leg: Leg) -> None:
        """The card type C names the leg; ordinary brands are card legs keeping their name."""
        n = parse_notification(
            [("M", "1"), ("R", "X"), ("A", "XXXXXX"), ("C", card_type), ("E", "00000")]
        )
        assert n.leg is leg
        assert n.card_type == card_type

    def test_cvconnect_without_authorization_is_paid(self) -> None:
        """The CV-Connect leg has no A and is still paid (manual §3.1.11)."""
        n = parse_notification(
            [("M", "1510"), ("R", "X"), ("C", "CVCONNECT"), ("P", "LIMONETIK"), ("E", "00000")]
        )
        assert n.is_paid
        assert n.authorization is None

    def test_complement_leg(self) -> None:
        """The LIMOCB complement is its own paid leg with its own amount and number."""
        n = parse_notification(
            [
                ("M", "1000"),
                ("R", "foX8PuNwrNc8"),
                ("T", "2310165"),
                ("A", "XXXXXX"),
                ("C", "LIMOCB"),
                ("E", "00000"),
                ("P", "LIMONETIK"),
                ("S", "722487981"),
            ]
        )
        assert (n.leg, n.amount, n.numtrans, n.authorization) == (
            Leg.LIMOCB,
            1000,
            "722487981",
            "XXXXXX",
        )

    @pytest.mark.parametrize(
        ("params", "match"),
        [
            ([("R", "X"), ("E", "00000")], "amount"),
            ([("M", "1.5"), ("R", "X"), ("E", "00000")], "amount"),
            ([("M", "1"), ("E", "00000")], "reference"),
            ([("M", "1"), ("R", "X")], "result code"),
            ([("M", "1"), ("R", "X"), ("E", "0")], "result code"),
            ([("M", "1"), ("R", "X"), ("E", "00000"), ("S", "abc")], "S must be digits"),
            ([("M", "1"), ("M", "2"), ("R", "X"), ("E", "00000")], "twice"),
        ],
    )
    def test_malformed(self, params, match) -> None:
        """Missing or ill-formed M, R, E, T/S and repeated parameters are malformed."""
        with pytest.raises(MalformedMessage, match=match):
            parse_notification(params)

    def test_unknown_parameters_are_ignored_but_kept(self) -> None:
        """Parameters outside PBX_RETOUR do not change the reading and stay in params."""
        n = parse_notification([("M", "1"), ("R", "X"), ("E", "99999"), ("foo", "bar")])
        assert n.outcome is Outcome.PENDING
        assert ("foo", "bar") in n.params
