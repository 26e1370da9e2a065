"""Hostile input at every entry point: body limits, deep JSON, a client that hangs up (issue 11)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from saleor_up2pay import jsonbody
from saleor_up2pay.api.limits import BODY_LIMITS, body_limit
from saleor_up2pay.main import create_app
from saleor_up2pay.saleor.definitions import definition_for_event
from saleor_up2pay.services import Services
from tests.fakes.fake_saleor import FakeSaleor, Installation

PROCESS = definition_for_event("TRANSACTION_PROCESS_SESSION")
DEEP = b"[" * 100_000 + b"]" * 100_000


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


class TestBodyLimits:
    @pytest.mark.parametrize(
        ("path", "limit"),
        [
            ("/api/up2pay/ipn", 8 * 1024),
            ("/api/register", 16 * 1024),
            ("/api/webhooks/transaction-process-session", 1024 * 1024),
            ("/api/graphql", 64 * 1024),
        ],
    )
    async def test_announced_oversize_body_is_413_before_reading(
        self, app_client: httpx.AsyncClient, path: str, limit: int
    ) -> None:
        """A Content-Length over the route's limit is refused; the body is never consumed."""
        pulled = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal pulled
            for _ in range(4):
                pulled += 1
                yield b"x" * (limit // 2)

        response = await app_client.post(
            path, content=body(), headers={"content-length": str(limit * 2)}
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        assert body_limit(path) == limit
        assert pulled <= 1

    async def test_unannounced_oversize_ipn_stops_at_the_limit(
        self, app_client: httpx.AsyncClient
    ) -> None:
        """A chunked IPN body is counted while read: 413 once past 8 KiB, the rest never pulled."""
        pulled = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal pulled
            for _ in range(10_000):  # would be 40 MB
                pulled += 1
                yield b"M=1&" * 1024

        response = await app_client.post("/api/up2pay/ipn", content=body())
        assert response.status_code == 413
        assert pulled <= 4

    async def test_realistic_bodies_pass(
        self, app_client: httpx.AsyncClient, services: Services
    ) -> None:
        """A body under the limit reaches the route (here: an unsigned IPN, refused as such)."""
        response = await app_client.post("/api/up2pay/ipn", content=b"M=100&R=x&K=abc")
        assert response.status_code in {400, 403}

    def test_every_route_reading_a_body_has_a_limit(self) -> None:
        """The table covers the IPN, register, webhooks and the dashboard API."""
        prefixes = [prefix for prefix, _ in BODY_LIMITS]
        assert prefixes == ["/api/up2pay/ipn", "/api/register", "/api/webhooks/", "/api/graphql"]


class TestJsonAnswersAreNotSniffed:
    async def test_nosniff_on_json_answers(self, app_client: httpx.AsyncClient) -> None:
        """The manifest and an error answer both carry X-Content-Type-Options: nosniff."""
        manifest = await app_client.get("/api/manifest")
        error = await app_client.post("/api/register", content=b"{}")
        for response in (manifest, error):
            assert response.headers["content-type"].startswith("application/json")
            assert response.headers["x-content-type-options"] == "nosniff"


class TestDeepJson:
    def test_loads_refuses_deep_documents_with_value_error(self) -> None:
        """Too deep for the parser, or deeper than the limit: JsonTooDeep, a ValueError."""
        with pytest.raises(jsonbody.JsonTooDeep):
            jsonbody.loads(DEEP)
        with pytest.raises(ValueError, match="deeper than 64"):
            jsonbody.loads(json.dumps(nested(65)))
        assert jsonbody.loads(json.dumps(nested(63))) == nested(63)

    async def test_register_with_deep_json_is_400(self, app_client: httpx.AsyncClient) -> None:
        """Before authentication: 400, never a RecursionError."""
        response = await app_client.post(
            "/api/register",
            content=b'{"auth_token": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            headers={"saleor-api-url": "http://127.0.0.1:9/graphql/"},
        )
        assert response.status_code == 400

    async def test_signed_webhook_with_deep_json_is_400(
        self, fake_saleor: FakeSaleor, installed: Installation, app_client: httpx.AsyncClient
    ) -> None:
        """After authentication: a signed but absurdly nested body is INVALID_PAYLOAD."""
        response = await fake_saleor.send_webhook("", PROCESS, raw_body=DEEP, client=app_client)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "INVALID_PAYLOAD"

    async def test_dashboard_api_with_deep_variables_is_400(
        self, fake_saleor: FakeSaleor, installed: Installation, app_client: httpx.AsyncClient
    ) -> None:
        """After the Dashboard token: deep variables are 400 BAD_REQUEST."""
        body = b'{"query": "{ __typename }", "variables": {"x": '
        body += b"[" * 20_000 + b"]" * 20_000 + b"}}"
        response = await app_client.post(
            "/api/graphql",
            content=body,
            headers={
                "authorization-bearer": fake_saleor.dashboard_token(),
                "saleor-api-url": fake_saleor.api_url,
                "content-type": "application/json",
            },
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "BAD_REQUEST"


class TestClientDisconnect:
    async def test_ipn_client_hanging_up_is_nothing_received(self, services: Services) -> None:
        """A client gone while its IPN body is read: no exception, no ERROR, nothing stored."""
        app = create_app(services=services)
        sent: list[MutableMapping[str, Any]] = []
        messages: list[MutableMapping[str, Any]] = [
            {"type": "http.request", "body": b"M=100&R=", "more_body": True},
            {"type": "http.disconnect"},
        ]

        async def receive() -> MutableMapping[str, Any]:
            return messages.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/up2pay/ipn",
            "raw_path": b"/api/up2pay/ipn",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"app.test"), (b"content-type", b"text/plain")],
            "client": ("127.0.0.1", 1234),
            "server": ("app.test", 80),
            "app": app,
        }
        async with app.router.lifespan_context(app):
            with capture_logs() as logs:
                await app(scope, receive, send)
        assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [400]
        assert not [line for line in logs if line["log_level"] in {"error", "critical"}]
        assert any(line["event"] == "ipn.client_disconnected" for line in logs)
        assert await services.redis.dbsize() == 0
