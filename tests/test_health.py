"""The probes an operator points a load balancer at."""

from __future__ import annotations

import httpx


class TestProbes:
    async def test_healthz_says_the_process_is_up(self, app_client: httpx.AsyncClient) -> None:
        """GET /healthz answers 200 without touching anything else."""
        response = await app_client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_readyz_checks_redis(self, app_client: httpx.AsyncClient) -> None:
        """GET /readyz answers 200 when the real Redis server answers."""
        response = await app_client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["redis"] == "ok"
