"""A whole payment world on loopback for the session and action tests.

- the app, built by :func:`saleor_up2pay.main.create_app` with its own Redis client (on the test
  Redis server) and HTTP pool, served by uvicorn on 127.0.0.1. It runs no job worker: the test
  runs due jobs itself (:meth:`World.run_jobs`), so reports happen exactly when a test wants;
- the Up2pay sandbox (H3) on 127.0.0.1, whose public keys the app trusts (same DATA_DIR);
- a fake Saleor (H1) with transaction keeping (H6) that validates every GraphQL document against
  the schema, signs its webhooks and applies the app's answers as Saleor 3.23 does.

The test's own ``services`` (same Redis, same SECRET_KEY) inspect state and run jobs in the test's
event loop, e.g. with a moved clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from saleor_up2pay.jobs import JobQueue, Worker
from saleor_up2pay.main import create_app
from saleor_up2pay.redis_store import close_client, new_client
from saleor_up2pay.sandbox import SandboxConfig, create_sandbox_app
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.services import Services, new_http_client
from saleor_up2pay.settings import Settings
from saleor_up2pay.transactions.ipn_received import receive_ipn
from saleor_up2pay.wiring import job_handlers
from tests.fakes.fake_saleor import FakeSaleor, running
from tests.fakes.fake_saleor_transactions import Item, SaleorTransactions
from tests.support.configurations import map_sandbox_configuration
from tests.support.servers import free_port, serve

SECRET = "test-secret-key"


@dataclass
class World:
    app_url: str
    sandbox_url: str
    fake: FakeSaleor
    saleor: SaleorTransactions
    services: Services
    http: httpx.AsyncClient
    app_services: Services
    """The running app's own services (its clock is moved with :meth:`move_clock`)."""

    async def map_configuration(
        self, name: str, channel: str = "channel-eur", **fields: Any
    ) -> None:
        """Map ``channel`` to a new sandbox configuration ``name`` with ``fields``."""
        await map_sandbox_configuration(
            self.services.configurations, self.fake.api_url, channel, name, **fields
        )

    async def initialize(self, source_id: str, data: Any, **kwargs: Any) -> dict[str, Any]:
        """``transactionInitialize`` from the storefront (the webhook goes to the app)."""
        return await self.saleor.transaction_initialize(self.app_url, source_id, data, **kwargs)

    async def process(self, item_id: str, data: Any = None) -> dict[str, Any]:
        return await self.saleor.transaction_process(self.app_url, item_id, data)

    async def request_action(
        self, item_id: str, action: str, amount: str | None = None
    ) -> dict[str, Any]:
        return await self.saleor.transaction_request_action(self.app_url, item_id, action, amount)

    async def pay(
        self, form: dict[str, Any], outcome: str, *, report: bool = True, **options: Any
    ) -> dict[str, Any]:
        """The shopper pays on the sandbox; every IPN it produced is received by the app.

        ``report=False`` leaves the Saleor reports queued (run them with :meth:`run_jobs`).
        IPNs the sandbox dropped (``drop_ipn_card_types``) stay lost.
        """
        response = await self.http.post(
            f"{self.sandbox_url}/sandbox/api/pay",
            json={"fields": form["fields"], "outcome": outcome, **options},
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        # Whether or not the app's IPN route took them, make sure each is in (duplicates are
        # no-ops), then report them to the fake Saleor.
        for ipn in result["ipns"]:
            if ipn["body"] and not ipn.get("dropped"):
                await receive_ipn(self.services, ipn["body"].encode())
        if report:
            await self.run_jobs()
        return result

    async def run_jobs(
        self, clock: Callable[[], float] = time.time, max_seconds: float = 10
    ) -> int:
        """Run jobs in the test's loop until none is due within a second (``clock`` = queue's now).

        Retries (a reference lock held by a sibling leg, Saleor down) are waited for; jobs due
        later (a refund for tomorrow) stay queued.
        """
        queue = JobQueue(self.services.redis, clock=clock)
        worker = Worker(queue, job_handlers(self.services), base_backoff=0.05, max_backoff=0.2)
        deadline = time.monotonic() + max_seconds
        ran = 0
        while True:
            ran += await worker.drain()
            due = await queue.next_due()
            if due is None or due > clock() + 3.0 or time.monotonic() > deadline:
                return ran
            await asyncio.sleep(min(0.2, max(0.01, due - clock())))

    def move_clock(self, days: int) -> None:
        """Move the app-side clock (the test's services) by ``days``."""
        shift = timedelta(days=days)
        self.services.clock = lambda: datetime.now(UTC) + shift
        self.app_services.clock = lambda: datetime.now(UTC) + shift

    async def move_sandbox_clock(self, days: int) -> None:
        response = await self.http.post(
            f"{self.sandbox_url}/sandbox/api/clock", json={"days": days}
        )
        response.raise_for_status()

    async def executions(self, transaction_number: object) -> list[dict[str, Any]]:
        """The sandbox's ledger of executed captures, cancels and refunds of one transaction."""
        response = await self.http.get(
            f"{self.sandbox_url}/sandbox/api/executions",
            params={"transaction_number": str(transaction_number)},
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["executions"]
        return items

    async def sandbox_transactions(self, reference: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"{self.sandbox_url}/sandbox/api/transactions", params={"reference": reference}
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["transactions"]
        return items


async def open_world(tmp_path: Path, redis_url: str, redis: Any) -> AsyncIterator[World]:
    """Start sandbox, app and fake Saleor; install the app; yield the world."""
    data_dir = tmp_path / "var"
    sandbox_app = create_sandbox_app(SandboxConfig(data_dir=data_dir, ipn_timeout_seconds=5))
    app_port = free_port()
    with serve(sandbox_app) as sandbox_url:
        settings = Settings(
            _env_file=None,
            app_url=f"http://127.0.0.1:{app_port}",
            data_dir=data_dir,
            secret_key=SECRET,
            redis_url=redis_url,
            sandbox_url=sandbox_url,
            # The storefront the tests return to (returnUrl is checked against it).
            up2pay_storefront_origins=["https://shop.example"],
            job_retry_base_seconds=0.05,
            job_retry_max_seconds=0.5,
        )
        app, app_services = _app(settings)
        with serve(app, port=app_port) as app_url, running() as fake:
            saleor = SaleorTransactions(fake)
            http = new_http_client(timeout=httpx.Timeout(20.0))
            services = Services(
                settings=settings, redis=redis, http=http, secretbox=SecretBox(SECRET)
            )
            try:
                installation = await fake.install(app_url)
                assert installation.register_response.status_code == 200
                yield World(app_url, sandbox_url, fake, saleor, services, http, app_services)
            finally:
                await http.aclose()
                await asyncio.sleep(0)


def _app(settings: Settings) -> tuple[Any, Services]:
    """The app with services of its own, opened and closed in the server's event loop."""
    app_services = Services(
        settings=settings,
        redis=new_client(settings.redis_url),
        http=new_http_client(),
        secretbox=SecretBox(SECRET),
    )
    app = create_app(services=app_services)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running_app: Any) -> AsyncIterator[None]:
        async with inner(running_app):
            yield
        await app_services.http.aclose()
        await close_client(app_services.redis)

    app.router.lifespan_context = lifespan
    return app, app_services


def form_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The signed form in a ``transactionInitialize`` answer's ``data``."""
    form: dict[str, Any] = answer["data"]["up2pay"]["form"]
    return form


def field(form: dict[str, Any], name: str) -> str:
    return next(str(v) for k, v in form["fields"] if k == name)


async def paid_checkout(
    world: World,
    total: str,
    method: str = "APETIZ",
    *,
    channel: str = "channel-eur",
    outcome: str = "voucher",
    **options: Any,
) -> tuple[str, list[Item], dict[str, Any]]:
    """A checkout paid on the sandbox, its IPNs reported: (checkout id, items, sandbox result)."""
    checkout = world.saleor.create_checkout(total, channel=channel)
    data = {"method": method, "returnUrl": "https://shop.example/checkout"}
    initialized = await world.initialize(checkout.id, data)
    paid = await world.pay(form_of(initialized), outcome, **options)
    return checkout.id, world.saleor.items_of(checkout.id), paid


def leg_item(items: list[Item], complement: bool = False) -> Item:
    """The voucher leg's item, or the card complement's."""
    return next(i for i in items if (i.name == "Up2pay · card complement") == complement)


async def next_day(world: World) -> None:
    """The day after the payment, for the sandbox and for the app."""
    await world.move_sandbox_clock(1)
    world.move_clock(1)


def event_types(item: Item) -> list[str]:
    return [e.type for e in item.events]


async def save_configuration(world: World, channel: str = "channel-eur", **options: Any) -> None:
    """Map ``channel`` to the "Grocery" configuration (vouchers pay "food"), with ``options``."""
    fields: dict[str, Any] = {
        "methods": ["APETIZ", "CVCONNECT"],
        "meal_eligible_product_types": ["food"],
        "storefront_origins": ["https://shop.example"],
        **options,
    }
    await world.map_configuration("Grocery", channel, **fields)
