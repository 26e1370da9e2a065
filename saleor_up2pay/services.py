"""Process-wide collaborators shared by routes: settings, Redis, one HTTP pool, the secret box.

Built once in the app's lifespan (:func:`saleor_up2pay.main.create_app`) and reached from routes
through :func:`get_services`. Tests build their own with a real Redis and fake outside services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from saleor_up2pay.redis_store import Redis
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.settings import Settings

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def new_http_client(**kwargs: Any) -> httpx.AsyncClient:
    """The shared outbound HTTP pool (Saleor GraphQL, JWKS, Up2pay GAE)."""
    kwargs.setdefault("timeout", HTTP_TIMEOUT)
    kwargs.setdefault("follow_redirects", False)
    kwargs.setdefault("headers", {"User-Agent": "saleor-up2pay"})
    return httpx.AsyncClient(**kwargs)


@dataclass
class Services:
    settings: Settings
    redis: Redis
    http: httpx.AsyncClient
    secretbox: SecretBox
    extras: dict[str, Any] = field(default_factory=dict)
    """Lazily built collaborators, keyed by name (see :meth:`singleton`)."""

    def singleton(self, name: str, factory: Any) -> Any:
        """Build ``factory(self)`` once and keep it for the life of the process."""
        if name not in self.extras:
            self.extras[name] = factory(self)
        return self.extras[name]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
