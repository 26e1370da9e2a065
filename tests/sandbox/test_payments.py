"""Outcomes on the sandbox page: legs, signed IPNs and signed browser returns (protocol §3)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from saleor_up2pay.sandbox import SandboxConfig, create_sandbox_app
from tests.sandbox.conftest import ShopReceiver
from tests.sandbox.helpers import RETOUR, params, payment_fields, signature_length, verify

IPN_PREFIX = "cfg=abc&"  # our own parameter in PBX_REPONDRE_A: kept first, never signed


async def pay(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("fields", payment_fields())
    response = await client.post("/sandbox/api/pay", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def public_key(client: httpx.AsyncClient, path: str = "/pubkey.pem") -> bytes:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    return response.content


def ipn_values(query: str) -> dict[str, str]:
    return dict(params(query))


class TestVoucherPaysAll:
    async def test_one_signed_ipn_with_the_retour_variables_in_order(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """One IPN, GET, our parameter first, PBX_RETOUR variables in order, K verifying."""
        result = await pay(sandbox, outcome="voucher")
        [ipn] = shop.ipns()
        assert ipn.method == "GET"
        assert ipn.query.startswith(IPN_PREFIX)
        names = [name for name, _ in params(ipn.query)]
        expected = [item.split(":")[0] for item in RETOUR.split(";")]
        assert names == ["cfg", *expected]
        assert verify(ipn.query, await public_key(sandbox), skip_prefix=IPN_PREFIX)
        values = ipn_values(ipn.query)
        assert values["M"] == "1500"
        assert values["E"] == "00000"
        assert values["C"] == "APETIZ"
        assert values["P"] == "LIMONETIK"
        assert values["A"] == "XXXXXX"
        assert values["R"] == "CMD-0001"
        assert values["T"] == str(result["call_number"])
        assert values["S"] == str(result["transactions"][0]["transaction_number"])
        assert values["Z"] == "1-1"

    async def test_ipn_signature_does_not_cover_our_own_parameters(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """Verifying with our leading parameter included fails: IPNs sign PBX_RETOUR only."""
        await pay(sandbox, outcome="voucher")
        [ipn] = shop.ipns()
        assert not verify(ipn.query, await public_key(sandbox))

    async def test_tampered_ipn_does_not_verify(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """Changing the amount of a received IPN breaks its signature."""
        await pay(sandbox, outcome="voucher")
        [ipn] = shop.ipns()
        tampered = ipn.query.replace("M=1500", "M=1600")
        assert not verify(tampered, await public_key(sandbox), skip_prefix=IPN_PREFIX)

    async def test_browser_goes_to_effectue_signed_over_the_whole_query(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """The return URL is PBX_EFFECTUE, its signature covers the merchant's own parameters."""
        result = await pay(sandbox, outcome="voucher")
        url = urlsplit(result["return_url"])
        assert (url.scheme, url.netloc, url.path) == ("http", "shop.test", "/return/ok")
        assert url.query.startswith("order=42&M=1500&")
        assert verify(url.query, await public_key(sandbox))

    async def test_cv_connect_leg_has_no_authorization_number(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """The CV-Connect IPN carries no A at all (manual §3.2.4)."""
        await pay(sandbox, fields=payment_fields(card="CVCONNECT"), outcome="voucher")
        [ipn] = shop.ipns()
        values = ipn_values(ipn.query)
        assert values["C"] == "CVCONNECT"
        assert "A" not in values
        assert verify(ipn.query, await public_key(sandbox), skip_prefix=IPN_PREFIX)

    async def test_ipn_by_post_when_asked(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """With PBX_RUF1=POST the variables come in the body, our parameters stay in the URL."""
        fields = payment_fields(extra=(("PBX_RUF1", "POST"),))
        await pay(sandbox, fields=fields, outcome="voucher")
        [ipn] = shop.ipns()
        assert ipn.method == "POST"
        assert ipn.query == "cfg=abc"
        assert ipn.body.startswith("M=1500&")
        assert verify(ipn.body, await public_key(sandbox))

    async def test_2048_bit_key_when_asked(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """PBX_SIGN_KEYSIZE=2048 gets a 256-byte signature from the 2048-bit key (§3.6)."""
        fields = payment_fields(extra=(("PBX_SIGN_KEYSIZE", "2048"),))
        await pay(sandbox, fields=fields, outcome="voucher")
        [ipn] = shop.ipns()
        raw = ipn.query[len(IPN_PREFIX) :]
        assert signature_length(raw) == 256
        assert verify(raw, await public_key(sandbox, "/pubkey_RSA_2048.pem"))
        assert not verify(raw, await public_key(sandbox))

    async def test_default_signature_is_1024_bits(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """Without PBX_SIGN_KEYSIZE the signature is 128 bytes, as Up2pay's usual key gives."""
        await pay(sandbox, outcome="voucher")
        assert signature_length(shop.ipns()[0].query) == 128

    async def test_values_are_encoded_as_up2pay_does(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """``:`` is left unencoded in the signed query (the time in Q), as Up2pay sends it."""
        await pay(sandbox, outcome="voucher")
        assert re.search(r"&Q=\d\d:\d\d:\d\d&", shop.ipns()[0].query)


class TestVoucherAndCardComplement:
    async def test_two_legs_two_ipns_summing_to_the_total(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """Voucher part + LIMOCB rest: distinct S, same T and R, amounts sum to PBX_TOTAL."""
        result = await pay(sandbox, outcome="split", voucher_amount=1000)
        voucher, card = (ipn_values(i.query) for i in shop.ipns())
        assert (voucher["C"], voucher["M"], voucher["Z"]) == ("APETIZ", "1000", "1-2")
        assert (card["C"], card["M"], card["Z"]) == ("LIMOCB", "500", "2-2")
        assert card["P"] == "LIMONETIK"
        assert voucher["S"] != card["S"]
        assert voucher["T"] == card["T"] == str(result["call_number"])
        assert voucher["R"] == card["R"]
        key = await public_key(sandbox)
        assert all(verify(i.query, key, skip_prefix=IPN_PREFIX) for i in shop.ipns())
        assert result["return_kind"] == "accepted"

    async def test_complement_first(self, sandbox: httpx.AsyncClient, shop: ShopReceiver) -> None:
        """The card complement's IPN can arrive before the voucher's (protocol §3.7)."""
        await pay(sandbox, outcome="split", voucher_amount=1000, ipn_order="complement_first")
        assert [ipn_values(i.query)["C"] for i in shop.ipns()] == ["LIMOCB", "APETIZ"]

    async def test_each_ipn_duplicated(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """``ipn_repeat`` sends each IPN several times, identical to the byte."""
        await pay(sandbox, outcome="split", voucher_amount=700, ipn_repeat=3)
        queries = [i.query for i in shop.ipns()]
        assert len(queries) == 6
        assert len(set(queries)) == 2
        assert queries[:3] == [queries[0]] * 3

    async def test_duplicates_sent_concurrently(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """Concurrent duplicates all reach the merchant."""
        result = await pay(sandbox, outcome="voucher", ipn_repeat=5, ipn_concurrent=True)
        assert len(shop.ipns()) == 5
        assert all(d["delivered"] for d in result["ipns"])

    @pytest.mark.parametrize("part", [0, 1500, 2000])
    async def test_voucher_part_must_leave_a_complement(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver, part: int
    ) -> None:
        """A split needs a voucher part strictly between 0 and the total."""
        response = await sandbox.post(
            "/sandbox/api/pay",
            json={"fields": payment_fields(), "outcome": "split", "voucher_amount": part},
        )
        assert response.status_code == 409
        assert shop.ipns() == []

    async def test_complement_refused(self, sandbox: httpx.AsyncClient, shop: ShopReceiver) -> None:
        """Voucher paid, card refused: two IPNs, the browser goes to PBX_REFUSE."""
        result = await pay(
            sandbox, outcome="complement_refused", voucher_amount=1000, refusal_code="00151"
        )
        voucher, card = (ipn_values(i.query) for i in shop.ipns())
        assert voucher["E"] == "00000"
        assert (card["E"], "A" in card) == ("00151", False)
        assert urlsplit(result["return_url"]).path == "/return/refused"


class TestRefusedAndCancelled:
    async def test_refused(self, sandbox: httpx.AsyncClient, shop: ShopReceiver) -> None:
        """A refusal: one IPN with the bank code and no A, browser to PBX_REFUSE, signed."""
        result = await pay(sandbox, outcome="refused", refusal_code="00159")
        [ipn] = shop.ipns()
        values = ipn_values(ipn.query)
        assert values["E"] == "00159"
        assert "A" not in values
        key = await public_key(sandbox)
        assert verify(ipn.query, key, skip_prefix=IPN_PREFIX)
        url = urlsplit(result["return_url"])
        assert url.path == "/return/refused"
        assert "E=00159" in url.query
        assert verify(url.query, key)

    async def test_cancelled(self, sandbox: httpx.AsyncClient, shop: ShopReceiver) -> None:
        """A cancel: no IPN, no transaction, browser to PBX_ANNULE with a signed 00001."""
        result = await pay(sandbox, outcome="cancelled")
        assert shop.ipns() == []
        assert result["transactions"] == []
        url = urlsplit(result["return_url"])
        assert url.path == "/return/cancelled"
        assert "E=00001" in url.query
        assert verify(url.query, await public_key(sandbox))

    async def test_refused_attempts_then_paid(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """Two refused attempts then a payment: three IPNs, same T, three different S."""
        result = await pay(sandbox, outcome="voucher", refused_attempts=2)
        values = [ipn_values(i.query) for i in shop.ipns()]
        assert [v["E"] for v in values] == ["00105", "00105", "00000"]
        assert len({v["T"] for v in values}) == 1
        assert len({v["S"] for v in values}) == 3
        assert result["return_kind"] == "accepted"

    async def test_third_refused_attempt_ends_the_session(self, sandbox: httpx.AsyncClient) -> None:
        """After three refused attempts the browser goes back to PBX_REFUSE."""
        result = await pay(sandbox, outcome="retry", refused_attempts=2)
        assert result["finished"] is True
        assert urlsplit(result["return_url"]).path == "/return/refused"

    async def test_platform_error(self, sandbox: httpx.AsyncClient, shop: ShopReceiver) -> None:
        """A platform error is notified with 00003 (retry on the backup host)."""
        await pay(sandbox, outcome="platform_error")
        assert ipn_values(shop.ipns()[0].query)["E"] == "00003"

    async def test_without_ipn_url_nothing_is_sent(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """No PBX_REPONDRE_A, no IPN (the back-office default is not emulated)."""
        await pay(sandbox, fields=payment_fields(drop=("PBX_REPONDRE_A",)), outcome="voucher")
        assert shop.ipns() == []

    async def test_ipn_skipped_on_request(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """``send_ipn: false`` simulates a lost notification."""
        result = await pay(sandbox, outcome="voucher", send_ipn=False)
        assert shop.ipns() == []
        assert result["transactions"][0]["status"] == "Capturé"


class TestNumbersAndDelivery:
    async def test_numbers_are_unique_across_payments(self, sandbox: httpx.AsyncClient) -> None:
        """Every payment gets its own call number, every leg its own transaction number."""
        calls: set[int] = set()
        transactions: set[int] = set()
        for index in range(5):
            result = await pay(
                sandbox, fields=payment_fields(cmd=f"U{index}"), outcome="split", voucher_amount=5
            )
            calls.add(result["call_number"])
            transactions.update(t["transaction_number"] for t in result["transactions"])
        assert len(calls) == 5
        assert len(transactions) == 10

    async def test_failed_delivery_is_reported(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """A non-2xx answer to an IPN is recorded as not delivered (Up2pay would warn by mail)."""
        shop.status = 500
        result = await pay(sandbox, outcome="voucher")
        assert result["ipns"][0]["status_code"] == 500
        assert result["ipns"][0]["delivered"] is False
        log = (await sandbox.get("/sandbox/api/ipn-log")).json()["ipns"]
        assert log[-1]["delivered"] is False

    async def test_key_is_kept_across_restarts(self, sandbox_config: SandboxConfig) -> None:
        """The signing key is generated once under DATA_DIR and reused by the next run."""
        pems = []
        for _ in range(2):
            app = create_sandbox_app(sandbox_config)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                    pems.append(await public_key(client))
        assert pems[0] == pems[1]
        key_file = Path(sandbox_config.data_dir) / "sandbox" / "sandbox_key.pem"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert (Path(sandbox_config.data_dir) / "sandbox" / "pubkey.pem").read_bytes() == pems[0]


class TestOutcomePage:
    async def test_html_flow_redirects_to_the_signed_return(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """Form to /php/, pick "split" on the page, get a 303 to the signed PBX_EFFECTUE."""
        page = await sandbox.post(
            "/php/",
            content=urlencode(payment_fields()),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        action = re.search(r'action="([^"]+)"', page.text)
        assert action is not None
        choice = {
            "outcome": "split",
            "voucher_amount": "12,50",
            "refusal_code": "00105",
            "send_ipn": "1",
            "ipn_order": "complement_first",
            "ipn_repeat": "2",
        }
        response = await sandbox.post(action.group(1), data=choice)
        assert response.status_code == 303
        location = urlsplit(response.headers["location"])
        assert location.path == "/return/ok"
        assert verify(location.query, await public_key(sandbox))
        amounts = [ipn_values(i.query)["M"] for i in shop.ipns()]
        assert amounts == ["250", "250", "1250", "1250"]

    async def test_retry_stays_on_the_page(
        self, sandbox: httpx.AsyncClient, shop: ShopReceiver
    ) -> None:
        """Refusing one attempt shows the page again with the next attempt number."""
        page = await sandbox.get("/php/", params=tuple(payment_fields()))
        action = re.search(r'action="([^"]+)"', page.text)
        assert action is not None
        response = await sandbox.post(
            action.group(1), data={"outcome": "retry", "send_ipn": "1", "refusal_code": "00151"}
        )
        assert response.status_code == 200
        assert "tentative 2/3" in response.text
        assert ipn_values(shop.ipns()[0].query)["E"] == "00151"

    async def test_finished_session_cannot_be_replayed(self, sandbox: httpx.AsyncClient) -> None:
        """Posting the page again after the payment is over changes nothing."""
        page = await sandbox.get("/php/", params=tuple(payment_fields()))
        action = re.search(r'action="([^"]+)"', page.text)
        assert action is not None
        first = await sandbox.post(action.group(1), data={"outcome": "voucher"})
        assert first.status_code == 303
        again = await sandbox.post(action.group(1), data={"outcome": "voucher"})
        assert again.status_code == 409

    async def test_bad_voucher_part_is_explained_on_the_page(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """A voucher part that is not an amount shows the page again with the reason."""
        page = await sandbox.get("/php/", params=tuple(payment_fields()))
        action = re.search(r'action="([^"]+)"', page.text)
        assert action is not None
        response = await sandbox.post(
            action.group(1), data={"outcome": "split", "voucher_amount": "lots"}
        )
        assert response.status_code == 422
        assert "amount in euros" in response.text

    async def test_unreadable_choice_form_is_a_clear_error(
        self, sandbox: httpx.AsyncClient
    ) -> None:
        """A choice form that is not UTF-8 form data gets a 400 error page, not a server error."""
        page = await sandbox.get("/php/", params=tuple(payment_fields()))
        action = re.search(r'action="([^"]+)"', page.text)
        assert action is not None
        response = await sandbox.post(
            action.group(1),
            content=b"outcome=%FF",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 400
        assert "UTF-8" in response.text
