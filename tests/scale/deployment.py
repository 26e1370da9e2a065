"""A whole deployment of the app on loopback, as separate processes, for the scale tests.

- ``servers`` × ``saleor-up2pay serve --no-worker`` and ``workers`` × ``saleor-up2pay worker``
  (or one plain ``saleor-up2pay serve``, HTTP plus its worker child), real subprocesses of the
  CLI, all on one ``REDIS_URL``; workers run through :mod:`tests.scale.short_lock_cli`;
- a round-robin :class:`~tests.support.balancer.Balancer` in front of the servers: it is the
  ``APP_URL`` (manifest, installation, the sandbox's IPNs) and where Saleor sends its webhooks;
- ``saleor-up2pay sandbox`` sharing the servers' ``DATA_DIR`` (the app trusts its IPN key), also
  the GAE every order action reaches; a second IPN key (:class:`benchmarks.messages.Up2paySigner`,
  listed in ``UP2PAY_PUBLIC_KEYS``) signs the burst's IPNs without a payment page;
- the schema-validating fake Saleor (:mod:`tests.fakes`, in the test process) with transaction
  keeping, two instances of it (two job-queue shards; on a Cluster each on the primary of its
  instance's hash slot), the app installed on each through the balancer.

:func:`deploy` stops every process when its block ends, whatever happened in it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.messages import Up2paySigner
from tests.fakes.fake_saleor import FakeSaleor, GraphQLCall, running
from tests.fakes.fake_saleor_transactions import SaleorTransactions
from tests.support.app_processes import (
    AppProcess,
    Processes,
    processes,
    stop,
    wait_http,
    wait_log,
)
from tests.support.balancer import Balancer
from tests.support.servers import free_port, serve

SECRET = "scale-test-secret-key"
STOREFRONT = "https://shop.example"
LOCKED_CLI = "tests.scale.short_lock_cli"


class PatientSaleor(SaleorTransactions):
    """Saleor's transaction side, redelivering a failed action request after a pause.

    The suite's fake redelivers at once (enough against an app that crashed at a point); Saleor
    retries its action-request task with a delay, which is what carries a request over a Redis
    failover of a few seconds.
    """

    redelivery_pause = 0.5

    def __init__(self, fake: FakeSaleor) -> None:
        super().__init__(fake)
        self.already_processed = 0
        """Reports Saleor answered ``alreadyProcessed`` (an idempotent re-report)."""
        self._count_lock = threading.Lock()
        resolve = fake.resolvers["transactionEventReport"]

        def counting(variables: dict[str, Any], call: GraphQLCall) -> Any:
            answer = resolve(variables, call)
            if isinstance(answer, dict) and answer.get("alreadyProcessed"):
                with self._count_lock:
                    self.already_processed += 1
            return answer

        fake.resolvers["transactionEventReport"] = counting

    async def _send_action(
        self, event: str, app_url: str, payload: dict[str, Any]
    ) -> tuple[int, Any]:
        self.action_deliveries.append((event, payload))
        status, answer = 0, None
        for attempt in range(self.action_redeliveries + 1):
            if attempt:
                await asyncio.sleep(self.redelivery_pause * attempt)
            try:
                status, answer = await self._send(event, app_url, payload)
            except httpx.TransportError:
                self.webhook_responses.append((event, 0, None))
                status, answer = 0, None
            if 200 <= status < 500:
                break
        return (status or 502), answer


@dataclass
class Deployment:
    """What :func:`deploy` started."""

    redis_url: str
    folder: Path
    group: Processes
    balancer: Balancer
    app_url: str
    """The balancer: every server behind one URL."""
    sandbox_url: str
    saleors: list[PatientSaleor]
    """One per Saleor instance the app is installed on (each has its own queue shard)."""
    signer: Up2paySigner
    servers: list[AppProcess] = field(default_factory=list)
    workers: list[AppProcess] = field(default_factory=list)
    restarts: int = 0

    @property
    def saleor(self) -> PatientSaleor:
        """The first instance (where the order actions' payments are made)."""
        return self.saleors[0]

    @property
    def fake(self) -> FakeSaleor:
        return self.saleors[0].fake

    def start_server(self, number: int, port: int, *, plain: bool = False) -> AppProcess:
        role = ["serve"] if plain else ["serve", "--no-worker"]
        return self.group.start(
            f"serve-{number}-{self.restarts}",
            [*role, "--port", str(port)],
            url=f"http://127.0.0.1:{port}",
            env={"REDIS_URL": self.redis_url},
        )

    def start_worker(self, number: int) -> AppProcess:
        return self.group.start(
            f"worker-{number}-{self.restarts}",
            ["worker"],
            module=LOCKED_CLI,
            env={"REDIS_URL": self.redis_url},
        )

    async def wait_ready(self) -> None:
        for server in self.servers:
            if server.alive:
                await asyncio.to_thread(wait_http, server)
        for worker in self.workers:
            if worker.alive:
                await asyncio.to_thread(wait_log, worker, '"event": "worker.started"')

    async def repoint(self, redis_url: str) -> None:
        """Restart every live process on ``redis_url`` (an operator pointing the app at the
        replica promoted after its primary died); the processes killed before stay dead."""
        self.redis_url = redis_url
        self.restarts += 1
        plain = not self.workers
        for number, server in enumerate(self.servers):
            if server.alive:
                await asyncio.to_thread(stop, server, 5.0)
                port = int(str(server.url).rsplit(":", 1)[1])
                self.servers[number] = self.start_server(number, port, plain=plain)
        for number, worker in enumerate(self.workers):
            if worker.alive:
                await asyncio.to_thread(stop, worker, 5.0)
                self.workers[number] = self.start_worker(number)
        await self.wait_ready()

    @property
    def server_urls(self) -> list[str]:
        return [s.url for s in self.servers if s.url]

    @property
    def label(self) -> str:
        if not self.workers:
            return f"{len(self.servers)} serve (with its worker child)"
        return f"{len(self.servers)} serve --no-worker + {len(self.workers)} worker"


def app_environment(
    redis_url: str, data_dir: Path, sandbox_url: str, app_url: str, signer: Up2paySigner
) -> dict[str, str]:
    """The environment of every app process (and of the sandbox)."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("UP2PAY_", "SALEOR_", "REDIS_", "LOG_", "JOB_", "APP_", "OTEL_", "PROMETHEUS_")
        )
        and key not in {"SECRET_KEY", "DATA_DIR", "SANDBOX_URL", "PORT", "METRICS_TOKEN"}
    }
    return {
        **inherited,
        "HOST": "127.0.0.1",
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "DATA_DIR": str(data_dir),
        "SANDBOX_URL": sandbox_url,
        "APP_URL": app_url,
        "UP2PAY_PUBLIC_KEYS": str(signer.pem_path),
        "UP2PAY_STOREFRONT_ORIGINS": STOREFRONT,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        # A killed worker's jobs are taken over after 2 s; failed reports retried within 1 s.
        "JOB_LEASE_SECONDS": "2",
        "JOB_RETRY_BASE_SECONDS": "0.2",
        "JOB_RETRY_MAX_SECONDS": "1",
        "WORKER_GRACE_SECONDS": "5",
        # An order action's intent left by a killed server is settled after this.
        "GAE_TIME_BUDGET_SECONDS": "4",
    }


@asynccontextmanager
async def deploy(
    redis_url: str, folder: Path, *, servers: int, workers: int, instances: int = 2
) -> AsyncIterator[Deployment]:
    """Start the deployment (``workers=0``: ``servers`` plain ``serve`` processes) and install
    the app on ``instances`` fake Saleors; everything is stopped when the block ends."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    signer = Up2paySigner(folder)
    ports = [free_port() for _ in range(servers)]
    backends = [f"http://127.0.0.1:{port}" for port in ports]  # start_server() uses the same
    balancer = Balancer(backends)
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    with ExitStack() as stack:
        app_url = stack.enter_context(serve(balancer))
        saleors = []
        for number in range(instances):
            # Signing keys 0, 2, 4...: FakeSaleor.rotate_key takes the next index.
            fake = stack.enter_context(running(FakeSaleor(key_index=2 * number)))
            saleors.append(PatientSaleor(fake))
            saleors[-1].action_redeliveries = 8
        env = app_environment(redis_url, folder / "var", sandbox_url, app_url, signer)
        group = stack.enter_context(processes(folder, env))
        sandbox = group.start("sandbox", ["sandbox", "--port", str(sandbox_port)], url=sandbox_url)
        await asyncio.to_thread(wait_http, sandbox, "/pubkey.pem")
        deployment = Deployment(
            redis_url, folder, group, balancer, app_url, sandbox_url, saleors, signer
        )
        for number, port in enumerate(ports):
            deployment.servers.append(deployment.start_server(number, port, plain=not workers))
        for number in range(workers):
            deployment.workers.append(deployment.start_worker(number))
        await deployment.wait_ready()
        for saleor in saleors:
            installation = await saleor.fake.install(app_url)
            registered = installation.register_response
            assert registered.status_code == 200, registered
        yield deployment
