"""The order page widget end to end: app + Up2pay sandbox + fake Saleor, through its JSON API.

An order paid with a voucher and a card complement (two transaction items), read by the widget,
refunded across both legs with one amount, and checked with Up2pay (GAE 00017).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from saleor_up2pay.transactions.legs import LegRepository
from tests.e2e.conftest import Stack
from tests.e2e.test_order_actions import paid_order

API = "/api/order-widget"


async def call(stack: Stack, path: str, body: dict[str, Any], *, token: str | None = None) -> Any:
    return await stack.http.post(
        f"{stack.app_url}{API}/{path}",
        json=body,
        headers={
            "saleor-api-url": stack.api_url,
            "authorization-bearer": token or stack.fake.dashboard_token(),
        },
    )


async def legs_of(stack: Stack, order_id: str) -> dict[str, Any]:
    response = await call(stack, "legs", {"order_id": order_id})
    assert response.status_code == 200, response.text
    return {item["leg"]["leg"]: item for item in response.json()["items"]}


async def test_the_widget_shows_both_legs_and_when_they_can_be_refunded(stack: Stack) -> None:
    order_id, _ = await paid_order(stack, "44.80", "APETIZ", "split", voucher_amount=2000)
    legs = await legs_of(stack, order_id)
    assert set(legs) == {"APETIZ", "LIMOCB"}
    voucher = legs["APETIZ"]["leg"]
    assert (voucher["amount"], voucher["captured"]) == ("20.00", "20.00")
    assert voucher["numtrans"]
    assert voucher["numappel"]
    assert voucher["reference"]
    refund = next(p for p in voucher["possible"] if p["action"] == "REFUND")
    # Paid today: Up2pay refunds it from tomorrow 00:05 Paris time.
    assert (refund["now"], refund["reason"]) == (False, "refund_from_next_day")
    assert refund["from"].endswith("+01:00") or refund["from"].endswith("+02:00")
    assert legs["LIMOCB"]["saleor"]["charged"] == "24.80"
    # The same day, a split has nothing to ask and says why.
    response = await call(
        stack, "propose", {"order_id": order_id, "amount": "30.00", "strategy": "pro_rata"}
    )
    proposal = response.json()
    assert (proposal["parts"], proposal["shortfall"]) == ([], "30.00")
    assert any("refunds it from" in e for e in proposal["explanations"])
    # A refund asked by hand today waits in the job queue for D+1: the widget lists it.
    voucher_item = legs["APETIZ"]["transaction_id"]
    await stack.saleor.transaction_request_action(stack.app_url, voucher_item, "REFUND", "4.00")
    (waiting,) = (await legs_of(stack, order_id))["APETIZ"]["leg"]["deferred_refunds"]
    assert waiting["amount"] == "4.00"
    assert datetime.fromisoformat(waiting["run_at"]) == datetime.fromisoformat(refund["from"])


async def test_a_refund_split_across_two_legs_is_asked_of_saleor_and_done(stack: Stack) -> None:
    order_id, (voucher, complement) = await paid_order(
        stack, "44.80", "APETIZ", "split", voucher_amount=2000
    )
    await stack.next_day()
    response = await call(
        stack,
        "propose",
        {"order_id": order_id, "amount": "30.00", "strategy": "complement_first"},
    )
    proposal = response.json()
    assert [(p["transaction_id"], p["amount"]) for p in proposal["parts"]] == [
        (complement, "24.80"),
        (voucher, "5.20"),
    ]
    response = await call(
        stack,
        "confirm",
        {
            "order_id": order_id,
            "parts": [
                {"transaction_id": p["transaction_id"], "amount": p["amount"]}
                for p in proposal["parts"]
            ],
            "reason_reference": "UGFnZTox",
        },
    )
    assert response.status_code == 200, response.text
    assert all(r["requested"] for r in response.json()["results"])
    assert [v.get("refundReasonReference") for v in stack.saleor.requested_actions] == [
        "UGFnZTox",
        "UGFnZTox",
    ]
    await stack.wait_until(
        lambda: (
            stack.item(voucher).amounts["refunded"] == Decimal("5.20")
            and stack.item(complement).amounts["refunded"] == Decimal("24.80")
        ),
        what="both refunds reported",
    )
    legs = await legs_of(stack, order_id)
    assert legs["APETIZ"]["leg"]["refunded"] == "5.20"
    assert legs["LIMOCB"]["leg"]["refunded"] == "24.80"
    assert any(h["kind"] == "gae" for h in legs["APETIZ"]["leg"]["history"])


async def test_a_part_above_what_a_leg_allows_is_refused_before_saleor_is_asked(
    stack: Stack,
) -> None:
    order_id, (voucher, _) = await paid_order(
        stack, "44.80", "APETIZ", "split", voucher_amount=2000
    )
    await stack.next_day()
    response = await call(
        stack,
        "confirm",
        {"order_id": order_id, "parts": [{"transaction_id": voucher, "amount": "20.01"}]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "SPLIT_REFUSED"
    assert stack.saleor.requested_actions == []


async def test_check_with_up2pay_reports_a_difference_to_saleor(stack: Stack) -> None:
    order_id, (voucher, _) = await paid_order(
        stack, "44.80", "APETIZ", "split", voucher_amount=2000
    )
    response = await call(stack, "check", {"order_id": order_id, "transaction_id": voucher})
    result = response.json()
    assert (result["ok"], result["status"], result["difference"]) == (True, "Capturé", None)
    # The app's record drifts (say a refund it never heard of): the check says so to Saleor.
    legs = await LegRepository(stack.redis).legs_for_transaction(stack.api_url, voucher)
    accepted = next(r for r in legs if r.accepted)
    await LegRepository(stack.redis).save(accepted.with_refund(Decimal("3.00")))
    response = await call(stack, "check", {"order_id": order_id, "transaction_id": voucher})
    result = response.json()
    assert "Up2pay says Capturé" in result["difference"]
    assert result["reported"] == "created"
    info = [e for e in stack.item(voucher).events if e.type == "INFO"]
    assert info
    assert "Up2pay says Capturé" in info[-1].message


async def test_the_widget_api_needs_a_dashboard_token_with_handle_payments(stack: Stack) -> None:
    order_id, _ = await paid_order(stack, "15.00", "SODEXO")
    denied = await call(
        stack,
        "legs",
        {"order_id": order_id},
        token=stack.fake.dashboard_token(user_permissions=["MANAGE_ORDERS"]),
    )
    assert denied.status_code == 403
    forged = await call(stack, "legs", {"order_id": order_id}, token="not-a-token")
    assert forged.status_code == 401


# --- granted refunds ---------------------------------------------------------------------------


async def test_the_widget_says_granted_refunds_need_manage_orders(stack: Stack) -> None:
    """With HANDLE_PAYMENTS alone Saleor refuses order.grantedRefunds: the legs still show, and the
    widget says which permission the app lacks instead of listing nothing."""
    order_id, (_, complement) = await paid_order(
        stack, "44.80", "APETIZ", "split", voucher_amount=2000
    )
    stack.saleor.grant_refund(order_id, complement, "19.90")
    response = await call(stack, "legs", {"order_id": order_id})
    assert response.status_code == 200, response.text
    view = response.json()
    assert len(view["items"]) == 2
    assert view["granted_refunds"] == {
        "readable": False,
        "unreadable": "permission",
        "permission": "MANAGE_ORDERS",
        "items": [],
    }


async def test_a_granted_refund_picked_in_the_widget_is_refunded_on_its_leg(stack: Stack) -> None:
    """Staff granted 19.90 (the tee) on the card complement; the next day they pick it in the
    widget: Saleor refunds the grant on that leg, the grant ends SUCCESS and the order, whose
    expected total the grant lowered, is fully charged again (not under-paid)."""
    stack.saleor.app_permissions.add("MANAGE_ORDERS")
    order_id, (voucher, complement) = await paid_order(
        stack, "44.80", "APETIZ", "split", voucher_amount=2000
    )
    await stack.next_day()
    grant = stack.saleor.grant_refund(
        order_id, complement, "19.90", reason="Retour article", lines=[(1, "Monospace Tee")]
    )
    assert stack.saleor.order_status(order_id)["chargeStatus"] == "OVERCHARGED"
    view = (await call(stack, "legs", {"order_id": order_id})).json()
    (listed,) = view["granted_refunds"]["items"]
    assert (listed["id"], listed["amount"], listed["status"], listed["transaction_id"]) == (
        grant["id"],
        "19.90",
        "NONE",
        complement,
    )
    assert (listed["reason"], listed["lines"]) == ("Retour article", ["1 × Monospace Tee"])
    assert listed["plan"]["possible"]
    assert listed["plan"]["transaction_id"] == complement

    response = await call(stack, "grant", {"order_id": order_id, "granted_refund_id": grant["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["requested"] is True
    assert stack.saleor.requested_grant_refunds == [
        {"grantedRefundId": grant["id"], "id": complement}
    ]
    await stack.wait_until(
        lambda: stack.saleor.grant_status(grant["id"]) == "SUCCESS", what="grant refunded"
    )
    assert stack.item(complement).amounts["refunded"] == Decimal("19.90")
    assert stack.item(voucher).amounts["refunded"] == 0
    assert stack.saleor.order_status(order_id)["chargeStatus"] == "FULL"
    # Refunded, the grant leaves the widget's list; asking again is refused before Saleor.
    view = (await call(stack, "legs", {"order_id": order_id})).json()
    assert view["granted_refunds"]["items"] == []
    again = await call(stack, "grant", {"order_id": order_id, "granted_refund_id": grant["id"]})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "GRANT_REFUSED"
    assert len(stack.saleor.requested_grant_refunds) == 1


async def test_a_grant_its_leg_cannot_take_today_is_explained_not_asked(stack: Stack) -> None:
    """The payment day, the complement refunds nothing yet (D+1): the grant tied to it is listed
    with the reason, and picking it anyway is refused before Saleor is asked."""
    stack.saleor.app_permissions.add("MANAGE_ORDERS")
    order_id, (_, complement) = await paid_order(
        stack, "44.80", "APETIZ", "split", voucher_amount=2000
    )
    grant = stack.saleor.grant_refund(order_id, complement, "19.90")
    view = (await call(stack, "legs", {"order_id": order_id})).json()
    (listed,) = view["granted_refunds"]["items"]
    assert listed["plan"]["possible"] is False
    assert listed["plan"]["block"] == "leg_blocked"
    assert listed["plan"]["leg_allows"] == "0.00"
    assert "refunds it from" in listed["plan"]["leg_reason"]
    response = await call(stack, "grant", {"order_id": order_id, "granted_refund_id": grant["id"]})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "GRANT_REFUSED"
    assert stack.saleor.requested_grant_refunds == []
    assert stack.saleor.grant_status(grant["id"]) == "NONE"
