"""APP_DELETED alone: one instance's data goes, another instance's stays (real Redis, no Saleor)."""

from __future__ import annotations

from saleor_up2pay.redis_store import instance_id
from saleor_up2pay.saleor.apl import AuthData
from saleor_up2pay.saleor.ids import SaleorApiUrl
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions import app_deleted
from saleor_up2pay.transactions.legs import LegRepository
from saleor_up2pay.transactions.sessions import SessionRepository
from saleor_up2pay.up2pay.models import Leg
from tests.support.sessions import session_of
from tests.unit.order_action_fakes import stored_leg

GONE = SaleorApiUrl("https://shop.example/graphql/")
KEPT = SaleorApiUrl("https://other.example/graphql/")


def delivery(url: str) -> WebhookContext:
    auth = AuthData(saleor_api_url=url, token="t", app_id="QXBwOjEz", jwks="{}")
    return WebhookContext(
        auth=auth,
        event="APP_DELETED",
        payload={},
        raw_body=b"{}",
        errors=None,
        client=None,  # type: ignore[arg-type]  # the use case never calls Saleor
    )


class TestAppDeleted:
    async def test_only_the_uninstalled_instance_is_forgotten(self, services: Services) -> None:
        """Auth, sessions, legs, reference index and jobs of that instance go; others stay."""
        sessions = SessionRepository(services.redis)
        for url, reference in ((GONE, "R" + "1" * 19), (KEPT, "R" + "2" * 19)):
            await services.auth_store.set(AuthData(url, token="t", app_id="a", jwks="{}"))
            await sessions.create(session_of(url, reference))
            await services.job_queue.enqueue("ipn.report", {}, job_id=f"ipn:{instance_id(url)}:1")
        await stored_leg(services, Leg.APETIZ, "20.00")  # on GONE

        outcome = await app_deleted.handle(services, delivery(GONE))

        assert outcome.dump() == {"success": True}
        assert (outcome.references_deleted, outcome.jobs_dropped) == (1, 1)
        assert await services.auth_store.get(GONE) is None
        assert await sessions.get(GONE, "R" + "1" * 19) is None
        assert await LegRepository(services.redis).get_by_numtrans(GONE, "700000001") is None
        assert await services.auth_store.get(KEPT) is not None
        assert await sessions.get(KEPT, "R" + "2" * 19) is not None
        assert await services.job_queue.pending_count() == 1
