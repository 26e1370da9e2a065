"""The signed PBX_* form: HMAC vectors, field order, PBX_RETOUR, currency, amounts, PBX_CMD."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from saleor_up2pay.up2pay import (
    PBX_RETOUR,
    Credentials,
    InvalidAmount,
    InvalidPaymentRequest,
    Method,
    OrderReferences,
    ProtocolViolation,
    ReturnUrls,
    UnsupportedCurrency,
    build_payment_form,
    compute_hmac,
    parse_retour,
)
from saleor_up2pay.up2pay.hosted_page import (
    BillingAddress,
    RedirectForm,
    billing_xml,
    shopping_cart_xml,
)
from tests.conftest import RECORDED, require_shared

TEST_KEY = "0123456789ABCDEF" * 8
CREDENTIALS = Credentials(site="1999888", rang="043", identifiant="107975626", hmac_key=TEST_KEY)
URLS = ReturnUrls(
    accepted="https://shop.example/checkout?up2pay=accepted",
    refused="https://shop.example/checkout?up2pay=refused",
    cancelled="https://shop.example/checkout?up2pay=cancelled",
    pending="https://shop.example/checkout?up2pay=pending",
    ipn="https://up2pay-app.example/api/up2pay/ipn",
)
NOW = datetime(2026, 11, 26, 15, 15, 17, tzinfo=UTC)


def build(**overrides: Any) -> RedirectForm:
    kwargs: dict[str, Any] = {
        "credentials": CREDENTIALS,
        "action_url": "https://recette-tpeweb.e-transactions.fr/php/",
        "method": Method.APETIZ,
        "amount": Decimal("20.00"),
        "currency": "EUR",
        "order_reference": "S4b3a16533e354721bda",
        "customer_email": "camille.martin@example.fr",
        "urls": URLS,
        "now": NOW,
    }
    kwargs.update(overrides)
    return build_payment_form(**kwargs)


def split(query: str) -> list[tuple[str, str]]:
    return [tuple(p.split("=", 1)) for p in query.split("&")]  # type: ignore[misc]


class TestComputeHmac:
    def test_eopayment_vector(self) -> None:
        """The HMAC of the protocol notes' first vector (UTF-8 'à') is reproduced."""
        fields = split(
            "PBX_SITE=12345678&PBX_RANG=32&PBX_IDENTIFIANT=12345678&PBX_TOTAL=999&PBX_DEVISE=978"
            "&PBX_CMD=appel à Paybox&PBX_PORTEUR=test@paybox.com&PBX_RETOUR=Mt:M;Ref:R;Auto:A;Erreur:E"
            "&PBX_HASH=SHA512&PBX_TIME=2015-06-08T16:21:16+02:00"
        )
        assert compute_hmac(fields, TEST_KEY) == (
            "7E74D8E9A0DBB65AAE51C5C50C2668FD98FC99AEDF18244BB1935F602B6C2E95"
            "3B61FD84364F34FDB88B049901C0A07F6040AF446BBF5589113F48A733D551D4"
        )

    @pytest.mark.parametrize(
        ("souhait", "expected"),
        [
            (
                "02",
                "75E84EABB8398898DBE1150FDD68F82CB532CD44900F5ADAE1117CB9265E59DE"
                "CA341DF2D548BDCFE587C3038468AF5FC58EC3CAAB5CB91F69A0DD407FF1482D",
            ),
            (
                "04",
                "F6FAB41A0675457F3775A27E6A8B0223AE7FB0E5C3F4D2643F16E4AF96D88F65"
                "940359BE7B7E9468BA87B9CA7F034322AADA0C416CDE574B270097C1BDCCC31A",
            ),
        ],
    )
    def test_3ds_v2_vectors(self, souhait: str, expected: str) -> None:
        """The 3-D Secure v2 vectors (XML values hashed raw, not escaped) are reproduced."""
        fields = [
            ("PBX_SITE", "1999888"),
            ("PBX_RANG", "43"),
            ("PBX_IDENTIFIANT", "107975626"),
            ("PBX_TOTAL", "1000"),
            ("PBX_DEVISE", "978"),
            ("PBX_CMD", "3"),
            ("PBX_PORTEUR", "test@paybox.com"),
            ("PBX_RETOUR", "Mt:M;Id:R;Ref:S;Erreur:E;sign:K"),
            ("PBX_TIME", "2023-12-10T12:00:00+00:00"),
            (
                "PBX_SHOPPINGCART",
                '<?xml version="1.0" encoding="utf-8"?><shoppingcart><total><totalQuantity>5'
                "</totalQuantity></total></shoppingcart>",
            ),
            (
                "PBX_BILLING",
                '<?xml version="1.0" encoding="utf-8"?><Billing><Address><FirstName>Test'
                "</FirstName><LastName>PAYBOX</LastName><Address1>Paybox street</Address1>"
                "<Address2></Address2><ZipCode>00000</ZipCode><City>PAYBOX</City><CountryCode>250"
                "</CountryCode></Address></Billing>",
            ),
            ("PBX_SOUHAITAUTHENT", souhait),
        ]
        assert compute_hmac(fields, TEST_KEY) == expected


