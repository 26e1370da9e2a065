"""The GAE emulator (``PPPS.php``): Up2pay's checks and the business rules of each leg."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.sandbox.helpers import gae_fields, parse_gae, payment_fields

_questions = itertools.count(1)


async def gae(
    client: httpx.AsyncClient, fields: list[tuple[str, str]], path: str = "/PPPS.php"
) -> dict[str, str]:
    response = await client.post(
        path,
        content=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=ISO-8859-1"
    return parse_gae(response.content)


async def operate(
    client: httpx.AsyncClient,
    operation: str,
    leg: dict[str, Any],
    amount: int | None = None,
    *,
    acquirer: str | None = "",
    path: str = "/PPPS.php",
    **overrides: Any,
) -> dict[str, str]:
    """Run one GAE operation on a leg (ACQUEREUR defaults to the leg's card type)."""
    fields = gae_fields(
        operation,
        question=overrides.pop("question", next(_questions)),
        numtrans=leg["transaction_number"],
        numappel=overrides.pop("numappel", leg["call_number"]),
        amount=amount,
        acquirer=leg["card_type"] if acquirer == "" else acquirer,
        **overrides,
    )
    return await gae(client, fields, path)


async def paid_legs(
    client: httpx.AsyncClient,
    *,
    card: str = "APETIZ",
    split: int | None = None,
    authorize_only: bool = False,
    cmd: str = "CMD-0001",
    extra: tuple[tuple[str, str], ...] = (),
) -> list[dict[str, Any]]:
    """Pay through the hosted page; returns the legs the sandbox created."""
    if authorize_only:
        extra = (*extra, ("PBX_AUTOSEULE", "O"))
    body: dict[str, Any] = {
        "fields": payment_fields(card=card, cmd=cmd, extra=extra),
        "outcome": "split" if split else "voucher",
    }
    if split:
        body["voucher_amount"] = split
    response = await client.post("/sandbox/api/pay", json=body)
    assert response.status_code == 200, response.text
    legs: list[dict[str, Any]] = response.json()["transactions"]
    return legs


async def next_day(client: httpx.AsyncClient, days: int = 1) -> None:
    response = await client.post("/sandbox/api/clock", json={"days": days})
    assert response.status_code == 200


class TestGaeProtocol:
    async def test_answer_is_latin1_not_url_encoded_and_echoes_the_question(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """Latin-1 bytes, raw accents and spaces; SITE, RANG, NUMQUESTION repeated as sent."""
        [leg] = await paid_legs(sandbox)
        fields = gae_fields(
            "00017", question=777, numtrans=leg["transaction_number"], numappel=None
        )
        response = await sandbox.post(
            "/PPPS.php",
            content=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert b"COMMENTAIRE=Demande trait\xe9e avec succ\xe8s" in response.content
        answer = parse_gae(response.content)
        assert (answer["SITE"], answer["RANG"], answer["NUMQUESTION"]) == (
            "1999888",
            "032",
            "0000000777",
        )
        assert answer["NUMTRANS"] == f"{leg['transaction_number']:010d}"
        assert answer["NUMAPPEL"] == f"{leg['call_number']:010d}"

    async def test_wrong_hmac_is_access_refused(self, sandbox: httpx.AsyncClient) -> None:
        """A request signed with another key gets 00006."""
        [leg] = await paid_legs(sandbox)
        answer = await operate(sandbox, "00017", leg, key="00" * 64)
        assert answer["CODEREPONSE"] == "00006"

    async def test_unsigned_request_is_access_refused(self, sandbox: httpx.AsyncClient) -> None:
        """Without HMAC nothing is done."""
        fields = gae_fields("00017", question=5, numtrans=1, numappel=None, sign=False)
        assert (await gae(sandbox, fields))["CODEREPONSE"] == "00006"

    async def test_unknown_site_is_access_refused(self, sandbox: httpx.AsyncClient) -> None:
        """An unknown SITE/RANG gets 00006 whatever the HMAC."""
        fields = gae_fields("00017", question=5, numtrans=1, numappel=None, SITE="1234567")
        assert (await gae(sandbox, fields))["CODEREPONSE"] == "00006"

    async def test_credentials_check_on_unknown_transaction(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """Good credentials and an unknown transaction: "transaction non trouvée", not 00006."""
        fields = gae_fields("00017", question=9, numtrans=1, numappel=1, acquirer="LIMOCB")
        answer = await gae(sandbox, fields)
        assert answer["CODEREPONSE"] == "00015"
        assert "non trouvée" in answer["COMMENTAIRE"]

    async def test_garbage_body_is_an_incoherent_frame(self, sandbox: httpx.AsyncClient) -> None:
        """A body that is not form data gets 00014."""
        response = await sandbox.post("/PPPS.php", content=b"\xff\xfe not a form")
        assert parse_gae(response.content)["CODEREPONSE"] == "00014"

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"TYPE": "00001"}, "00009"),
            ({"TYPE": "00099"}, "00009"),
            ({"VERSION": "00001"}, "00013"),
            ({"DATEQ": "31022025"}, "00007"),
            ({"DATEQ": "2025-04-08"}, "00007"),
            ({"ACTIVITE": "099"}, "00026"),
            ({"NUMQUESTION": "0"}, "00005"),
            ({"NUMQUESTION": "2147483648"}, "00005"),
            ({"NUMQUESTION": "abc"}, "00005"),
            ({"DEVISE": "840"}, "00010"),
            ({"MONTANT": "12.00"}, "00011"),
            ({"REFERENCE": ""}, "00012"),
            ({"NUMAPPEL": "0000000001"}, "00015"),
            ({"ACQUEREUR": "LIMOCB"}, "00002"),
        ],
    )
    async def test_field_checks(
        self, sandbox: httpx.AsyncClient, overrides: dict[str, str], code: str
    ) -> None:
        """Each bad field of a capture gets the documented CODEREPONSE."""
        [leg] = await paid_legs(sandbox, authorize_only=True)
        answer = await operate(sandbox, "00002", leg, 1500, **overrides)
        assert answer["CODEREPONSE"] == code
        legs = (await sandbox.get("/sandbox/api/transactions")).json()["transactions"]
        assert legs[0]["status"] == "Autorisé"

    async def test_missing_acquirer_is_refused(self, sandbox: httpx.AsyncClient) -> None:
        """ACQUEREUR is mandatory for LIMONETIK legs (manual §4.2)."""
        [leg] = await paid_legs(sandbox, authorize_only=True)
        answer = await operate(sandbox, "00002", leg, 1500, acquirer=None)
        assert answer["CODEREPONSE"] == "00002"

    async def test_question_number_repeat_is_refused(self, sandbox: httpx.AsyncClient) -> None:
        """A NUMQUESTION used today on this site/rang is refused with 00005, even if valid."""
        [leg] = await paid_legs(sandbox)
        first = await operate(sandbox, "00017", leg, question=424242)
        again = await operate(sandbox, "00017", leg, question=424242)
        assert first["CODEREPONSE"] == "00000"
        assert again["CODEREPONSE"] == "00005"

    async def test_question_number_can_be_reused_the_next_day(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """Uniqueness is per day: the same NUMQUESTION works again tomorrow."""
        [leg] = await paid_legs(sandbox)
        assert (await operate(sandbox, "00017", leg, question=31))["CODEREPONSE"] == "00000"
        await next_day(sandbox)
        assert (await operate(sandbox, "00017", leg, question=31))["CODEREPONSE"] == "00000"


class TestCapture:
    async def test_partial_capture_voids_the_rest(self, sandbox: httpx.AsyncClient) -> None:
        """Capturing 10 € of an authorized 15 € Conecs leg leaves only 10 € refundable."""
        [leg] = await paid_legs(sandbox, authorize_only=True)
        capture = await operate(sandbox, "00002", leg, 1000)
        assert capture["CODEREPONSE"] == "00000"
        assert capture["AUTORISATION"] == "XXXXXX"
        status = await operate(sandbox, "00017", leg)
        assert status["STATUS"] == "Capturé"
        await next_day(sandbox)
        too_much = await operate(sandbox, "00014", leg, 1001)
        assert too_much["CODEREPONSE"] == "00011"
        assert (await operate(sandbox, "00014", leg, 1000))["CODEREPONSE"] == "00000"

    async def test_capture_more_than_authorized_is_refused(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """A capture above the authorized amount gets 00011."""
        [leg] = await paid_legs(sandbox, authorize_only=True)
        assert (await operate(sandbox, "00002", leg, 1501))["CODEREPONSE"] == "00011"

    async def test_second_capture_is_refused(self, sandbox: httpx.AsyncClient) -> None:
        """A leg is captured once."""
        [leg] = await paid_legs(sandbox, authorize_only=True)
        assert (await operate(sandbox, "00002", leg, 500))["CODEREPONSE"] == "00000"
        assert (await operate(sandbox, "00002", leg, 500))["CODEREPONSE"] == "00002"

    async def test_immediate_debit_cannot_be_captured(self, sandbox: httpx.AsyncClient) -> None:
        """Without PBX_AUTOSEULE=O the payment is already debited."""
        [leg] = await paid_legs(sandbox)
        assert (await operate(sandbox, "00002", leg, 1500))["CODEREPONSE"] == "00002"

    @pytest.mark.parametrize("card", ["CVCONNECT", "SODEXO"])
    async def test_every_leg_can_be_captured(self, sandbox: httpx.AsyncClient, card: str) -> None:
        """Capture is allowed on voucher legs, CV-Connect included (manual §2.2.2.1)."""
        [leg] = await paid_legs(sandbox, card=card, authorize_only=True)
        assert (await operate(sandbox, "00002", leg, 1500))["CODEREPONSE"] == "00000"

    async def test_deferred_payment_is_captured_by_the_platform(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """With PBX_DIFF=02 the leg is authorized until the clock reaches two days later."""
        [leg] = await paid_legs(sandbox, extra=(("PBX_DIFF", "02"),))
        assert (await operate(sandbox, "00017", leg))["STATUS"] == "Autorisé"
        await next_day(sandbox, 2)
        assert (await operate(sandbox, "00017", leg))["STATUS"] == "Capturé"


class TestCancel:
    async def test_conecs_leg_cannot_be_cancelled(self, sandbox: httpx.AsyncClient) -> None:
        """Conecs payments are not cancellable (manual §4.2)."""
        [leg] = await paid_legs(sandbox)
        answer = await operate(sandbox, "00005", leg, 1500)
        assert answer["CODEREPONSE"] == "00009"
        assert "annulé" in answer["COMMENTAIRE"]

    async def test_cv_connect_leg_cannot_be_cancelled(self, sandbox: httpx.AsyncClient) -> None:
        """CV-Connect payments are not cancellable (manual §2.2.2.1)."""
        [leg] = await paid_legs(sandbox, card="CVCONNECT")
        assert (await operate(sandbox, "00005", leg, 1500))["CODEREPONSE"] == "00009"

    async def test_card_complement_can_be_cancelled_the_same_day(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """The LIMOCB leg is cancelled before remittance and then reads "Annulé"."""
        _, card = await paid_legs(sandbox, split=1000)
        assert (await operate(sandbox, "00005", card, 500))["CODEREPONSE"] == "00000"
        assert (await operate(sandbox, "00017", card))["STATUS"] == "Annulé"

    async def test_remitted_complement_must_be_refunded_instead(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """The day after, the card complement is remitted: cancel is refused, refund works."""
        _, card = await paid_legs(sandbox, split=1000)
        await next_day(sandbox)
        assert (await operate(sandbox, "00005", card, 500))["CODEREPONSE"] == "00002"
        assert (await operate(sandbox, "00014", card, 500))["CODEREPONSE"] == "00000"


class TestRefund:
    async def test_refund_is_refused_the_day_of_the_payment(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """Refunds are possible from D+1 (manual §4.3.1); moving the clock enables them."""
        [leg] = await paid_legs(sandbox)
        same_day = await operate(sandbox, "00014", leg, 500)
        assert same_day["CODEREPONSE"] == "00002"
        assert "J+1" in same_day["COMMENTAIRE"]
        await next_day(sandbox)
        assert (await operate(sandbox, "00014", leg, 500))["CODEREPONSE"] == "00000"

    async def test_cv_connect_is_not_refundable(self, sandbox: httpx.AsyncClient) -> None:
        """CV-Connect legs are never refunded (manual §2.2.2.1, §4.3.1)."""
        [leg] = await paid_legs(sandbox, card="CVCONNECT")
        await next_day(sandbox)
        answer = await operate(sandbox, "00014", leg, 500)
        assert answer["CODEREPONSE"] == "00009"
        assert "remboursé" in answer["COMMENTAIRE"]

    async def test_several_partial_refunds_never_beyond_captured(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """Partial refunds add up to the captured amount and no further; each has its number."""
        [leg] = await paid_legs(sandbox, card="UPCHEQUDEJ")
        await next_day(sandbox)
        first = await operate(sandbox, "00014", leg, 600)
        second = await operate(sandbox, "00014", leg, 900)
        third = await operate(sandbox, "00014", leg, 1)
        assert [first["CODEREPONSE"], second["CODEREPONSE"], third["CODEREPONSE"]] == [
            "00000",
            "00000",
            "00011",
        ]
        assert first["NUMTRANS"] != second["NUMTRANS"]
        assert (await operate(sandbox, "00017", leg))["STATUS"] == "Remboursé"

    async def test_each_leg_of_a_split_is_refunded_on_its_own(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """Refunding the voucher leg leaves the complement's refundable amount untouched."""
        voucher, card = await paid_legs(sandbox, split=1000)
        await next_day(sandbox)
        assert (await operate(sandbox, "00014", voucher, 1000))["CODEREPONSE"] == "00000"
        assert (await operate(sandbox, "00014", card, 501))["CODEREPONSE"] == "00011"
        assert (await operate(sandbox, "00014", card, 500))["CODEREPONSE"] == "00000"

    async def test_acquirer_must_match_the_leg(self, sandbox: httpx.AsyncClient) -> None:
        """Refunding the LIMOCB transaction with ACQUEREUR=APETIZ is refused (manual §4.3.2)."""
        _, card = await paid_legs(sandbox, split=1000)
        await next_day(sandbox)
        answer = await operate(sandbox, "00014", card, 100, acquirer="APETIZ")
        assert answer["CODEREPONSE"] == "00002"

    async def test_refused_payment_cannot_be_refunded(self, sandbox: httpx.AsyncClient) -> None:
        """A refused attempt is known to GAE but holds no money."""
        response = await sandbox.post(
            "/sandbox/api/pay", json={"fields": payment_fields(), "outcome": "refused"}
        )
        [leg] = response.json()["transactions"]
        await next_day(sandbox)
        assert (await operate(sandbox, "00017", leg))["STATUS"] == "Refusé"
        assert (await operate(sandbox, "00014", leg, 100))["CODEREPONSE"] == "00002"


class TestInquiry:
    async def test_remittance_appears_the_next_day(self, sandbox: httpx.AsyncClient) -> None:
        """REMISE is empty until the end of the capture day, then set."""
        [leg] = await paid_legs(sandbox)
        today = await operate(sandbox, "00017", leg)
        assert (today["STATUS"], today["REMISE"], today["TYPECARTE"]) == ("Capturé", "", "APETIZ")
        await next_day(sandbox)
        assert (await operate(sandbox, "00017", leg))["REMISE"] != ""

    async def test_inquiry_without_call_number(self, sandbox: httpx.AsyncClient) -> None:
        """NUMAPPEL is optional for an inquiry (protocol §4.2)."""
        [leg] = await paid_legs(sandbox)
        fields = gae_fields(
            "00017", question=next(_questions), numtrans=leg["transaction_number"], numappel=None
        )
        assert (await gae(sandbox, fields))["CODEREPONSE"] == "00000"
