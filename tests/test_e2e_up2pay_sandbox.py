"""The issue's "Done when": the app's Up2pay client against the sandbox, over real HTTP on loopback.

A form from the app's builder is posted to the sandbox's hosted page, the outcome is picked on the
sandbox's page, the IPNs reach a small shop server that verifies them with the APP's verifier
(given the sandbox's public key), and the app's GAE client captures, cancels and refunds on the
sandbox, which refuses what the rules refuse. The sandbox never imports the app's client, so each
side checks the other's reading of the protocol notes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response

from saleor_up2pay.sandbox import SandboxConfig, create_sandbox_app
from saleor_up2pay.up2pay import (
    Credentials,
    Endpoints,
    EnvironmentName,
    GaeClient,
    HostedPageLocator,
    InvalidPaymentRequest,
    Leg,
    Method,
    Notification,
    Operation,
    Outcome,
    PublicKeys,
    RedirectForm,
    RedisNumQuestions,
    ReturnUrls,
    SignatureInvalid,
    build_gae_request,
    build_payment_form,
    endpoints_for,
    parse_gae_response,
    verify_ipn,
    verify_return,
)
from saleor_up2pay.up2pay.models import Numappel, Numtrans
from tests.support.servers import serve

TEST_CREDENTIALS = Credentials(
    site="1999888", rang="32", identifiant="107904482", hmac_key="0123456789ABCDEF" * 8
)
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


class LegNumbers(TypedDict):
    """The numbers GAE needs to find a leg."""

    numappel: Numappel
    numtrans: Numtrans


@dataclass
class Shop:
    """The merchant side: verifies every IPN and browser return with the app's verifier."""

    keys: PublicKeys
    ipns: list[Notification] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/ipn", methods=["GET", "POST"])
        async def ipn(request: Request) -> Response:
            # POST (PBX_RUF1=POST): the variables are the body; GET: the query string, our own
            # parameter first (verify_ipn drops it). Raw bytes, never re-encoded.
            raw = await request.body() if request.method == "POST" else request.url.query
            try:
                notification = verify_ipn(raw, self.keys)
            except SignatureInvalid:
                with self.lock:
                    self.rejected.append(str(raw))
                return Response(status_code=403)
            with self.lock:
                self.ipns.append(notification)
            return Response(status_code=200)

        return app

    def received(self) -> list[Notification]:
        with self.lock:
            return list(self.ipns)


