"""The probes an operator points a load balancer at."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from saleor_up2pay.api import health
from saleor_up2pay.main import create_app
from saleor_up2pay.services import Services


class TestProbes:
    async def test_healthz_says_the_process_is_up(self, app_client: httpx.AsyncClient) -> None:
        """GET /healthz answers 200 without touching anything else."""
        response = await app_client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_root_points_to_the_manifest(self, app_client: httpx.AsyncClient) -> None:
        """GET / says what the server is and where the manifest is, instead of a bare 404."""
        response = await app_client.get("/")
        assert response.status_code == 200
        assert response.json()["manifest"] == "http://app.test/api/manifest"

    async def test_readyz_checks_redis(self, app_client: httpx.AsyncClient) -> None:
        """GET /readyz answers 200 when the real Redis server answers."""
        response = await app_client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"redis": "ok"}}

    async def test_readyz_is_503_when_redis_refuses(
        self, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A Redis that cannot be reached makes /readyz answer 503 (not 500), saying why."""
        monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.2)
        dead = Redis(unix_socket_path=str(tmp_path / "nothing.sock"), decode_responses=True)
        async with probe_client(dataclasses.replace(services, redis=dead)) as client:
            response = await client.get("/readyz")
        await dead.aclose()
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["redis"].startswith("ConnectionError: ")
        assert "nothing.sock" in body["checks"]["redis"]

    async def test_readyz_does_not_hang_on_a_silent_redis(
        self, services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A Redis that accepts the connection but never answers gives 503, naming the timeout."""
        monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.2)
        accepted: list[asyncio.StreamWriter] = []
        path = str(tmp_path / "silent.sock")
        server = await asyncio.start_unix_server(lambda _, w: accepted.append(w), path)
        silent = Redis(unix_socket_path=path, decode_responses=True)
        try:
            async with probe_client(dataclasses.replace(services, redis=silent)) as client:
                response = await client.get("/readyz")
        finally:
            await silent.aclose()
            for writer in accepted:
                writer.close()
            server.close()
            await server.wait_closed()
        assert response.status_code == 503
        assert response.json()["checks"] == {"redis": "TimeoutError: no answer within 0.2 s"}


@asynccontextmanager
async def probe_client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services=services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            yield client