class TestBuildPaymentForm:
    def test_matches_recorded_form_byte_for_byte(self) -> None:
        """The form equals the recorded Saleor answer: same fields, same order, same PBX_HMAC."""
        path = require_shared(RECORDED / "graphql" / "12-A-transactionInitialize.json")
        recorded = json.loads(path.read_text())["response"]["json"]["data"]
        form_json = recorded["transactionInitialize"]["data"]["up2pay"]["form"]
        form = build()
        assert list(form_json["fields"].items()) == list(form.fields)
        assert form_json["action"] == form.action_url

    def test_field_order(self) -> None:
        """Fields come in the documented order with PBX_HMAC last."""
        assert [name for name, _ in build().fields] == [
            "PBX_SITE",
            "PBX_RANG",
            "PBX_IDENTIFIANT",
            "PBX_TOTAL",
            "PBX_DEVISE",
            "PBX_CMD",
            "PBX_PORTEUR",
            "PBX_RETOUR",
            "PBX_HASH",
            "PBX_TIME",
            "PBX_EFFECTUE",
            "PBX_REFUSE",
            "PBX_ANNULE",
            "PBX_ATTENTE",
            "PBX_REPONDRE_A",
            "PBX_RUF1",
            "PBX_LANGUE",
            "PBX_TYPEPAIEMENT",
            "PBX_TYPECARTE",
            "PBX_HMAC",
        ]

    def test_hmac_covers_fields_in_form_order(self) -> None:
        """PBX_HMAC is the upper-case HMAC-SHA512 of every preceding field in order."""
        import binascii
        import hashlib
        import hmac as std_hmac

        form = build(ipn_method=None, language=None, method=Method.CVCONNECT)
        *signed, (last, value) = form.fields
        message = "&".join(f"{k}={v}" for k, v in signed).encode()
        expected = std_hmac.new(binascii.unhexlify(TEST_KEY), message, hashlib.sha512)
        assert last == "PBX_HMAC"
        assert value == expected.hexdigest().upper()
        assert re.fullmatch(r"[0-9A-F]{128}", value)
        assert "PBX_RUF1" not in dict(form.fields)
        assert form.field("PBX_TYPECARTE") == "CVCONNECT"

    def test_limonetik_and_time(self) -> None:
        """The form asks for LIMONETIK with the chosen card type and an ISO 8601 PBX_TIME."""
        paris = timezone(timedelta(hours=2))
        form = build(method=Method.UPCHEQUDEJ, now=datetime(2026, 6, 8, 16, 21, 16, tzinfo=paris))
        assert form.field("PBX_TYPEPAIEMENT") == "LIMONETIK"
        assert form.field("PBX_TYPECARTE") == "UPCHEQUDEJ"
        assert form.field("PBX_TIME") == "2026-06-08T16:21:16+02:00"
        assert form.field("PBX_HASH") == "SHA512"

    def test_authorize_only_and_key_size(self) -> None:
        """Optional PBX_AUTOSEULE=O and PBX_SIGN_KEYSIZE come after the card type, then the HMAC."""
        form = build(authorize_only=True, sign_keysize=2048)
        names = [name for name, _ in form.fields]
        assert names[-4:] == ["PBX_TYPECARTE", "PBX_AUTOSEULE", "PBX_SIGN_KEYSIZE", "PBX_HMAC"]
        assert (form.field("PBX_AUTOSEULE"), form.field("PBX_SIGN_KEYSIZE")) == ("O", "2048")
        assert form.field("PBX_HMAC") == compute_hmac(form.fields[:-1], TEST_KEY)
        assert "PBX_AUTOSEULE" not in dict(build().fields)

    def test_json_keeps_order(self) -> None:
        """to_json gives the fields as ordered pairs with the action and method."""
        data = build().to_json()
        fields = data["fields"]
        assert isinstance(fields, list)
        assert data["method"] == "POST"
        assert fields[0] == ["PBX_SITE", "1999888"]
        assert fields[-1][0] == "PBX_HMAC"

    @pytest.mark.parametrize(
        ("amount", "total"),
        [("20", "2000"), ("15.1", "1510"), ("0.5", "050"), ("1234.56", "123456")],
    )
    def test_amount_in_cents(self, amount: str, total: str) -> None:
        """Decimal euros become cents, padded to at least three digits."""
        assert build(amount=Decimal(amount)).field("PBX_TOTAL") == total

    @pytest.mark.parametrize("amount", ["10.005", "0", "-1", "NaN"])
    def test_bad_amounts_are_refused(self, amount: str) -> None:
        """Sub-cent, zero, negative and non-numeric amounts are refused."""
        with pytest.raises(InvalidAmount):
            build(amount=Decimal(amount))

    def test_float_amount_is_refused(self) -> None:
        """A float amount is refused rather than rounded."""
        with pytest.raises(InvalidAmount, match="Decimal"):
            build(amount=20.0)

    @pytest.mark.parametrize("currency", ["USD", "GBP", "840"])
    def test_other_currencies_are_refused(self, currency: str) -> None:
        """Only euros are accepted, with an error saying why."""
        with pytest.raises(UnsupportedCurrency, match="euros \\(EUR\\) only"):
            build(currency=currency)

    @pytest.mark.parametrize("currency", ["EUR", "eur", "978"])
    def test_euro_spellings(self, currency: str) -> None:
        """EUR is accepted by code or number and always sent as 978."""
        assert build(currency=currency).field("PBX_DEVISE") == "978"

    @pytest.mark.parametrize("reference", ["", "x" * 21, "has space", "accentué", "under_score"])
    def test_bad_order_reference(self, reference: str) -> None:
        """PBX_CMD must be 1 to 20 characters of [A-Za-z0-9-]."""
        with pytest.raises(InvalidPaymentRequest, match="PBX_CMD"):
            build(order_reference=reference)

    @pytest.mark.parametrize(
        ("overrides", "match"),
        [
            ({"customer_email": "nobody"}, "PBX_PORTEUR"),
            ({"now": datetime(2026, 1, 1)}, "timezone-aware"),
            ({"language": "XXX"}, "PBX_LANGUE"),
            ({"action_url": "/php/"}, "action_url"),
            ({"customer_email": "jérôme@example.fr"}, "ASCII"),
        ],
    )
    def test_other_invalid_inputs(self, overrides, match) -> None:
        """Invalid e-mail, naive time, unknown language, relative URLs, non-ASCII are refused."""
        with pytest.raises(InvalidPaymentRequest, match=match):
            build(**overrides)

    def test_retour_with_u_raises(self) -> None:
        """A request that would carry U in PBX_RETOUR is a bug and raises."""
        with pytest.raises(ProtocolViolation, match="never ask for U"):
            build(retour="M:M;U:U;K:K")


