"""The order page widget in headless Chromium, framed by the pretend Dashboard like the
configuration page: an order paid with a voucher and a card complement, its two legs shown,
a refund split proposed and confirmed, in English/light and French/dark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest

from saleor_up2pay.transactions.legs import LegRecord, LegRepository, LegStatus
from saleor_up2pay.up2pay.models import Leg, Numappel, Numtrans
from tests.browser.conftest import Stack, run_async
from tests.browser.test_dashboard_page import fit_iframe, save_screenshot
from tests.fakes.fake_saleor_transactions import SaleorTransactions, recalculate

pytestmark = pytest.mark.browser
TIMEOUT = 15_000


def paid_order(stack: Stack) -> tuple[SaleorTransactions, str, str, str]:
    """An order of 44.80 €: 20.00 € of Bimpli (Apetiz) and a 24.80 € card complement, paid
    two days ago (so Up2pay allows refunds), as Saleor and the app's leg records see it."""
    saleor = SaleorTransactions(stack.saleor)
    order = saleor.create_order("44.80")
    paid_at = datetime.now(UTC) - timedelta(days=2)
    legs = []
    for leg, amount, numtrans in (
        (Leg.APETIZ, "20.00", "80012345"),
        (Leg.LIMOCB, "24.80", "80012346"),
    ):
        with saleor._lock:
            item = saleor._new_item(order.id, stack.saleor.app_id, name=f"Up2pay {leg.label}")
            saleor._new_event(
                item,
                "CHARGE_SUCCESS",
                numtrans,
                Decimal(amount),
                created_by_app=stack.saleor.app_id,
            )
            item.psp_reference = numtrans
            item.actions = ["REFUND"]
            recalculate(item)
        legs.append(
            LegRecord(
                saleor_api_url=stack.saleor.api_url,
                reference="UP2-8F3K2Q",
                leg=leg,
                numtrans=Numtrans(numtrans),
                numappel=Numappel("0004567"),
                authorization="XXXXXX",
                amount=Decimal(amount),
                status=LegStatus.ACCEPTED,
                transaction_id=item.id,
                card_type=leg.value,
                captured_amount=Decimal(amount),
                paid_at=paid_at,
                reported=True,
            )
        )

    async def store() -> None:
        client = await stack._redis()
        try:
            for record in legs:
                await LegRepository(client).save(record)
        finally:
            await client.aclose()

    run_async(store())
    voucher, complement = (str(r.transaction_id) for r in legs)
    return saleor, order.id, voucher, complement


def open_widget(browser: Any, stack: Stack, order_id: str, **query: str) -> tuple[Any, Any]:
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    page.set_default_timeout(TIMEOUT)
    params = urlencode({"page": "/app/order", "orderId": order_id, **query})
    page.goto(f"{stack.dashboard_url}/?{params}")
    return page, page.frame_locator("#app")


def test_two_legs_and_a_refund_split(browser: Any, stack: Stack) -> None:
    saleor, order_id, voucher, complement = paid_order(stack)
    page, frame = open_widget(browser, stack, order_id)

    cards = frame.locator("article.leg-card")
    cards.nth(1).wait_for()
    assert cards.count() == 2
    apetiz = frame.locator('article[data-leg="APETIZ"]')
    assert "Bimpli (Apetiz)" in apetiz.inner_text()
    assert "S 80012345" in apetiz.inner_text()
    assert "Refund possible now" in apetiz.inner_text()

    # One amount, card complement first: 24.80 € from the complement, 5.20 € from the voucher.
    frame.get_by_label("Amount").fill("30")
    frame.get_by_label("Strategy").select_option("complement_first")
    frame.get_by_role("button", name="Propose").click()
    frame.locator(f'tr[data-part="{complement}"]').wait_for()
    assert "24.80" in frame.locator(f'tr[data-part="{complement}"]').inner_text()
    assert "5.20" in frame.locator(f'tr[data-part="{voucher}"]').inner_text()
    fit_iframe(page, frame)
    save_screenshot(page, "order-widget-light.png")

    frame.get_by_role("button", name="Ask Saleor for these refunds").click()
    frame.get_by_text("Asked of Saleor").first.wait_for()
    assert [(v["id"], v["amount"]) for v in saleor.requested_actions] == [
        (complement, 24.8),
        (voucher, 5.2),
    ]
    received = page.evaluate("window.received.map(m => m.type)")
    assert "notifyReady" in received


def test_french_dark_and_more_than_the_legs_allow(browser: Any, stack: Stack) -> None:
    _, order_id, _, _ = paid_order(stack)
    page, frame = open_widget(browser, stack, order_id, locale="fr", theme="dark")
    frame.locator("article.leg-card").nth(1).wait_for()
    assert frame.locator("html").get_attribute("data-theme") == "dark"
    frame.get_by_label("Montant").fill("50,00")
    frame.get_by_label("Répartition").select_option("pro_rata")
    frame.get_by_role("button", name="Proposer").click()
    frame.locator(".shortfall").wait_for()
    assert "ne peuvent pas être remboursés" in frame.locator(".shortfall").inner_text()
    fit_iframe(page, frame)
    save_screenshot(page, "order-widget-dark.png")


def test_pick_a_granted_refund_and_confirm(browser: Any, stack: Stack) -> None:
    """Staff granted 19.90 on the card complement (and the app may read grants): picking it fills
    the amount, the widget says Saleor refunds it whole on that leg, and confirming asks Saleor
    with transactionRequestRefundForGrantedRefund (no plain refund)."""
    saleor, order_id, _, complement = paid_order(stack)
    saleor.app_permissions.add("MANAGE_ORDERS")
    grant = saleor.grant_refund(
        order_id, complement, "19.90", reason="Retour article", lines=[(1, "Monospace Tee")]
    )
    _page, frame = open_widget(browser, stack, order_id)
    listed = frame.locator(f'div.grant[data-grant="{grant["id"]}"]')
    listed.wait_for()
    assert "Retour article" in listed.inner_text()
    assert "on Card complement" in listed.inner_text()
    listed.get_by_role("button", name="Use this granted refund").click()
    assert frame.get_by_label("Amount").input_value() == "19.90"
    plan = frame.locator(f'[data-grant-plan="{grant["id"]}"]')
    assert "whole on Card complement" in plan.inner_text()
    frame.get_by_role("button", name="Ask Saleor to refund this granted refund").click()
    plan.get_by_text("Asked of Saleor").wait_for()
    assert saleor.requested_grant_refunds == [{"grantedRefundId": grant["id"], "id": complement}]
    assert saleor.requested_actions == []


def test_without_manage_orders_the_widget_says_how_to_pick_grants(
    browser: Any, stack: Stack
) -> None:
    saleor, order_id, _, complement = paid_order(stack)
    saleor.grant_refund(order_id, complement, "19.90")
    _page, frame = open_widget(browser, stack, order_id)
    note = frame.locator(".grants-unreadable")
    note.wait_for()
    assert "MANAGE_ORDERS" in note.inner_text()
    assert frame.locator("article.leg-card").count() == 2
