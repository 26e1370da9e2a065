"""Reaching Up2pay for one configuration: credentials, platform URLs, the GAE client, the clock.

The use cases never build URLs or clients themselves: they ask :class:`Up2payGateways` for the
:class:`Up2payGateway` of a channel's configuration, which applies the URL overrides from settings
(``UP2PAY_HOSTED_PAGE_URLS``, ``UP2PAY_GAE_URLS``, ``SANDBOX_URL``) in every environment.

The app's clock is :attr:`Services.clock <saleor_up2pay.services.Services.clock>` (tests move it
together with the sandbox's clock, to reach "the day after the payment").
"""

from __future__ import annotations

from collections.abc import Callable

from saleor_up2pay.configuration import EnvironmentName, Up2payConfiguration
from saleor_up2pay.services import Clock, Services
from saleor_up2pay.settings import Settings
from saleor_up2pay.up2pay import (
    Endpoints,
    GaeClient,
    RedisNumQuestions,
    endpoints_for,
)
from saleor_up2pay.up2pay.models import Credentials

__all__ = ["Clock", "GatewayFactory", "Up2payGateway", "app_clock", "endpoints", "gateway_factory"]


def endpoints(settings: Settings, environment: EnvironmentName) -> Endpoints:
    """The platform URLs of an environment, with the overrides from settings applied."""
    return endpoints_for(
        environment,
        sandbox_url=settings.sandbox_url,
        hosted_page_urls=settings.up2pay_hosted_page_urls,
        gae_urls=settings.up2pay_gae_urls,
    )


def app_clock(services: Services) -> Clock:
    """The clock the payment use cases read: :attr:`Services.clock`, looked up at each call."""
    return services.now


class Up2payGateway:
    """Up2pay as seen through one configuration (one merchant account on one platform)."""

    def __init__(self, services: Services, config: Up2payConfiguration) -> None:
        settings = services.settings
        self.config = config
        self.credentials = Credentials(
            site=config.site,
            rang=config.rang,
            identifiant=config.identifiant,
            hmac_key=config.hmac_key.get_secret_value(),
        )
        self.endpoints = endpoints(settings, config.environment)
        self._services = services

    def __repr__(self) -> str:
        return f"Up2payGateway(config={self.config.id!r}, environment={self.config.environment!r})"

    def gae(self) -> GaeClient:
        """A GAE client for this account (main host first, then the backup)."""
        services = self._services
        return GaeClient(
            services.http,
            self.credentials,
            self.endpoints.gae_urls,
            RedisNumQuestions(services.redis),
            time_budget=float(services.settings.gae_time_budget_seconds),
            clock=app_clock(services),
        )

    async def action_url(self) -> str:
        """Where the shopper's browser posts the form (checks availability in live)."""
        return await self._services.hosted_page_locator.action_url(self.endpoints)


GatewayFactory = Callable[[Up2payConfiguration], Up2payGateway]


def gateway_factory(services: Services) -> GatewayFactory:
    """Builds the :class:`Up2payGateway` of a configuration."""
    return lambda config: Up2payGateway(services, config)
