"""Installation: Saleor posts the app token, the app proves it over HTTP and stores it encrypted."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from saleor_up2pay.main import create_app
from saleor_up2pay.saleor.apl import INSTANCES_KEY, auth_key
from saleor_up2pay.services import Services
from tests.conftest import RECORDED, require_shared
from tests.fakes.fake_saleor import FakeSaleor

REGISTER_URL = "http://app.test/api/register"


@asynccontextmanager
async def app_with(services: Services, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process with some settings changed."""
    changed = dataclasses.replace(services, settings=services.settings.model_copy(update=settings))
    app = create_app(services=changed)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            yield client


async def all_redis_values(services: Services) -> str:
    """Every string stored in Redis, concatenated (to look for a leaked secret)."""
    values: list[str] = []
    async for key in services.redis.scan_iter("*"):
        kind = await services.redis.type(key)
        if kind == "hash":
            values.extend(str(v) for v in (await services.redis.hgetall(key)).values())
        elif kind == "string":
            values.append(str(await services.redis.get(key) or ""))
        elif kind == "set":
            values.extend(str(v) for v in await services.redis.smembers(key))
    return "\n".join(values)


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert body["success"] is False
    assert body["error"]["message"]
    code: str = body["error"]["code"]
    return code


class TestRegisterSuccess:
    async def test_install_stores_the_proven_token_encrypted(
        self, fake_saleor: FakeSaleor, app_client: httpx.AsyncClient, services: Services
    ) -> None:
        """Saleor's token exchange succeeds; the token is checked, the JWKS kept, both per URL."""
        installation = await fake_saleor.install("http://app.test", client=app_client)

        assert installation.register_response.status_code == 200
        assert installation.register_response.json() == {"success": True}
        (call,) = [c for c in fake_saleor.calls if c.root_fields == ["app"]]
        assert call.token == installation.token
        assert fake_saleor.jwks_fetches() == 1

        auth = await services.auth_store.get(fake_saleor.api_url)
        assert auth is not None
        assert auth.token == installation.token
        assert auth.app_id == installation.app_id
        assert json.loads(auth.jwks) == fake_saleor.jwks()
        assert installation.token not in repr(auth)

        raw = await services.redis.hgetall(auth_key(fake_saleor.api_url))
        assert raw["token"] != installation.token
        assert installation.token not in await all_redis_values(services)
        assert await services.redis.smembers(INSTANCES_KEY) == {fake_saleor.api_url}

    async def test_reinstall_replaces_the_auth_data(
        self, fake_saleor: FakeSaleor, app_client: httpx.AsyncClient, services: Services
    ) -> None:
        """A second installation from the same Saleor keeps only the new token and app id."""
        first = await fake_saleor.install("http://app.test", client=app_client)
        second = await fake_saleor.install("http://app.test", client=app_client)
        assert second.app_id != first.app_id

        auth = await services.auth_store.get(fake_saleor.api_url)
        assert auth is not None
        assert (auth.token, auth.app_id) == (second.token, second.app_id)
        assert len(await services.auth_store.all()) == 1

    @pytest.mark.parametrize("path", ["/api/register", "/api/register/"])
    async def test_register_never_redirects(
        self, fake_saleor: FakeSaleor, app_client: httpx.AsyncClient, path: str
    ) -> None:
        """With or without the trailing slash the POST is handled, never answered with a 3xx."""
        token, _ = fake_saleor.issue_token()
        response = await fake_saleor.register("http://app.test" + path, token, client=app_client)
        assert response.status_code == 200

    async def test_allow_list_match_installs(
        self, fake_saleor: FakeSaleor, services: Services
    ) -> None:
        """An instance matching ALLOWED_SALEOR_API_URLS installs."""
        async with app_with(
            services, allowed_saleor_api_urls=["http://127.0.0.1:*/graphql/"]
        ) as client:
            installation = await fake_saleor.install("http://app.test", client=client)
        assert installation.register_response.status_code == 200

    async def test_recorded_register_request_is_understood(
        self, fake_saleor: FakeSaleor, app_client: httpx.AsyncClient, services: Services
    ) -> None:
        """Saleor's real register request (headers, body shape) works, pointed at the fake."""
        recording = json.loads(
            require_shared(RECORDED / "install" / "03-register.json").read_text("utf-8")
        )
        token, app_id = fake_saleor.issue_token()
        headers = {
            name: fake_saleor.api_url if name == "Saleor-Api-Url" else value
            for name, value in recording["request"]["headers"]
            if name not in {"Host", "Content-Length"}
        }
        body = recording["request"]["body_text"].replace("REDACTED-APP-TOKEN", token)
        response = await app_client.post(
            recording["request"]["path"], content=body, headers=headers
        )
        assert response.status_code == recording["response"]["status"]
        assert response.json() == recording["response"]["body_json"]
        auth = await services.auth_store.get(fake_saleor.api_url)
        assert auth is not None
        assert auth.app_id == app_id


