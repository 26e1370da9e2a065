"""The fake Saleor's transaction keeping answers the recorded Saleor 3.23 calls the same way.

The recorded documents (``saleor/recorded/graphql``) are sent as they were, over HTTP, to the fake
(which validates them against the schema); the answers and the statuses that follow are compared
with what the real core answered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RECORDED, SCHEMA_PATH, require_shared
from tests.fakes.fake_saleor_transactions import SaleorTransactions
from tests.transactions.ipn_support import SaleorWorld, saleor_world


def recorded(number: int) -> dict[str, Any]:
    folder = require_shared(RECORDED / "graphql")
    (path,) = Path(folder).glob(f"{number:02d}-*.json")
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


@pytest.fixture
def world() -> Iterator[SaleorWorld]:
    require_shared(SCHEMA_PATH)
    with saleor_world() as world:
        yield world


async def replay(world: SaleorWorld, number: int, token: str, **variables: Any) -> dict[str, Any]:
    """Send recorded call ``number`` with some variables replaced; returns the answer's data."""
    request = recorded(number)["request"]["body"]
    body = {"query": request["query"], "variables": {**request["variables"], **variables}}
    async with httpx.AsyncClient() as http:
        response = await http.post(
            world.api_url, json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    assert "errors" not in answer, answer
    data: dict[str, Any] = answer["data"]
    return data


def voucher_paid_by_process(saleor: SaleorTransactions, checkout_id: str) -> str:
    """Flow A up to step 3: the voucher item charged 20.00 by the process-session answer."""
    item = saleor.seed_initialized_item(checkout_id, "20.00")
    request = next(e for e in item.events if e.type == "CHARGE_REQUEST")
    answer = {
        "result": "CHARGE_SUCCESS",
        "pspReference": "722487980",
        "amount": "20.00",
        "actions": ["REFUND"],
    }
    saleor._apply_session_answer(item, request, "CHARGE", 200, answer)
    return item.id


class TestRecordedFlowA:
    async def test_flow_a_answers_and_statuses(self, world: SaleorWorld) -> None:
        """IPN duplicate, conflict, metadata, complement and completion behave as recorded."""
        saleor = world.saleor
        token, _ = world.fake.issue_token()
        checkout = saleor.create_checkout("44.80")
        voucher = voucher_paid_by_process(saleor, checkout.id)
        assert saleor.checkout_status(checkout.id) == recorded_status(15)

        # 16 and 18: already processed; the metadata shows in the answer but is not kept.
        for number in (16, 18):
            data = await replay(world, number, token, id=voucher)
            report = data["transactionEventReport"]
            expected = recorded(number)["response"]["json"]["data"]["transactionEventReport"]
            assert report["alreadyProcessed"] is expected["alreadyProcessed"] is True
            assert {m["key"] for m in report["transaction"]["privateMetadata"]} == {
                m["key"] for m in expected["transaction"]["privateMetadata"]
            }
            assert report["transactionEvent"]["type"] == "CHARGE_SUCCESS"
        assert saleor.item(voucher).private_metadata == {}

        # 19: same psp and type, other amount: INCORRECT_DETAILS plus a failure event, no change.
        data = await replay(world, 19, token, id=voucher)
        assert (
            data["transactionEventReport"]["errors"]
            == recorded(19)["response"]["json"]["data"]["transactionEventReport"]["errors"]
        )
        item = saleor.item(voucher)
        assert [(e.type, e.amount) for e in item.events if e.type == "CHARGE_FAILURE"] == [
            ("CHARGE_FAILURE", Decimal("19.00"))
        ]
        assert item.amounts["charged"] == Decimal("20.00")
        assert saleor.checkout_status(checkout.id) == recorded_status(20)

        # 21: updatePrivateMetadata persists.
        await replay(world, 21, token, id=voucher)
        assert set(saleor.item(voucher).private_metadata) == {
            "up2pay.numtrans",
            "up2pay.numappel",
            "up2pay.ipn",
        }

        # 23 and 25: the complement item, created empty, then charged 24.80 → FULL/FULL.
        data = await replay(world, 23, token, id=checkout.id)
        created = data["transactionCreate"]["transaction"]
        assert created["name"] == "Up2pay · card complement"
        assert created["events"] == []
        assert created["chargedAmount"]["amount"] == 0
        data = await replay(world, 25, token, id=created["id"])
        assert data["transactionEventReport"]["alreadyProcessed"] is False
        assert saleor.checkout_status(checkout.id) == recorded_status(26)

        # 27: checkoutComplete moves both items to a FULL, paid order.
        data = await replay(world, 27, token, id=checkout.id)
        order = data["checkoutComplete"]["order"]
        expected_order = recorded(27)["response"]["json"]["data"]["checkoutComplete"]["order"]
        assert (order["authorizeStatus"], order["chargeStatus"], order["isPaid"]) == (
            expected_order["authorizeStatus"],
            expected_order["chargeStatus"],
            expected_order["isPaid"],
        )
        assert len(saleor.items_of(order["id"])) == 2

    async def test_anonymous_caller_cannot_report(self, world: SaleorWorld) -> None:
        """Without an app token the mutation is refused with PermissionDenied."""
        checkout = world.saleor.create_checkout("20.00")
        item = world.saleor.seed_initialized_item(checkout.id, "20.00")
        request = recorded(16)["request"]["body"]
        async with httpx.AsyncClient() as http:
            response = await http.post(
                world.api_url,
                json={
                    "query": request["query"],
                    "variables": {**request["variables"], "id": item.id},
                },
            )
        assert response.json()["errors"][0]["extensions"]["exception"]["code"] == "PermissionDenied"
        assert world.saleor.item(item.id).amounts["charged"] == 0


def recorded_status(number: int) -> dict[str, str]:
    checkout = recorded(number)["response"]["json"]["data"]["checkout"]
    return {
        "authorizeStatus": checkout["authorizeStatus"],
        "chargeStatus": checkout["chargeStatus"],
    }


class TestAmounts:
    def test_authorization_charges_cancel_and_refund_as_in_flow_b(self, world: SaleorWorld) -> None:
        """Authorize 64.15, charge 10 + 5, cancel 49.15, refund 4: the recorded amounts."""
        saleor = world.saleor
        order = saleor.create_order("64.15", channel="default-channel")
        item = saleor.seed_initialized_item(order.id, "64.15", flow="AUTHORIZATION")
        for type_, psp, amount in [
            ("AUTHORIZATION_SUCCESS", "722487990", "64.15"),
            ("CHARGE_SUCCESS", "722488003", "10.00"),
            ("CHARGE_SUCCESS", "722488004", "5.00"),
        ]:
            saleor._new_event(item, type_, psp, Decimal(amount))
        from tests.fakes.fake_saleor_transactions import recalculate

        recalculate(item)
        assert (item.amounts["authorized"], item.amounts["charged"]) == (
            Decimal("49.15"),
            Decimal("15.00"),
        )
        assert saleor.order_status(order.id) == {
            "authorizeStatus": "FULL",
            "chargeStatus": "PARTIAL",
        }
        saleor._new_event(item, "CANCEL_SUCCESS", "722488005", Decimal("49.15"))
        saleor._new_event(item, "REFUND_SUCCESS", "722488006", Decimal("4.00"))
        recalculate(item)
        assert item.amounts["authorized"] == 0
        assert item.amounts["canceled"] == Decimal("49.15")
        assert (item.amounts["charged"], item.amounts["refunded"]) == (
            Decimal("11.00"),
            Decimal("4.00"),
        )
        assert saleor.order_status(order.id) == {
            "authorizeStatus": "PARTIAL",
            "chargeStatus": "PARTIAL",
        }

    def test_pending_request_counts_for_a_checkout_until_its_result(
        self, world: SaleorWorld
    ) -> None:
        """A CHARGE_REQUEST counts as pending (checkout FULL) until a result with its psp."""
        saleor = world.saleor
        checkout = saleor.create_checkout("10.00")
        item = saleor.seed_initialized_item(checkout.id, "10.00")
        from tests.fakes.fake_saleor_transactions import recalculate

        saleor._new_event(item, "CHARGE_REQUEST", "P1", Decimal("10.00"))
        recalculate(item)
        assert item.amounts["chargePending"] == Decimal("10.00")
        assert saleor.checkout_status(checkout.id)["authorizeStatus"] == "FULL"
        saleor._new_event(item, "CHARGE_FAILURE", "P1", Decimal("10.00"))
        recalculate(item)
        assert item.amounts["chargePending"] == 0
        assert saleor.checkout_status(checkout.id)["authorizeStatus"] == "NONE"


class TestProcessAfterAFinalEvent:
    async def test_first_final_event_is_returned_without_asking_the_app(
        self, world: SaleorWorld
    ) -> None:
        """Like Saleor (events in primary-key order), transactionProcess returns the *first*
        included final event, with ``data: null`` — a refusal reported before a success wins."""
        saleor = world.saleor
        checkout = saleor.create_checkout("15.00")
        item = saleor.seed_initialized_item(checkout.id, "15.00")
        from tests.fakes.fake_saleor_transactions import recalculate

        saleor._new_event(item, "CHARGE_FAILURE", "1", Decimal("15.00"))
        saleor._new_event(item, "CHARGE_SUCCESS", "2", Decimal("15.00"))
        recalculate(item)
        # No app is listening at this URL: an answer proves the app was not asked.
        answer = await saleor.transaction_process("http://127.0.0.1:9/unused", item.id, {})
        assert answer["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert answer["transactionEvent"]["pspReference"] == "1"
        assert answer["data"] is None
        assert answer["transaction"]["chargedAmount"]["amount"] == Decimal("15.00")


class TestAsynchronousAnswerWithActions:
    """Recorded fact 25: Saleor 3.23.28 stores an asynchronous answer's ``actions`` as sent."""

    async def test_async_answer_with_actions_breaks_every_read_of_the_item(
        self, world: SaleorWorld
    ) -> None:
        """The fake reproduces the bug, so a test catches an app that sends such an answer."""
        saleor = world.saleor
        token, _ = world.fake.issue_token()
        checkout = saleor.create_checkout("20.00")
        voucher = voucher_paid_by_process(saleor, checkout.id)
        item = saleor.item(voucher)
        request = saleor._new_event(item, "REFUND_REQUEST", "", Decimal("4.00"))
        saleor._apply_action_answer(
            item,
            request,
            "REFUND",
            200,
            {"pspReference": "722487980:refund:1", "actions": ["REFUND"]},
        )

        body = {"query": recorded(36)["request"]["body"]["query"], "variables": {"id": voucher}}
        async with httpx.AsyncClient() as http:
            response = await http.post(
                world.api_url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        errors = response.json()["errors"]
        assert errors[0]["message"] == (
            'Expected a value of type "TransactionActionEnum" but received: REFUND'
        )

    async def test_sync_answer_actions_stay_readable(self, world: SaleorWorld) -> None:
        """The synchronous form normalises ``actions``: the item stays readable."""
        saleor = world.saleor
        token, _ = world.fake.issue_token()
        checkout = saleor.create_checkout("20.00")
        voucher = voucher_paid_by_process(saleor, checkout.id)
        data = await replay(world, 36, token, id=voucher)
        assert data["transaction"]["actions"] == ["REFUND"]
