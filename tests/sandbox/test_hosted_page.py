"""The sandbox's hosted page refuses what Up2pay refuses (protocol §2.2, §2.5; manual §3.1.6-7)."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from tests.sandbox.helpers import TEST_KEY, payment_fields, sign_fields


async def post_form(client: httpx.AsyncClient, fields: list[tuple[str, str]]) -> httpx.Response:
    # Encoded in list order, as a browser posts hidden inputs in document order.
    return await client.post(
        "/php/",
        content=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def error_code(response: httpx.Response) -> str:
    return response.headers["X-Up2pay-Error"]


_XML = '<?xml version="1.0" encoding="utf-8"?>'


def _cart(quantity: str) -> str:
    return f"{_XML}<shoppingcart><total><totalQuantity>{quantity}</totalQuantity></total></shoppingcart>"


def _billing(city: str = "PARIS", country: str = "250") -> str:
    return (
        f"{_XML}<Billing><Address><FirstName>Camille</FirstName><LastName>Martin</LastName>"
        f"<Address1>10 rue de Rivoli</Address1><Address2></Address2><ZipCode>75004</ZipCode>"
        f"<City>{city}</City><CountryCode>{country}</CountryCode></Address></Billing>"
    )


class TestHostedPageAccepts:
    async def test_valid_form_shows_the_outcome_page(self, sandbox: httpx.AsyncClient) -> None:
        """A correctly signed Conecs form opens the page with the order and its amount."""
        response = await post_form(sandbox, payment_fields(cmd="CMD9542124-01A5G"))
        assert response.status_code == 200
        assert "CMD9542124-01A5G" in response.text
        assert "15.00 €" in response.text
        assert 'action="/sandbox/checkout/' in response.text

    async def test_get_link_with_the_same_fields_works(self, sandbox: httpx.AsyncClient) -> None:
        """The fields may also come URL-encoded in a GET link (protocol §2.1)."""
        response = await sandbox.get("/php/", params=tuple(payment_fields()))
        assert response.status_code == 200

    async def test_3ds_v2_fields_are_accepted_when_well_formed(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """PBX_SHOPPINGCART (1-99) and PBX_BILLING (plain text, numeric country), signed."""
        fields = payment_fields(PBX_SHOPPINGCART=_cart("5"), PBX_BILLING=_billing())
        assert (await post_form(sandbox, fields)).status_code == 200

    async def test_lower_case_hmac_is_accepted(self, sandbox: httpx.AsyncClient) -> None:
        """The platform compares the HMAC case-insensitively (protocol §2.5)."""
        fields = payment_fields()
        fields[-1] = ("PBX_HMAC", fields[-1][1].lower())
        assert (await post_form(sandbox, fields)).status_code == 200

    async def test_rank_with_leading_zero_is_the_same_account(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """RANG ``032`` is the same rank as ``32`` (protocol §2.2)."""
        response = await post_form(sandbox, payment_fields(PBX_RANG="032"))
        assert response.status_code == 200

    @pytest.mark.parametrize("card", ["APETIZ", "SODEXO", "UPCHEQUDEJ", "CVCONNECT"])
    async def test_every_voucher_card_type_is_accepted(
        self, sandbox: httpx.AsyncClient, card: str
    ) -> None:
        """Each LIMONETIK card type of the manual opens its page."""
        assert (await post_form(sandbox, payment_fields(card=card))).status_code == 200

    async def test_hmac_covers_any_extra_field_in_place(self, sandbox: httpx.AsyncClient) -> None:
        """Optional fields are part of the signed string at the place they are sent."""
        fields = payment_fields(extra=(("PBX_LANGUE", "GBR"), ("PBX_RUF1", "POST")))
        assert (await post_form(sandbox, fields)).status_code == 200


class TestHostedPageRefuses:
    async def test_wrong_hmac_key_is_access_refused(self, sandbox: httpx.AsyncClient) -> None:
        """A form signed with another key gets Up2pay's "Accès refusé" (00006)."""
        response = await post_form(sandbox, payment_fields(key="00" * 64))
        assert response.status_code == 400
        assert error_code(response) == "00006"
        assert "Accès refusé" in response.text

    async def test_fields_reordered_after_signing_are_refused(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """The HMAC is computed over the order received, so a reordered form fails (§2.5)."""
        fields = payment_fields()
        body, hmac_field = fields[:-1], fields[-1]
        reordered = [body[1], body[0], *body[2:], hmac_field]
        assert error_code(await post_form(sandbox, reordered)) == "00006"

    async def test_tampered_amount_is_refused(self, sandbox: httpx.AsyncClient) -> None:
        """Changing a value after signing breaks the HMAC."""
        fields = [(n, "100" if n == "PBX_TOTAL" else v) for n, v in payment_fields()]
        assert error_code(await post_form(sandbox, fields)) == "00006"

    async def test_missing_hmac_is_refused(self, sandbox: httpx.AsyncClient) -> None:
        """An unsigned form is refused."""
        assert error_code(await post_form(sandbox, payment_fields(sign=False))) == "00006"

    @pytest.mark.parametrize(
        ("field", "value"),
        [("PBX_SITE", "1999889"), ("PBX_RANG", "33"), ("PBX_IDENTIFIANT", "2"), ("PBX_SITE", "12")],
    )
    async def test_unknown_account_is_refused(
        self, sandbox: httpx.AsyncClient, field: str, value: str
    ) -> None:
        """An unknown SITE/RANG/IDENTIFIANT is "Accès refusé" (00006)."""
        fields = payment_fields(**{field: value})  # type: ignore[arg-type]
        assert error_code(await post_form(sandbox, fields)) == "00006"

    async def test_missing_hash_is_refused(self, sandbox: httpx.AsyncClient) -> None:
        """Without PBX_HASH the HMAC cannot be checked."""
        assert error_code(await post_form(sandbox, payment_fields(drop=("PBX_HASH",)))) == "00006"

    @pytest.mark.parametrize(
        ("overrides", "drop", "code"),
        [
            ({"PBX_DEVISE": "840"}, (), "00010"),
            ({"PBX_DEVISE": "EUR"}, (), "00010"),
            ({"PBX_TOTAL": "15.00"}, (), "00011"),
            ({"PBX_TOTAL": "0"}, (), "00011"),
            ({"PBX_CMD": "A" * 21}, (), "00012"),
            ({"PBX_CMD": "CMD 42"}, (), "00012"),
            ({"PBX_PORTEUR": "nobody"}, (), "00002"),
            ({}, ("PBX_PORTEUR",), "00002"),
            ({}, ("PBX_TIME",), "00002"),
            ({"PBX_TIME": "2025-06-08T16:21:16"}, (), "00002"),
            ({"PBX_TIME": "yesterday"}, (), "00002"),
            ({"PBX_RETOUR": "M:M;K:K;R:R"}, (), "00002"),
            ({"PBX_RETOUR": "M:M;R:X;K:K"}, (), "00002"),
            ({"PBX_RETOUR": "M:M;M:R;K:K"}, (), "00002"),
            ({"PBX_RETOUR": "montant:M;abonne:U;sign:K"}, (), "00009"),
            ({"PBX_TYPECARTE": "VISA"}, (), "00021"),
            ({"PBX_TYPEPAIEMENT": "CARTE", "PBX_TYPECARTE": "CB"}, (), "00021"),
            ({}, ("PBX_TYPECARTE",), "00002"),
            ({}, ("PBX_TYPEPAIEMENT", "PBX_TYPECARTE"), "00021"),
            ({"PBX_EFFECTUE": "/relative/path"}, (), "00002"),
            ({"PBX_REPONDRE_A": "ftp://shop.test/ipn"}, (), "00002"),
            # 3-D Secure v2 fields (protocol §2.4, pitfall 16)
            ({"PBX_SHOPPINGCART": _cart("100")}, (), "00002"),
            ({"PBX_SHOPPINGCART": _cart("0")}, (), "00002"),
            ({"PBX_SHOPPINGCART": _XML + "<shoppingcart><total>"}, (), "00002"),
            ({"PBX_BILLING": _billing(city="Saint-Étienne")}, (), "00002"),
            ({"PBX_BILLING": _billing(city="A & B")}, (), "00002"),
            ({"PBX_BILLING": _billing(country="FR")}, (), "00002"),
            ({"PBX_BILLING": _billing(country="000")}, (), "00002"),
        ],
    )
    async def test_field_checks(
        self,
        sandbox: httpx.AsyncClient,
        overrides: dict[str, str],
        drop: tuple[str, ...],
        code: str,
    ) -> None:
        """Each malformed field, even correctly signed, gets the platform's error code."""
        fields = payment_fields(drop=drop, **overrides)  # type: ignore[arg-type]
        response = await post_form(sandbox, fields)
        assert response.status_code == 400
        assert error_code(response) == code

    async def test_u_in_retour_is_refused_as_the_manual_says(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """The manual's refused example (a subscriber token U) never reaches the payment page."""
        retour = "montant:M;appel:T;paiement:P;idtrans:S;pays:Y;erreur:E;abonne:U;sign:K"
        response = await post_form(sandbox, payment_fields(PBX_RETOUR=retour))
        assert error_code(response) == "00009"
        assert "(U)" in response.text

    async def test_field_sent_twice_is_refused(self, sandbox: httpx.AsyncClient) -> None:
        """A duplicated field makes the request ambiguous."""
        fields = sign_fields([*payment_fields(sign=False), ("PBX_CMD", "OTHER")], TEST_KEY)
        assert error_code(await post_form(sandbox, fields)) == "00002"

    async def test_multipart_body_is_refused(self, sandbox: httpx.AsyncClient) -> None:
        """The page reads URL-encoded forms only."""
        response = await sandbox.post("/php/", files={"PBX_SITE": (None, "1999888")})
        assert error_code(response) == "00002"

    async def test_already_paid_reference_is_refused(self, sandbox: httpx.AsyncClient) -> None:
        """Presenting a PBX_CMD that was already paid gets "Paiement déjà effectué" (00015)."""
        fields = payment_fields(cmd="PAID-ONCE")
        paid = await sandbox.post("/sandbox/api/pay", json={"fields": fields, "outcome": "voucher"})
        assert paid.json()["return_kind"] == "accepted"
        assert error_code(await post_form(sandbox, fields)) == "00015"

    async def test_refused_reference_can_be_presented_again(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """A refused payment does not burn its reference."""
        fields = payment_fields(cmd="REFUSED-ONCE")
        await sandbox.post("/sandbox/api/pay", json={"fields": fields, "outcome": "refused"})
        assert (await post_form(sandbox, fields)).status_code == 200
