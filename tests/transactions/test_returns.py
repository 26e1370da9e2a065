"""Browser returns: verified, then the shopper goes back to the storefront; nothing is settled."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.transactions.payment_world import World, form_of

VOUCHER = {"method": "SODEXO", "returnUrl": "https://shop.example/checkout/payment?step=3"}


async def started(world: World, total: str = "20.00") -> tuple[str, dict[str, Any]]:
    checkout = world.saleor.create_checkout(total)
    initialized = await world.initialize(checkout.id, VOUCHER)
    return initialized["transaction"]["id"], initialized


def storefront_query(location: str) -> dict[str, list[str]]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://shop.example/checkout/payment"
    return parse_qs(parts.query)


class TestBrowserReturn:
    async def test_accepted_return_sends_the_shopper_back_with_the_transaction(
        self, world: World
    ) -> None:
        """303 to the storefront URL, its own parameters kept, plus transaction and outcome."""
        item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "voucher")
        assert paid["return_url"].startswith(f"{world.app_url}/api/up2pay/return/")

        response = await world.http.get(paid["return_url"])

        assert response.status_code == 303
        query = storefront_query(response.headers["location"])
        assert query == {"step": ["3"], "transaction": [item_id], "outcome": ["accepted"]}

    async def test_refused_return_says_refused(self, world: World) -> None:
        """A refused payment comes back with outcome=refused."""
        _, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "refused")

        response = await world.http.get(paid["return_url"])

        assert storefront_query(response.headers["location"])["outcome"] == ["refused"]

    async def test_cancelled_return_lets_process_answer_cancelled(self, world: World) -> None:
        """Cancelled on the Up2pay page (no IPN): back with outcome=cancelled, then a failure."""
        item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "cancelled")
        assert paid["ipns"] == []

        response = await world.http.get(paid["return_url"])
        result = await world.process(item_id)

        assert storefront_query(response.headers["location"])["outcome"] == ["cancelled"]
        assert result["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert result["data"]["up2pay"]["errors"][0]["code"] == "PAYMENT_CANCELLED"

    async def test_tampered_return_is_not_trusted(self, world: World) -> None:
        """A changed amount breaks the signature: the shopper goes back with outcome=unknown."""
        item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "refused")
        tampered = paid["return_url"].replace("outcome=refused", "outcome=accepted")

        response = await world.http.get(tampered)
        result = await world.process(item_id)

        assert response.status_code == 303
        assert storefront_query(response.headers["location"])["outcome"] == ["unknown"]
        # Only the verified IPN counts: no success, the refused attempt is still held (an
        # unverified return does not end the hold)...
        assert result["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert result["data"]["up2pay"]["refusedAttempts"] == 1
        # ...and the genuine return makes the refusal final.
        await world.http.get(paid["return_url"])
        final = await world.process(item_id)
        assert final["transactionEvent"]["type"] == "CHARGE_FAILURE"

    async def test_accepted_return_without_ipn_settles_nothing(self, world: World) -> None:
        """The browser saying "accepted" is not proof: process keeps waiting for the IPN."""
        item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "voucher", send_ipn=False)

        response = await world.http.get(paid["return_url"])
        result = await world.process(item_id)

        assert storefront_query(response.headers["location"])["outcome"] == ["accepted"]
        assert result["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert world.saleor.item(item_id).amounts["charged"] == 0

    async def test_unknown_reference_is_not_found(self, world: World) -> None:
        """A return for a reference the app never issued is a 404 page, no redirect."""
        response = await world.http.get(f"{world.app_url}/api/up2pay/return/Nope123?outcome=x")
        assert response.status_code == 404
        assert "location" not in response.headers