class TestPbxRetour:
    def test_default_has_k_last_and_no_u(self) -> None:
        """Our PBX_RETOUR is the protocol's recommended list, K last, without U."""
        assert PBX_RETOUR == "M:M;R:R;T:T;A:A;B:B;C:C;E:E;P:P;Q:Q;S:S;W:W;Y:Y;Z:Z;K:K"
        letters = list(parse_retour(PBX_RETOUR).values())
        assert letters[-1] == "K"
        assert "U" not in letters

    @pytest.mark.parametrize(
        ("spec", "match"),
        [
            ("M:M;K:K;E:E", "end with the signature K"),
            ("M:M;E:E", "end with the signature K"),
            ("montant:M;abonne:U;sign:K", "never ask for U"),
            ("M:M;M:E;K:K", "repeats"),
            ("M M;K:K", "not 'name:letter'"),
        ],
    )
    def test_invalid_specs(self, spec: str, match: str) -> None:
        """Specs with U, K not last, repeats or bad syntax raise ProtocolViolation."""
        with pytest.raises(ProtocolViolation, match=match):
            parse_retour(spec)

    def test_manual_accepted_example(self) -> None:
        """The manual's accepted example parses to names and letters."""
        spec = "montant:M;appel:T;paiement:P;idtrans:S;pays:Y;erreur:E;sign:K"
        assert dict(parse_retour(spec))["idtrans"] == "S"


