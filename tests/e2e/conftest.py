"""The whole stack on loopback: the app (its own lifespan, worker and Redis client), the Up2pay
sandbox, and a fake Saleor that validates every document and keeps transaction items.

The app is built from settings (not from test services) exactly as ``make run`` builds it; it
reaches the session's real Redis server through ``REDIS_URL``, the sandbox through
``SANDBOX_URL``, and trusts the sandbox's IPN key because both share ``DATA_DIR`` in the
``sandbox`` environment (the documented demo set-up).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from saleor_up2pay.jobs import JobQueue
from saleor_up2pay.main import create_app
from saleor_up2pay.sandbox import SandboxConfig, create_sandbox_app
from saleor_up2pay.services import Services
from saleor_up2pay.settings import Settings
from saleor_up2pay.transactions.legs import LegRecord, LegRepository
from tests.conftest import SCHEMA_PATH, require_shared
from tests.fakes.fake_saleor import FakeSaleor, running
from tests.fakes.fake_saleor_transactions import Item, SaleorTransactions
from tests.support.servers import free_port, serve

RETURN_URL = "https://shop.example/checkout"


LATER_JOBS = ("reconcile:", "settle:")
"""Ids of the minutes-later reconcile and settle jobs (``transactions/pending_legs.py``)."""


@dataclass
class Stack:
    """Everything one end-to-end test drives."""

    fake: FakeSaleor
    saleor: SaleorTransactions
    app: FastAPI
    app_url: str
    sandbox_url: str
    http: httpx.AsyncClient
    redis: aioredis.Redis
    settings: Settings
    app_servers: ExitStack

    @property
    def api_url(self) -> str:
        return self.fake.api_url

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def initialize(
        self,
        source_id: str,
        method: str = "APETIZ",
        *,
        amount: str | None = None,
        action: str | None = None,
    ) -> dict[str, Any]:
        """The storefront's ``transactionInitialize``; asserts the app asked for a redirect."""
        result = await self.saleor.transaction_initialize(
            self.app_url,
            source_id,
            {"method": method, "returnUrl": RETURN_URL},
            amount=amount,
            action=action,
        )
        assert result["errors"] == [], result
        assert result["transactionEvent"]["type"].endswith("_ACTION_REQUIRED"), result
        return result

    async def pay(self, initialized: dict[str, Any], outcome: str, **options: Any) -> Any:
        """The shopper on the sandbox's page (its JSON API), with the app's signed form."""
        fields = initialized["data"]["up2pay"]["form"]["fields"]
        response = await self.http.post(
            f"{self.sandbox_url}/sandbox/api/pay",
            json={"fields": fields, "outcome": outcome, **options},
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def wait_until(
        self, predicate: Callable[[], bool], *, seconds: float = 10.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` (the app reports from a background worker)."""
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > deadline:
                msg = f"timed out waiting for {what}"
                raise AssertionError(msg)
            await asyncio.sleep(0.05)

    async def settled(self, *, seconds: float = 10.0) -> None:
        """Wait until the app's job queue is empty (every IPN reported).

        The reconcile jobs (each session's, at the payment page's expiry; a browser return's)
        and settle jobs wait for minutes by design and are not waited for.
        """
        deadline = time.monotonic() + seconds
        while [
            job
            for job in await JobQueue(self.redis).pending_ids()
            if not str(job).startswith(LATER_JOBS)
        ]:
            if time.monotonic() > deadline:
                msg = "the app still has pending jobs"
                raise AssertionError(msg)
            await asyncio.sleep(0.05)

    def restart_app(self) -> None:
        """Stop the app (its worker gets its grace period) and start a new process-like app."""
        self.app_servers.close()
        self.app_servers = ExitStack()
        self.app = create_app(self.settings)
        port = int(self.app_url.rsplit(":", 1)[1])
        self.app_servers.enter_context(serve(self.app, port))

    def item(self, item_id: str) -> Item:
        return self.saleor.item(item_id)

    async def legs(self, reference: str) -> list[LegRecord]:
        return await LegRepository(self.redis).legs_for_reference(self.api_url, reference)

    async def next_day(self) -> None:
        """Move both clocks one day on (Up2pay refunds are allowed from D+1)."""
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        self.services.clock = lambda: tomorrow
        response = await self.http.post(f"{self.sandbox_url}/sandbox/api/clock", json={"days": 1})
        assert response.status_code == 200, response.text


@pytest.fixture
async def stack(tmp_path: Path, redis_url: str, redis: aioredis.Redis) -> AsyncIterator[Stack]:
    require_shared(SCHEMA_PATH)
    data_dir = tmp_path / "var"
    app_port = free_port()
    with ExitStack() as servers:
        fake = servers.enter_context(running())
        saleor = SaleorTransactions(fake)
        sandbox_url = servers.enter_context(serve(create_sandbox_app(SandboxConfig(data_dir))))
        settings = Settings(
            _env_file=None,
            app_url=f"http://127.0.0.1:{app_port}",
            data_dir=data_dir,
            secret_key="e2e-secret-key",
            redis_url=redis_url,
            sandbox_url=sandbox_url,
            # The storefront the tests return to (returnUrl is checked against it).
            up2pay_storefront_origins=["https://shop.example"],
            log_level="WARNING",
            job_retry_base_seconds=0.1,
            job_retry_max_seconds=0.5,
        )
        app = create_app(settings)
        app_servers = ExitStack()
        app_url = app_servers.enter_context(serve(app, app_port))
        async with httpx.AsyncClient(timeout=30) as http:
            installation = await fake.install(app_url)
            assert installation.register_response.status_code == 200
            stack = Stack(
                fake, saleor, app, app_url, sandbox_url, http, redis, settings, app_servers
            )
            try:
                yield stack
            finally:
                stack.app_servers.close()
