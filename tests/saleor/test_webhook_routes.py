"""Webhook routes: what reaches a use case, and what is refused before the body is read."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from saleor_up2pay.api.saleor_webhooks import webhook_router
from saleor_up2pay.redis_store import instance_id, instance_key
from saleor_up2pay.saleor.apl import INSTANCES_KEY, AuthData, AuthStore
from saleor_up2pay.saleor.definitions import WEBHOOKS, definition_for_event
from saleor_up2pay.saleor.webhooks import WebhookContext, verify_request
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.sessions import (
    SessionRepository,
    reference_index_key,
)
from saleor_up2pay.wiring import WEBHOOK_HANDLERS
from tests.conftest import RECORDED, require_shared
from tests.fakes.fake_saleor import FakeSaleor, Installation, running
from tests.support.sessions import session_of

RECORDED_API_URL = "http://localhost:58001/graphql/"
APP_DELETED = definition_for_event("APP_DELETED")
PROCESS = definition_for_event("TRANSACTION_PROCESS_SESSION")
PROCESS_PAYLOAD = {
    "version": "3.23.28",
    "merchantReference": "VHJhbnNhY3Rpb25JdGVtOjE=",
    "action": {"amount": Decimal("20.00"), "currency": "EUR", "actionType": "CHARGE"},
    "data": {"method": "APETIZ"},
}


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return loaded


def app_deleted_payload(app_id: str) -> dict[str, Any]:
    return {
        "issuedAt": "2026-11-26T15:15:27.530507+00:00",
        "version": "3.23.28",
        "recipient": {"id": app_id},
        "issuingPrincipal": {"__typename": "User", "id": "VXNlcjoyMQ==", "email": "a@b.c"},
        "app": {"id": app_id, "identifier": "saleor.app.up2pay", "isActive": False},
    }


async def job_ids(services: Services) -> AsyncIterator[str]:
    """Every stored job (pending or dead), whatever its queue shard."""
    async for key in services.redis.scan_iter(match="up2pay:*:jobs:job:*"):
        yield key.split(":jobs:job:", 1)[1]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[WebhookContext]:
    """Replace every use case by one that records its context and answers a marker."""
    contexts: list[WebhookContext] = []

    @dataclass
    class Marker:
        event: str

        def dump(self) -> dict[str, Any]:
            return {"handled": self.event, "amount": Decimal("20.00")}

    async def handle(services: Services, ctx: WebhookContext) -> Marker:
        contexts.append(ctx)
        return Marker(ctx.event)

    for definition in WEBHOOKS:
        monkeypatch.setitem(WEBHOOK_HANDLERS, definition.event, handle)
    return contexts


class TestAcceptedDelivery:
    async def test_signed_delivery_reaches_the_use_case(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        captured: list[WebhookContext],
    ) -> None:
        """A genuine delivery is handed over with Decimal money, and its answer goes back as JSON."""
        response = await fake_saleor.send_webhook(
            "", PROCESS, payload=PROCESS_PAYLOAD, client=app_client
        )
        assert response.status_code == 200
        assert response.json() == {"handled": "TRANSACTION_PROCESS_SESSION", "amount": "20.00"}
        (ctx,) = captured
        assert ctx.payload["action"]["amount"] == Decimal("20.0")
        assert isinstance(ctx.payload["action"]["amount"], Decimal)
        assert ctx.auth.app_id == installed.app_id
        assert ctx.saleor_api_url == fake_saleor.api_url
        assert ctx.errors is None

    async def test_top_level_errors_are_accepted(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        captured: list[WebhookContext],
    ) -> None:
        """Saleor's field errors (e.g. grantedRefund) do not reject the delivery."""
        errors = [{"message": "Cannot return null for non-nullable field", "path": ["event"]}]
        payload = {**PROCESS_PAYLOAD, "grantedRefund": None, "errors": errors}
        refund = definition_for_event("TRANSACTION_REFUND_REQUESTED")
        response = await fake_saleor.send_webhook("", refund, payload=payload, client=app_client)
        assert response.status_code == 200
        assert captured[0].errors == errors
        assert "errors" not in captured[0].payload

    async def test_client_is_bound_to_the_instance(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        captured: list[WebhookContext],
    ) -> None:
        """ctx.client talks to the sending Saleor with the stored app token."""
        await fake_saleor.send_webhook("", PROCESS, payload=PROCESS_PAYLOAD, client=app_client)
        data = await captured[0].client.execute("app_id")
        assert data == {"app": {"id": installed.app_id}}
        last = fake_saleor.graphql_requests()[-1]
        assert last.headers["authorization"] == f"Bearer {installed.token}"

    async def test_key_rotation_is_followed(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        captured: list[WebhookContext],
        services: Services,
    ) -> None:
        """After Saleor rotates its key the app refetches its JWKS once over HTTP and keeps it."""
        fetches = fake_saleor.jwks_fetches()
        fake_saleor.rotate_key()
        for _ in range(2):
            response = await fake_saleor.send_webhook(
                "", PROCESS, payload=PROCESS_PAYLOAD, client=app_client
            )
            assert response.status_code == 200
        assert fake_saleor.jwks_fetches() == fetches + 1
        stored = await services.auth_store.get(fake_saleor.api_url)
        assert stored is not None
        assert fake_saleor.key.kid in stored.jwks