class TestOrderReferences:
    async def test_new_references_have_the_right_format(self, redis) -> None:
        """Generated PBX_CMD values are 20 characters of [A-Za-z0-9-] and keep the prefix."""
        refs = OrderReferences(redis)
        ref = await refs.new(prefix="S-")
        assert re.fullmatch(r"S-[A-Za-z0-9]{18}", ref)

    async def test_references_are_unique_under_concurrency(self, redis) -> None:
        """A hundred concurrent generations give a hundred distinct reserved references."""
        refs = OrderReferences(redis)
        made = await asyncio.gather(*(refs.new() for _ in range(100)))
        assert len(set(made)) == 100
        assert await redis.exists(*(OrderReferences.key(r) for r in made[:10])) == 10

    async def test_reserve_refuses_a_taken_reference(self, redis) -> None:
        """A reference can be reserved once; the second reservation is refused."""
        refs = OrderReferences(redis)
        assert await refs.reserve("CMD9542124-01A5G") is True
        assert await refs.reserve("CMD9542124-01A5G") is False

    async def test_collision_is_retried(self, redis, monkeypatch) -> None:
        """When a generated reference is taken, another one is drawn."""
        import saleor_up2pay.up2pay.hosted_page as hosted_page

        draws = iter("A" * 20 + "A" * 20 + "B" * 20)
        secrets = hosted_page.secrets  # type: ignore[attr-defined]
        monkeypatch.setattr(secrets, "choice", lambda _alphabet: next(draws))
        refs = OrderReferences(redis)
        await refs.reserve("A" * 20)
        assert await refs.new() == "B" * 20

    async def test_bad_prefix_is_refused(self, redis) -> None:
        """A prefix longer than 8 characters or outside the alphabet is refused."""
        with pytest.raises(InvalidPaymentRequest):
            await OrderReferences(redis).new(prefix="TOO-LONG-PREFIX")
        with pytest.raises(InvalidPaymentRequest):
            await OrderReferences(redis).new(prefix="a_b")


class TestThreeDSecureFields:
    def test_cart_quantity_stays_within_1_to_99(self) -> None:
        """Up2pay refuses totalQuantity above 99 (pitfall 16): the app never sends it."""
        assert "<totalQuantity>99</totalQuantity>" in shopping_cart_xml(250)
        assert "<totalQuantity>1</totalQuantity>" in shopping_cart_xml(0)

    def test_billing_is_plain_ascii_with_a_numeric_country(self) -> None:
        """Accents and XML specials are stripped, the country is ISO 3166-1 numeric."""
        xml = billing_xml(
            BillingAddress(
                first_name="Zoé",
                last_name="<Dupont & Fils>",
                address1="12 rue de l'Église",
                address2="",
                zip_code="42000",
                city="Saint-Étienne",
                country="FR",
                phone="+33 6 12 34 56 78",
            )
        )
        assert xml.startswith('<?xml version="1.0" encoding="utf-8"?><Billing><Address>')
        assert "<FirstName>Zoe</FirstName>" in xml
        assert "<LastName>Dupont Fils</LastName>" in xml
        assert "<City>SaintEtienne</City>" in xml
        assert "<CountryCode>250</CountryCode>" in xml
        assert "<MobilePhone>0612345678</MobilePhone>" in xml
        assert xml.isascii()

    def test_unknown_country_is_sent_empty_not_000(self) -> None:
        xml = billing_xml(BillingAddress("A", "B", "C", "", "1", "D", "ZZ"))
        assert "<CountryCode></CountryCode>" in xml
        assert "MobilePhone" not in xml