class TestRegisterRefusals:
    async def test_instance_outside_the_allow_list_is_prohibited(
        self, fake_saleor: FakeSaleor, services: Services
    ) -> None:
        """A Saleor not in ALLOWED_SALEOR_API_URLS gets 403 and the app never calls it."""
        async with app_with(
            services, allowed_saleor_api_urls=["https://shop.example.com/graphql/"]
        ) as client:
            installation = await fake_saleor.install("http://app.test", client=client)
        response = installation.register_response
        assert response.status_code == 403
        assert error_code(response) == "SALEOR_URL_PROHIBITED"
        assert response.json()["error"]["message"] == (
            "This app expects to be installed only in allowed Saleor instances"
        )
        assert fake_saleor.graphql_requests() == []
        assert await services.auth_store.get(fake_saleor.api_url) is None

    async def test_token_saleor_does_not_know_is_refused(
        self, fake_saleor: FakeSaleor, app_client: httpx.AsyncClient, services: Services
    ) -> None:
        """A token that does not answer { app { id } } is UNKNOWN_APP_ID and nothing is stored."""
        response = await fake_saleor.register(REGISTER_URL, "forged-token", client=app_client)
        assert response.status_code == 401
        assert error_code(response) == "UNKNOWN_APP_ID"
        assert await services.auth_store.get(fake_saleor.api_url) is None
        assert await all_redis_values(services) == ""

    async def test_unreachable_saleor_is_refused(
        self, fake_saleor: FakeSaleor, app_client: httpx.AsyncClient
    ) -> None:
        """An API URL nobody answers at cannot prove the token: 401 UNKNOWN_APP_ID."""
        token, _ = fake_saleor.issue_token()
        response = await fake_saleor.register(
            REGISTER_URL, token, client=app_client, api_url="http://127.0.0.1:9/graphql/"
        )
        assert response.status_code == 401
        assert error_code(response) == "UNKNOWN_APP_ID"

    async def test_unavailable_jwks_is_refused(
        self, fake_saleor: FakeSaleor, app_client: httpx.AsyncClient, services: Services
    ) -> None:
        """Without the instance's JWKS no webhook could be verified: 401 JWKS_NOT_AVAILABLE."""
        fake_saleor.jwks_status = 503
        installation = await fake_saleor.install("http://app.test", client=app_client)
        assert installation.register_response.status_code == 401
        assert error_code(installation.register_response) == "JWKS_NOT_AVAILABLE"
        assert await services.auth_store.get(fake_saleor.api_url) is None

    @pytest.mark.parametrize(
        ("headers", "body", "code"),
        [
            ({}, b'{"auth_token": "x"}', "INVALID_SALEOR_API_URL"),
            (
                {"Saleor-Api-Url": "ftp://shop/graphql/"},
                b'{"auth_token": "x"}',
                "INVALID_SALEOR_API_URL",
            ),
            ({"Saleor-Api-Url": "http://127.0.0.1:9/graphql/"}, b"{}", "MISSING_AUTH_TOKEN"),
            ({"Saleor-Api-Url": "http://127.0.0.1:9/graphql/"}, b"not json", "MISSING_AUTH_TOKEN"),
            (
                {"Saleor-Api-Url": "http://127.0.0.1:9/graphql/"},
                b'{"auth_token": 5}',
                "MISSING_AUTH_TOKEN",
            ),
        ],
        ids=["no-api-url", "bad-scheme", "no-token", "not-json", "token-not-string"],
    )
    async def test_malformed_register_requests_are_bad_requests(
        self, app_client: httpx.AsyncClient, headers: dict[str, str], body: bytes, code: str
    ) -> None:
        """A register call without a usable API URL or token is a 400 with a code."""
        response = await app_client.post("/api/register", content=body, headers=headers)
        assert response.status_code == 400
        assert error_code(response) == code

    @pytest.mark.parametrize(
        "api_url",
        [
            "https://user:pass@shop.example.com/graphql/",
            "https://shop.example.com/graphql/?x=1",
            "https://shop.example.com/graphql/#x",
            "https://shop.example.com:port/graphql/",
            "https://shop example.com/graphql/",
        ],
        ids=["userinfo", "query", "fragment", "bad-port", "bad-host"],
    )
    async def test_api_url_saleor_would_never_send_is_refused(
        self, app_client: httpx.AsyncClient, services: Services, api_url: str
    ) -> None:
        """Userinfo, query, fragment or a malformed host: 400 INVALID_SALEOR_API_URL, no call."""
        response = await app_client.post(
            "/api/register", json={"auth_token": "x"}, headers={"Saleor-Api-Url": api_url}
        )
        assert response.status_code == 400
        assert error_code(response) == "INVALID_SALEOR_API_URL"
        assert await services.auth_store.all() == []

    @pytest.mark.parametrize(
        "api_url",
        [
            "http://127.0.0.1:{port}/x.saleor.cloud/graphql/",
            "http://127.0.0.1:{port}/graphql/?.saleor.cloud/graphql/",
            "http://x.saleor.cloud@127.0.0.1:{port}/graphql/",
        ],
        ids=["host-in-path", "host-in-query", "host-in-userinfo"],
    )
    async def test_wildcard_cannot_be_satisfied_outside_the_host(
        self, fake_saleor: FakeSaleor, services: Services, api_url: str
    ) -> None:
        """With https://*.saleor.cloud/graphql/ allowed, another host naming it elsewhere fails."""
        port = httpx.URL(fake_saleor.api_url).port
        token, _ = fake_saleor.issue_token()
        async with app_with(
            services, allowed_saleor_api_urls=["http://*.saleor.cloud/graphql/"]
        ) as client:
            response = await client.post(
                "/api/register",
                json={"auth_token": token},
                headers={"Saleor-Api-Url": api_url.format(port=port)},
            )
        assert response.status_code in {400, 403}
        assert fake_saleor.graphql_requests() == []
        assert await services.auth_store.all() == []

    async def test_get_register_is_not_allowed(self, app_client: httpx.AsyncClient) -> None:
        """Register only takes POST."""
        response = await app_client.get("/api/register")
        assert response.status_code == 405