@dataclass
class Loopback:
    sandbox: str
    shop_url: str
    shop: Shop
    http: httpx.AsyncClient
    gae: GaeClient

    def urls(self, *, ipn_query: str = "") -> ReturnUrls:
        return ReturnUrls(
            accepted=f"{self.shop_url}/return/ok?order=7",
            refused=f"{self.shop_url}/return/refused?order=7",
            cancelled=f"{self.shop_url}/return/cancelled?order=7",
            pending=f"{self.shop_url}/return/pending?order=7",
            ipn=f"{self.shop_url}/ipn{ipn_query}",
        )

    def form(
        self,
        reference: str,
        *,
        method: Method = Method.APETIZ,
        amount: str = "25.00",
        action_url: str | None = None,
        credentials: Credentials = TEST_CREDENTIALS,
        ipn_method: Any = "POST",
        ipn_query: str = "",
        authorize_only: bool = False,
        sign_keysize: Any = None,
    ) -> RedirectForm:
        return build_payment_form(
            credentials=credentials,
            action_url=action_url or f"{self.sandbox}/php/",
            method=method,
            amount=Decimal(amount),
            currency="EUR",
            order_reference=reference,
            customer_email="shopper@example.com",
            urls=self.urls(ipn_query=ipn_query),
            now=datetime.now(UTC),
            ipn_method=ipn_method,
            authorize_only=authorize_only,
            sign_keysize=sign_keysize,
        )

    async def open_page(self, form: RedirectForm) -> str:
        """Post the form as a browser would (hidden inputs in order); the page's form action."""
        response = await self.http.post(
            form.action_url, content=urlencode(form.fields), headers=FORM_TYPE
        )
        assert response.status_code == 200, response.text
        action = re.search(r'action="([^"]+)"', response.text)
        assert action is not None
        return urlsplit(form.action_url)._replace(path=action.group(1)).geturl()

    async def choose(self, page: str, **choice: str) -> httpx.Response:
        choice.setdefault("send_ipn", "1")
        return await self.http.post(page, data=choice)

    async def admin(self, path: str, **body: Any) -> Any:
        response = await self.http.post(f"{self.sandbox}/sandbox/api/{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def loopback(tmp_path: Path, redis: aioredis.Redis) -> AsyncIterator[Loopback]:
    config = SandboxConfig(data_dir=tmp_path / "var")
    with serve(create_sandbox_app(config)) as sandbox_url:
        # The sandbox wrote its public key under DATA_DIR at start: the app is given that file,
        # as a merchant sets UP2PAY_PUBLIC_KEYS=var/sandbox/pubkey.pem.
        keys = PublicKeys.shipped(extra_pem_paths=[config.key_dir / "pubkey.pem"])
        shop = Shop(keys)
        with serve(shop.app()) as shop_url:
            async with httpx.AsyncClient(timeout=10) as http:
                endpoints = endpoints_for(EnvironmentName.SANDBOX, sandbox_url=sandbox_url)
                gae = GaeClient(
                    http,
                    TEST_CREDENTIALS,
                    [*endpoints.gae_urls, f"{sandbox_url}/backup/PPPS.php"],
                    RedisNumQuestions(redis),
                    time_budget=8.0,
                )
                yield Loopback(sandbox_url, shop_url, shop, http, gae)


def legs_by_type(notifications: list[Notification]) -> dict[Leg, Notification]:
    return {n.leg: n for n in notifications}


async def pay_split(loop: Loopback, reference: str, **choice: str) -> dict[Leg, Notification]:
    """A 25 € Apetiz payment: 15 € voucher + 10 € card complement, IPNs verified by the app."""
    page = await loop.open_page(loop.form(reference))
    response = await loop.choose(page, outcome="split", voucher_amount="15.00", **choice)
    assert response.status_code == 303
    legs = legs_by_type(loop.shop.received())
    assert set(legs) == {Leg.APETIZ, Leg.LIMOCB}
    return legs


class TestPaymentOverLoopback:
    async def test_split_payment_ipns_and_return_verify_with_the_app(
        self, loopback: Loopback
    ) -> None:
        """Builder form -> sandbox page -> 4 IPNs (complement first, twice) the app accepts."""
        page = await loopback.open_page(loopback.form("E2E-SPLIT-1"))
        response = await loopback.choose(
            page,
            outcome="split",
            voucher_amount="15.00",
            ipn_order="complement_first",
            ipn_repeat="2",
        )
        assert response.status_code == 303
        location = urlsplit(response.headers["location"])
        assert location.path == "/return/ok"
        back = verify_return(location.query, loopback.shop.keys)
        assert back.outcome is Outcome.PAID

        received = loopback.shop.received()
        assert loopback.shop.rejected == []
        assert [n.leg for n in received] == [Leg.LIMOCB, Leg.LIMOCB, Leg.APETIZ, Leg.APETIZ]
        assert all(n.is_paid and n.reference == "E2E-SPLIT-1" for n in received)
        legs = legs_by_type(received)
        assert legs[Leg.APETIZ].amount + legs[Leg.LIMOCB].amount == 2500
        assert legs[Leg.APETIZ].amount_decimal == Decimal("15.00")
        assert legs[Leg.APETIZ].numtrans != legs[Leg.LIMOCB].numtrans
        assert legs[Leg.APETIZ].numappel == legs[Leg.LIMOCB].numappel
        assert legs[Leg.LIMOCB].mixed_index == (2, 2)

    async def test_cv_connect_by_get_with_our_own_parameter(self, loopback: Loopback) -> None:
        """GET IPN with our parameter before the signed part; the CV-Connect leg has no A."""
        form = loopback.form(
            "E2E-CV-1", method=Method.CVCONNECT, ipn_method=None, ipn_query="?cfg=main"
        )
        response = await loopback.choose(await loopback.open_page(form), outcome="voucher")
        assert response.status_code == 303
        [ipn] = loopback.shop.received()
        assert (ipn.leg, ipn.amount, ipn.authorization) == (Leg.CVCONNECT, 2500, None)
        assert ipn.is_paid

    async def test_refused_attempt_then_paid(self, loopback: Loopback) -> None:
        """A refused attempt is notified with its bank code, then the retry is paid."""
        page = await loopback.open_page(loopback.form("E2E-RETRY-1", method=Method.SODEXO))
        retry = await loopback.choose(page, outcome="retry", refusal_code="00151")
        assert retry.status_code == 200
        paid = await loopback.choose(page, outcome="voucher")
        assert paid.status_code == 303
        refused, accepted = loopback.shop.received()
        assert (refused.outcome, refused.bank_code, refused.authorization) == (
            Outcome.REFUSED,
            "51",
            None,
        )
        assert accepted.is_paid
        assert refused.numappel == accepted.numappel
        assert refused.numtrans != accepted.numtrans

    async def test_cancel_returns_a_signed_cancel(self, loopback: Loopback) -> None:
        """Cancelling on the page sends no IPN and a browser return the app can verify."""
        page = await loopback.open_page(loopback.form("E2E-CANCEL-1"))
        response = await loopback.choose(page, outcome="cancelled")
        location = urlsplit(response.headers["location"])
        assert location.path == "/return/cancelled"
        assert verify_return(location.query, loopback.shop.keys).error_code == "00001"
        assert loopback.shop.received() == []

    async def test_2048_bit_signature_when_asked(self, loopback: Loopback, tmp_path: Path) -> None:
        """``sign_keysize=2048``: IPNs signed with the sandbox's 2048-bit key, which the app
        verifies once given ``pubkey_RSA_2048.pem`` (and not with the 1024-bit one alone)."""
        form = loopback.form("E2E-2048-1", sign_keysize=2048, ipn_method=None)
        page = await loopback.open_page(form)
        response = await loopback.choose(page, outcome="voucher")
        assert response.status_code == 303
        query = urlsplit(response.headers["location"]).query
        with pytest.raises(SignatureInvalid):
            verify_return(query, loopback.shop.keys)
        pem = (await loopback.http.get(f"{loopback.sandbox}/pubkey_RSA_2048.pem")).content
        keys_2048 = PublicKeys.shipped(extra_pem_paths=[_write(tmp_path / "k2048.pem", pem)])
        assert verify_return(query, keys_2048).is_paid

    async def test_form_signed_with_another_key_is_refused(self, loopback: Loopback) -> None:
        """The sandbox refuses a builder form whose HMAC key is not the account's (00006)."""
        other = Credentials(site="1999888", rang="32", identifiant="107904482", hmac_key="AB" * 64)
        form = loopback.form("E2E-BADKEY-1", credentials=other)
        response = await loopback.http.post(
            form.action_url, content=urlencode(form.fields), headers=FORM_TYPE
        )
        assert response.status_code == 400
        assert "Accès refusé" in response.text

    async def test_locator_sends_the_shopper_to_the_backup_host(self, loopback: Loopback) -> None:
        """With the main host's services down, load.html sends the form to the backup host."""
        await loopback.admin("availability", host="main", status="degraded")
        live_like = Endpoints(
            name=EnvironmentName.LIVE,
            hosted_page_urls=(f"{loopback.sandbox}/php/", f"{loopback.sandbox}/backup/php/"),
            gae_urls=(f"{loopback.sandbox}/PPPS.php",),
            check_availability=True,
        )
        action = await HostedPageLocator(loopback.http).action_url(live_like)
        assert action == f"{loopback.sandbox}/backup/php/"
        page = await loopback.open_page(loopback.form("E2E-BACKUP-1", action_url=action))
        assert (await loopback.choose(page, outcome="voucher")).status_code == 303
        assert loopback.shop.received()[0].is_paid


class TestGaeOverLoopback:
    async def test_cancel_complement_and_refund_voucher_next_day(self, loopback: Loopback) -> None:
        """Cancel the card leg today; refund the voucher leg only from the next day, within limits."""
        legs = await pay_split(loopback, "E2E-GAE-1")
        voucher, card = legs[Leg.APETIZ], legs[Leg.LIMOCB]

        def numbers(n: Notification) -> LegNumbers:
            assert n.numappel is not None
            assert n.numtrans is not None
            return {"numappel": n.numappel, "numtrans": n.numtrans}

        cancel = await loopback.gae.cancel(
            leg=Leg.LIMOCB, amount=card.amount, reference="E2E-GAE-1", **numbers(card)
        )
        assert cancel.ok, cancel.message
        status = await loopback.gae.inquire(leg=Leg.LIMOCB, **numbers(card))
        assert status.status == "Annulé"

        same_day = await loopback.gae.refund(
            leg=Leg.APETIZ, amount=500, reference="E2E-GAE-1", **numbers(voucher)
        )
        assert not same_day.ok
        assert same_day.code == "00002"

        await loopback.admin("clock", days=1)
        refund = await loopback.gae.refund(
            leg=Leg.APETIZ, amount=500, reference="E2E-GAE-1", first_refund=True, **numbers(voucher)
        )
        assert refund.ok, refund.message
        too_much = await loopback.gae.refund(
            leg=Leg.APETIZ, amount=1001, reference="E2E-GAE-1", **numbers(voucher)
        )
        assert (too_much.ok, too_much.code) == (False, "00011")
        assert (await loopback.gae.inquire(leg=Leg.APETIZ, **numbers(voucher))).status == (
            "Remboursé"
        )

    async def test_partial_capture_of_an_authorization_voids_the_rest(
        self, loopback: Loopback
    ) -> None:
        """Authorization only, then a partial capture: the rest can never be refunded."""
        form = loopback.form("E2E-AUTH-1", method=Method.UPCHEQUDEJ, authorize_only=True)
        await loopback.choose(await loopback.open_page(form), outcome="voucher")
        [leg] = loopback.shop.received()
        assert leg.numappel is not None
        assert leg.numtrans is not None
        numbers: LegNumbers = {"numappel": leg.numappel, "numtrans": leg.numtrans}
        before = await loopback.gae.inquire(leg=Leg.UPCHEQUDEJ, **numbers)
        assert before.status == "Autorisé"
        too_much = await loopback.gae.capture(
            leg=Leg.UPCHEQUDEJ, amount=2501, reference="E2E-AUTH-1", **numbers
        )
        assert (too_much.ok, too_much.code) == (False, "00011")
        capture = await loopback.gae.capture(
            leg=Leg.UPCHEQUDEJ, amount=2000, reference="E2E-AUTH-1", **numbers
        )
        assert capture.ok, capture.message
        await loopback.admin("clock", days=1)
        beyond = await loopback.gae.refund(
            leg=Leg.UPCHEQUDEJ, amount=2001, reference="E2E-AUTH-1", **numbers
        )
        assert (beyond.ok, beyond.code) == (False, "00011")
        refund = await loopback.gae.refund(
            leg=Leg.UPCHEQUDEJ, amount=2000, reference="E2E-AUTH-1", **numbers
        )
        assert refund.ok, refund.message

    async def test_capture_of_an_immediate_debit_is_refused(self, loopback: Loopback) -> None:
        """The builder's forms debit at once, so a later capture is refused by the platform."""
        legs = await pay_split(loopback, "E2E-GAE-2")
        voucher = legs[Leg.APETIZ]
        assert voucher.numappel is not None
        assert voucher.numtrans is not None
        capture = await loopback.gae.capture(
            leg=Leg.APETIZ,
            amount=voucher.amount,
            reference="E2E-GAE-2",
            numappel=voucher.numappel,
            numtrans=voucher.numtrans,
        )
        assert (capture.ok, capture.code) == (False, "00002")

    async def test_rules_the_client_enforces_are_also_enforced_by_the_sandbox(
        self, loopback: Loopback
    ) -> None:
        """CV-Connect refunds and Conecs cancels: refused by the client and, if sent, by GAE."""
        page = await loopback.open_page(loopback.form("E2E-GAE-3", method=Method.CVCONNECT))
        await loopback.choose(page, outcome="voucher")
        [cv] = loopback.shop.received()
        assert cv.numappel is not None
        assert cv.numtrans is not None
        with pytest.raises(InvalidPaymentRequest):
            await loopback.gae.refund(
                leg=Leg.CVCONNECT,
                amount=100,
                reference="E2E-GAE-3",
                numappel=cv.numappel,
                numtrans=cv.numtrans,
            )
        await loopback.admin("clock", days=1)
        for operation in (Operation.REFUND, Operation.CANCEL):
            fields = build_gae_request(
                credentials=TEST_CREDENTIALS,
                operation=operation,
                question_number=1_999_000_000 + int(operation.value),
                now=datetime.now(UTC),
                leg=Leg.CVCONNECT,
                numappel=cv.numappel,
                numtrans=cv.numtrans,
                amount=100,
                reference="E2E-GAE-3",
            )
            response = await loopback.http.post(
                f"{loopback.sandbox}/PPPS.php", content=urlencode(fields), headers=FORM_TYPE
            )
            answer = dict(parse_gae_response(response.content))
            assert answer["CODEREPONSE"] == "00009", operation

    async def test_credentials_check(self, loopback: Loopback, redis: aioredis.Redis) -> None:
        """The app's credentials check is accepted with the test key and refused with another."""
        assert (await loopback.gae.check_credentials()).ok
        wrong = Credentials(site="1999888", rang="32", identifiant="107904482", hmac_key="CD" * 64)
        client = GaeClient(
            loopback.http, wrong, [f"{loopback.sandbox}/PPPS.php"], RedisNumQuestions(redis)
        )
        check = await client.check_credentials()
        assert (check.ok, check.code) == (False, "00006")

    async def test_lost_answer_is_not_executed_twice(self, loopback: Loopback) -> None:
        """Main host executes the refund but answers 00001: the client confirms on the backup."""
        legs = await pay_split(loopback, "E2E-FAIL-1")
        voucher = legs[Leg.APETIZ]
        assert voucher.numappel is not None
        assert voucher.numtrans is not None
        await loopback.admin("clock", days=1)
        await loopback.admin("gae-faults", host="main", code="00001", count=1, executed=True)
        refund = await loopback.gae.refund(
            leg=Leg.APETIZ,
            amount=700,
            reference="E2E-FAIL-1",
            numappel=voucher.numappel,
            numtrans=voucher.numtrans,
            first_refund=True,
        )
        assert refund.ok, refund.message
        assert refund.failed_over
        listed = await loopback.http.get(
            f"{loopback.sandbox}/sandbox/api/transactions", params={"reference": "E2E-FAIL-1"}
        )
        [apetiz] = [t for t in listed.json()["transactions"] if t["card_type"] == "APETIZ"]
        assert apetiz["refunded_amount"] == 700

    async def test_main_host_down_fails_over(self, loopback: Loopback) -> None:
        """With the main GAE host down (HTTP 503), the refund runs once on the backup host."""
        legs = await pay_split(loopback, "E2E-FAIL-2")
        card = legs[Leg.LIMOCB]
        assert card.numappel is not None
        assert card.numtrans is not None
        await loopback.admin("clock", days=1)
        await loopback.admin("availability", host="main", status="down")
        refund = await loopback.gae.refund(
            leg=Leg.LIMOCB,
            amount=card.amount,
            reference="E2E-FAIL-2",
            numappel=card.numappel,
            numtrans=card.numtrans,
        )
        assert (refund.ok, refund.failed_over) == (True, True)
        assert refund.host == f"{loopback.sandbox}/backup/PPPS.php"


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path