class TestRefusedDelivery:
    """Each refusal is a JSON error with a code, one log line, and no look at the body."""

    @pytest.mark.parametrize(
        ("options", "status", "code"),
        [
            ({"api_url": "https://evil.example.com/graphql/"}, 401, "NOT_REGISTERED"),
            ({"drop_headers": ("Saleor-Api-Url",)}, 401, "MISSING_SALEOR_API_URL"),
            ({"drop_headers": ("Saleor-Signature",)}, 401, "MISSING_SIGNATURE"),
            ({"signature": "garbage"}, 401, "SIGNATURE_VERIFICATION_FAILED"),
            (
                {"extra_headers": {"Saleor-Event": "transaction_process_session"}},
                400,
                "WRONG_EVENT",
            ),
            ({"drop_headers": ("Saleor-Event",)}, 400, "WRONG_EVENT"),
        ],
        ids=[
            "unknown-api-url",
            "no-api-url",
            "no-signature",
            "bad-signature",
            "wrong-event",
            "no-event",
        ],
    )
    async def test_refused_before_parsing(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        captured: list[WebhookContext],
        options: dict[str, Any],
        status: int,
        code: str,
    ) -> None:
        """The body is not even JSON: the refusal proves the check ran before parsing."""
        refund = definition_for_event("TRANSACTION_REFUND_REQUESTED")
        with capture_logs() as logs:
            response = await fake_saleor.send_webhook(
                "", refund, raw_body=b"\x00not json{", client=app_client, **options
            )
        assert response.status_code == status
        assert response.json() == {
            "success": False,
            "error": {"code": code, "message": response.json()["error"]["message"]},
        }
        assert captured == []
        rejected = [e for e in logs if e["event"] == "saleor.webhook_rejected"]
        assert [e["code"] for e in rejected] == [code]

    async def test_tampered_body_is_refused(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        captured: list[WebhookContext],
    ) -> None:
        """A body changed after signing is refused with 401."""
        _, headers, body = fake_saleor.webhook_request(PROCESS, None, PROCESS_PAYLOAD)
        forged = body.replace(b"20.0", b"0.01")
        response = await app_client.post(PROCESS.path, content=forged, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "SIGNATURE_VERIFICATION_FAILED"
        assert captured == []

    async def test_signed_non_object_body_is_a_bad_request(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        captured: list[WebhookContext],
    ) -> None:
        """A correctly signed body that is not a JSON object is refused with 400."""
        response = await fake_saleor.send_webhook(
            "", PROCESS, raw_body=b"[1, 2]", client=app_client
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "INVALID_PAYLOAD"

    async def test_delivery_for_another_app_is_forbidden(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        captured: list[WebhookContext],
    ) -> None:
        """recipient.id must be this installation's app id (a stale install cannot act)."""
        payload = {**PROCESS_PAYLOAD, "recipient": {"id": "QXBwOjk5"}}
        response = await fake_saleor.send_webhook("", PROCESS, payload=payload, client=app_client)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "WRONG_RECIPIENT"
        assert captured == []

    async def test_reinstallation_in_another_process_is_followed_at_once(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        captured: list[WebhookContext],
        services: Services,
    ) -> None:
        """The installation is cached in memory; a delivery naming another app id is checked
        against Redis before it is refused, so a re-installation made by another process
        (new app id and token) is served at once and the old app id is refused."""
        await fake_saleor.send_webhook("", PROCESS, payload=PROCESS_PAYLOAD, client=app_client)
        stored = await services.auth_store.get(fake_saleor.api_url)
        assert stored is not None
        other_process = AuthStore(services.redis, services.secretbox)
        await other_process.set(replace(stored, app_id="QXBwOjk5", token="new-token"))

        new = {**PROCESS_PAYLOAD, "recipient": {"id": "QXBwOjk5"}}
        response = await fake_saleor.send_webhook("", PROCESS, payload=new, client=app_client)
        assert response.status_code == 200
        assert captured[-1].auth.token == "new-token"
        old = {**PROCESS_PAYLOAD, "recipient": {"id": installed.app_id}}
        response = await fake_saleor.send_webhook("", PROCESS, payload=old, client=app_client)
        assert response.json()["error"]["code"] == "WRONG_RECIPIENT"

    async def test_get_is_not_allowed(self, app_client: httpx.AsyncClient) -> None:
        """Webhook routes accept POST only."""
        response = await app_client.get(PROCESS.path)
        assert response.status_code == 405


class TestHandlers:
    def test_every_definition_has_a_route_and_a_handler(self) -> None:
        """The router serves exactly the definitions' paths; the app's map answers each event."""
        router = webhook_router(WEBHOOK_HANDLERS)
        paths = {getattr(route, "path", None) for route in router.routes}
        assert paths == {d.path for d in WEBHOOKS}
        assert set(WEBHOOK_HANDLERS) == {d.event for d in WEBHOOKS}

    def test_handler_for_an_unsubscribed_event_is_refused_at_assembly(self) -> None:
        """A map naming an event the manifest does not subscribe to is a start-up error."""

        async def handle(services: Services, ctx: WebhookContext) -> Any:
            raise AssertionError

        with pytest.raises(ValueError, match="ORDER_CREATED"):
            webhook_router({**WEBHOOK_HANDLERS, "ORDER_CREATED": handle})

    async def test_route_answers_handler_missing(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A verified delivery for an event with no handler gets 500 HANDLER_MISSING as JSON."""
        monkeypatch.delitem(WEBHOOK_HANDLERS, "TRANSACTION_PROCESS_SESSION")
        response = await fake_saleor.send_webhook(
            "", PROCESS, payload=PROCESS_PAYLOAD, client=app_client
        )
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "HANDLER_MISSING"


class TestAppDeleted:
    async def test_app_deleted_purges_only_that_instance(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        services: Services,
    ) -> None:
        """Uninstalling from one Saleor removes its keys and keeps another instance's."""
        redis = services.redis
        await redis.set(instance_key(fake_saleor.api_url, "config", "channel-eur"), "x")
        with running(FakeSaleor(key_index=3)) as other:
            await other.install("", client=app_client)
            await redis.set(instance_key(other.api_url, "config", "channel-eur"), "y")

            response = await fake_saleor.send_webhook(
                "", APP_DELETED, payload=app_deleted_payload(installed.app_id), client=app_client
            )
            assert response.status_code == 200
            assert response.json() == {"success": True}

            assert await redis.keys(instance_key(fake_saleor.api_url, "*")) == []
            assert await redis.smembers(INSTANCES_KEY) == {other.api_url}
            assert await redis.get(instance_key(other.api_url, "config", "channel-eur")) == "y"
            assert await services.auth_store.get(other.api_url) is not None

        # The uninstalled instance is now unknown.
        again = await fake_saleor.send_webhook(
            "", PROCESS, payload=PROCESS_PAYLOAD, client=app_client
        )
        assert again.status_code == 401
        assert again.json()["error"]["code"] == "NOT_REGISTERED"

    async def test_app_deleted_forgets_global_keys_naming_the_instance(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        services: Services,
    ) -> None:
        """Its reference index entries and its jobs (pending or dead) go; others' stay."""
        mine, theirs = fake_saleor.api_url, "https://other.example.com/graphql/"
        sessions = SessionRepository(services.redis)
        await sessions.save(session_of(mine, "Umine000000000000001"))
        await sessions.save(session_of(theirs, "Utheirs0000000000001"))
        queue = services.job_queue
        for url in (mine, theirs):
            iid = instance_id(url)
            for job_id in (f"ipn:{iid}:123:ACCEPTED", f"refund:{iid}:R1", f"event:{iid}:V1"):
                assert await queue.enqueue("test.kind", {"saleor_api_url": url}, job_id=job_id)
        claimed = {job.id: job for job in await queue.claim(limit=10)}
        assert await queue.bury(claimed[f"event:{instance_id(mine)}:V1"], "gave up")

        response = await fake_saleor.send_webhook(
            "", APP_DELETED, payload=app_deleted_payload(installed.app_id), client=app_client
        )

        assert response.status_code == 200
        assert await sessions.get_by_reference("Umine000000000000001") is None
        assert await services.redis.get(reference_index_key("Umine000000000000001")) is None
        assert await services.redis.get(reference_index_key("Utheirs0000000000001")) == theirs
        remaining = {job_id async for job_id in job_ids(services)}
        assert remaining == {
            f"ipn:{instance_id(theirs)}:123:ACCEPTED",
            f"refund:{instance_id(theirs)}:R1",
            f"event:{instance_id(theirs)}:V1",
        }
        assert await queue.dead_jobs() == []
        assert await queue.pending_count() == 3

    async def test_app_deleted_for_a_stale_installation_purges_nothing(
        self,
        fake_saleor: FakeSaleor,
        installed: Installation,
        app_client: httpx.AsyncClient,
        services: Services,
    ) -> None:
        """APP_DELETED addressed to an older app id does not wipe the current installation."""
        response = await fake_saleor.send_webhook(
            "", APP_DELETED, payload=app_deleted_payload("QXBwOjE="), client=app_client
        )
        assert response.status_code == 403
        assert await services.auth_store.get(fake_saleor.api_url) is not None

    async def test_recorded_app_deleted_replayed_through_the_route(
        self, app_client: httpx.AsyncClient, services: Services
    ) -> None:
        """Saleor's real APP_DELETED delivery, byte for byte, uninstalls the recorded instance."""
        recording = json.loads(
            require_shared(RECORDED / "webhooks" / "21-app-deleted.json").read_text("utf-8")
        )
        jwks = (RECORDED / "jwks.json").read_text("utf-8")
        store = services.auth_store
        await store.set(AuthData(RECORDED_API_URL, token="t", app_id="QXBwOjEz", jwks=jwks))
        request = recording["request"]
        headers = [
            (k, v) for k, v in request["headers"] if k.lower() not in {"host", "content-length"}
        ]
        response = await app_client.post(
            request["path"], content=base64.b64decode(request["body_base64"]), headers=headers
        )
        assert response.status_code == 200
        assert response.json() == recording["response"]["body_json"]
        assert await store.get(RECORDED_API_URL) is None


class TestRecordedDeliveriesThroughVerification:
    """All checks of verify_request (headers, signature, recipient) on Saleor's real requests."""

    @pytest.mark.parametrize(
        "path", sorted((RECORDED / "webhooks").glob("*.json")), ids=lambda p: p.stem
    )
    async def test_recorded_delivery_is_accepted(self, path: Path, services: Services) -> None:
        """Each recorded request passes; payload money is Decimal; errors are surfaced."""
        recording = _load(path)
        jwks = require_shared(RECORDED / "jwks.json").read_text("utf-8")
        await services.auth_store.set(
            AuthData(RECORDED_API_URL, token="t", app_id="QXBwOjEz", jwks=jwks)
        )
        definition = definition_for_event(recording["event"])
        assert recording["request"]["path"] == definition.path
        body = base64.b64decode(recording["request"]["body_base64"])
        headers = httpx.Headers(recording["request"]["headers"])
        ctx = await verify_request(services, definition, headers, body)
        assert ctx.event == recording["event"]
        expected = json.loads(body, parse_float=Decimal)
        assert ctx.errors == expected.pop("errors", None)
        assert ctx.payload == expected
        action = ctx.payload.get("action")
        if action:
            assert isinstance(action["amount"], Decimal)

    async def test_recorded_signature_on_another_instance_is_refused(
        self, services: Services
    ) -> None:
        """A real signature from instance A is worthless for instance B's registration."""
        path = RECORDED / "webhooks" / "02-transaction-initialize-session.json"
        recording = json.loads(require_shared(path).read_text("utf-8"))
        other = FakeSaleor(key_index=4)
        other.base_url = "http://localhost:58001"  # same URL, different keys
        await services.auth_store.set(
            AuthData(RECORDED_API_URL, token="t", app_id="QXBwOjEz", jwks=other.jwks_text())
        )
        body = base64.b64decode(recording["request"]["body_base64"])
        headers = httpx.Headers(recording["request"]["headers"])
        from saleor_up2pay.errors import AppError
        from saleor_up2pay.saleor.signature import JwksVerifier

        # The unknown kid makes the verifier refetch the instance's JWKS: it gets instance B's
        # from this in-process transport, never from whatever listens on localhost:58001.
        fetches: list[str] = []

        def instance_b(request: httpx.Request) -> httpx.Response:
            fetches.append(str(request.url))
            return httpx.Response(200, text=other.jwks_text())

        async with httpx.AsyncClient(transport=httpx.MockTransport(instance_b)) as http:
            services.jwks_verifier = JwksVerifier(services.auth_store, http)
            with pytest.raises(AppError) as info:
                await verify_request(
                    services, definition_for_event(recording["event"]), headers, body
                )
        assert info.value.public_code == "SIGNATURE_VERIFICATION_FAILED"
        assert fetches == ["http://localhost:58001/.well-known/jwks.json"]
