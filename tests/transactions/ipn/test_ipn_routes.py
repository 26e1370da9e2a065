"""The IPN endpoint: GET and POST, empty 200 on success, 403 on a bad signature."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException
from structlog.testing import capture_logs

from saleor_up2pay.api import up2pay_routes
from saleor_up2pay.main import create_app
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.legs import LegRepository
from tests.transactions.ipn_support import (
    SaleorWorld,
    ipn,
    new_session,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class TestIpnRoute:
    async def test_post_body_is_accepted_with_an_empty_200(
        self, app_client: httpx.AsyncClient, services: Services, installed: SaleorWorld
    ) -> None:
        """A signed POST IPN gets an empty 200 and its leg is stored."""
        session = await new_session(services, installed)
        response = await app_client.post(
            "/api/up2pay/ipn", content=ipn(session.reference, amount_cents=2000), headers=FORM
        )
        assert (response.status_code, response.content) == (200, b"")
        legs = LegRepository(services.redis)
        assert await legs.get_by_numtrans(installed.api_url, "722487980") is not None

    async def test_get_query_string_is_accepted(
        self, app_client: httpx.AsyncClient, services: Services, installed: SaleorWorld
    ) -> None:
        """A signed GET IPN (variables in the query string) is accepted the same way."""
        session = await new_session(services, installed)
        query = ipn(session.reference, amount_cents=2000).decode()
        response = await app_client.get(f"/api/up2pay/ipn?{query}")
        assert (response.status_code, response.content) == (200, b"")
        assert await services.job_queue.pending_count() == 1

    async def test_one_log_line_per_ipn_with_its_answer(
        self, app_client: httpx.AsyncClient, services: Services, installed: SaleorWorld
    ) -> None:
        """Each IPN is one line (method, path, status, duration, outcome, the leg), written by
        the endpoint; the query string (the signed IPN) is never in it."""
        session = await new_session(services, installed)
        query = ipn(session.reference, amount_cents=2000).decode()
        with capture_logs() as logs:
            await app_client.get(f"/api/up2pay/ipn?{query}")
            await app_client.get(f"/api/up2pay/ipn?{query}")
            tampered = query.replace("C=APETIZ", "C=SODEXO").encode()
            await app_client.post("/api/up2pay/ipn", content=tampered, headers=FORM)

        ipn_lines = [line for line in logs if line["event"].startswith("ipn.")]
        assert [line["event"] for line in ipn_lines] == [
            "ipn.received",
            "ipn.duplicate",
            "ipn.signature_invalid",
        ]
        first = ipn_lines[0]
        assert (first["method"], first["path"], first["status"], first["outcome"]) == (
            "GET",
            "/api/up2pay/ipn",
            200,
            "accepted",
        )
        assert (first["reference"], first["numtrans"], first["leg_status"]) == (
            session.reference,
            "722487980",
            "ACCEPTED",
        )
        assert first["amount"] == "20.00"
        assert first["duration_ms"] >= 0
        assert (ipn_lines[1]["status"], ipn_lines[1]["outcome"]) == (200, "duplicate")
        assert (ipn_lines[2]["status"], ipn_lines[2]["outcome"]) == (403, "signature_invalid")
        assert ipn_lines[2]["log_level"] == "warning"
        assert "K=" not in str(logs)  # neither the signature nor the query string

    async def test_bad_signature_is_403_and_stores_nothing(
        self, app_client: httpx.AsyncClient, services: Services, installed: SaleorWorld
    ) -> None:
        """A tampered IPN is refused with 403 and no leg or job appears."""
        session = await new_session(services, installed)
        raw = ipn(session.reference, amount_cents=2000).replace(b"C=APETIZ", b"C=SODEXO")
        response = await app_client.post("/api/up2pay/ipn", content=raw, headers=FORM)
        assert response.status_code == 403
        assert await services.job_queue.pending_count() == 0
        legs = LegRepository(services.redis)
        assert await legs.get_by_numtrans(installed.api_url, "722487980") is None

    async def test_garbage_is_refused(
        self, app_client: httpx.AsyncClient, services: Services, installed: SaleorWorld
    ) -> None:
        """A request that is not an IPN at all is refused and stores nothing."""
        response = await app_client.post("/api/up2pay/ipn", content=b"hello", headers=FORM)
        assert response.status_code in {400, 403}
        assert await services.job_queue.pending_count() == 0

    async def test_no_redirect_on_trailing_slash(self, app_client: httpx.AsyncClient) -> None:
        """The IPN path never redirects (Up2pay treats a 3xx as a failed delivery)."""
        response = await app_client.get("/api/up2pay/ipn/")
        assert not 300 <= response.status_code < 400

    async def test_other_methods_are_405(self, app_client: httpx.AsyncClient) -> None:
        """Only GET and POST reach the IPN; anything else is refused and names them."""
        response = await app_client.put("/api/up2pay/ipn", content=b"M=100")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"

    async def test_redis_down_is_not_acknowledged_and_stores_nothing(
        self, services: Services, installed: SaleorWorld, tmp_path: Path
    ) -> None:
        """With the app's Redis unreachable a valid IPN gets 503 (Up2pay retries it later)."""
        session = await new_session(services, installed)
        dead = aioredis.Redis(
            unix_socket_path=str(tmp_path / "no-redis.sock"), decode_responses=True
        )
        broken = Services(
            settings=services.settings,
            redis=dead,
            http=services.http,
            secretbox=services.secretbox,
        )
        app = create_app(services=broken)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://app.test") as client,
        ):
            response = await client.post(
                "/api/up2pay/ipn", content=ipn(session.reference, amount_cents=2000), headers=FORM
            )
        await dead.aclose()
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert await services.job_queue.pending_count() == 0
        legs = LegRepository(services.redis)
        assert await legs.get_by_numtrans(installed.api_url, "722487980") is None


async def test_a_cluster_without_a_known_slot_owner_is_503_not_500(
    app_client: httpx.AsyncClient,
    services: Services,
    installed: SaleorWorld,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Just after a Cluster failover redis-py may raise ``RedisClusterException`` (not a
    ``RedisError``): the IPN is not acknowledged, and Up2pay is told to come back (503)."""
    session = await new_session(services, installed)

    async def no_slot_owner(services: Services, raw: bytes) -> None:
        raise RedisClusterException("no node serves the slot yet")

    monkeypatch.setattr(up2pay_routes, "receive_ipn", no_slot_owner)
    response = await app_client.post(
        "/api/up2pay/ipn", content=ipn(session.reference, amount_cents=2000), headers=FORM
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
