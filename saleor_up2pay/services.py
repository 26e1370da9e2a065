"""Process-wide collaborators shared by routes and jobs, as typed fields.

Built once in the app's lifespan (:func:`saleor_up2pay.main.create_app`) and reached from routes
through :func:`get_services`. The four inputs (settings, Redis, the HTTP pool, the secret box) are
given; everything else is built from them in :meth:`Services.__post_init__`, the one place the
app's long-lived collaborators are made. Tests build their own with a real Redis and fake outside
services, and move :attr:`Services.clock` instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from saleor_up2pay.configuration.repository import ConfigurationRepository
from saleor_up2pay.jobs import JobQueue
from saleor_up2pay.problems import ProblemBoard
from saleor_up2pay.redis_store import Redis, ReplicaAcks
from saleor_up2pay.saleor.apl import AuthStore
from saleor_up2pay.saleor.batching import MutationBatcher
from saleor_up2pay.saleor.client import SaleorClient
from saleor_up2pay.saleor.signature import JwksVerifier
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.settings import Settings
from saleor_up2pay.transactions.ipn_keys import IpnKeys
from saleor_up2pay.up2pay import HostedPageLocator

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
HTTP_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=64)
"""Kept-alive connections cover the job worker's concurrent reports (httpx keeps 20 by default:
with 32 reports at once, a dozen connections were opened and closed per batch)."""

Clock = Callable[[], datetime]

FaultHook = Callable[[str], Awaitable[None]]
"""Test-only: called at each named crash point of a money-moving operation (``before_gae``,
``after_gae``, ``after_journal``); raising there stands for the process dying at that point."""


async def no_faults(point: str) -> None:
    """The production :data:`FaultHook`: nothing happens."""


def utc_now() -> datetime:
    """The real time, timezone-aware (the default :attr:`Services.clock`)."""
    return datetime.now(UTC)


def new_http_client(**kwargs: Any) -> httpx.AsyncClient:
    """The shared outbound HTTP pool (Saleor GraphQL, JWKS, Up2pay GAE)."""
    kwargs.setdefault("timeout", HTTP_TIMEOUT)
    kwargs.setdefault("limits", HTTP_LIMITS)
    kwargs.setdefault("follow_redirects", False)
    kwargs.setdefault("headers", {"User-Agent": "saleor-up2pay"})
    return httpx.AsyncClient(**kwargs)


@dataclass
class Services:
    settings: Settings
    redis: Redis
    http: httpx.AsyncClient
    secretbox: SecretBox
    clock: Clock = utc_now
    """The clock the payment use cases read (tests move it with the sandbox's clock)."""
    faults: FaultHook = no_faults
    """Test-only crash points of the order actions (:data:`FaultHook`); never set in production."""

    auth_store: AuthStore = field(init=False)
    """Installed Saleor instances and their (encrypted) tokens."""
    jwks_verifier: JwksVerifier = field(init=False)
    """Verifies webhook signatures and dashboard tokens against each instance's JWKS."""
    configurations: ConfigurationRepository = field(init=False)
    """Up2pay configurations per instance and their channel mapping."""
    job_queue: JobQueue = field(init=False)
    """The durable queue the worker runs (IPN reports, follow-up events, deferred refunds)."""
    hosted_page_locator: HostedPageLocator = field(init=False)
    """Finds an available Up2pay hosted-page host (checked in live)."""
    ipn_keys: IpnKeys = field(init=False)
    """Public keys IPN and browser-return signatures are checked with."""
    problems: ProblemBoard = field(init=False)
    """What the merchant must look at: kept per instance and raised as Saleor App problems."""
    saleor_batcher: MutationBatcher = field(init=False)
    """Concurrent leg reports to one Saleor instance share requests (aliased mutations)."""
    replica_acks: ReplicaAcks = field(init=False)
    """Makes the IPN intake wait for a replica's acknowledgement (REDIS_REPLICA_ACK)."""

    def __post_init__(self) -> None:
        self.auth_store = AuthStore(self.redis, self.secretbox)
        self.jwks_verifier = JwksVerifier(self.auth_store, self.http)
        self.configurations = ConfigurationRepository(self.redis, self.secretbox, self.settings)
        self.job_queue = JobQueue(self.redis, visibility_timeout=self.settings.job_lease_seconds)
        self.hosted_page_locator = HostedPageLocator(self.http)
        self.ipn_keys = IpnKeys.from_settings(self.settings)
        self.problems = ProblemBoard(self.redis, self.saleor_client, clock=self.now)
        self.saleor_batcher = MutationBatcher(
            max_mutations=self.settings.saleor_mutations_per_request
        )
        self.replica_acks = ReplicaAcks(
            self.settings.redis_replica_ack, self.settings.redis_replica_ack_ms
        )

    async def saleor_client(self, saleor_api_url: str) -> SaleorClient | None:
        """The GraphQL client of an installed Saleor instance (None: not installed)."""
        auth = await self.auth_store.get(saleor_api_url)
        return SaleorClient(self.http, saleor_api_url, auth.token) if auth is not None else None

    def now(self) -> datetime:
        """:attr:`clock` read now (a field may be replaced; bound methods see the new one)."""
        return self.clock()


def services_of(request: Request) -> Services:
    """The app's :class:`Services` (set on ``app.state`` by the lifespan)."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """FastAPI dependency: :func:`services_of`. ``async`` on purpose: a plain ``def``
    dependency runs in the thread pool, one hand-off per request."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]
