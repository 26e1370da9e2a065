""" "Check credentials": prove SITE/RANG/IDENTIFIANT/HMAC key are accepted by an Up2pay platform.

A signed GAE call (:meth:`saleor_up2pay.up2pay.gae.GaeClient.check_credentials`) to the chosen
environment: the sandbox at ``SANDBOX_URL``, Up2pay's test or live platform, or the URLs of
``UP2PAY_GAE_URLS`` when set (they apply in every environment). The answer is put in words for the
merchant; nothing is stored and the key never leaves this function except inside the signed call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog
from pydantic import BaseModel, ConfigDict

from saleor_up2pay.configuration.models import (
    EnvironmentName,
    HmacKeyText,
    Identifiant,
    Rang,
    Site,
)
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.gateway import endpoints
from saleor_up2pay.up2pay.gae import CredentialsVerdict, GaeClient, RedisNumQuestions
from saleor_up2pay.up2pay.models import Credentials

log = structlog.get_logger(__name__)

Verdict = Literal["ACCEPTED", "REFUSED", "UNREACHABLE", "INCONCLUSIVE"]


class CredentialsInput(BaseModel):
    """What to check: the same field rules as a configuration, the key required."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: EnvironmentName
    site: Site
    rang: Rang
    identifiant: Identifiant
    hmac_key: HmacKeyText

    def __repr__(self) -> str:
        return (
            f"CredentialsInput(environment={self.environment!r}, site={self.site!r}, "
            f"rang={self.rang!r}, identifiant={self.identifiant!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class CredentialsOutcome:
    """The answer, in words."""

    ok: bool
    verdict: Verdict
    code: str | None
    message: str


_VERDICTS: dict[CredentialsVerdict, Verdict] = {
    CredentialsVerdict.ACCEPTED: "ACCEPTED",
    CredentialsVerdict.REFUSED: "REFUSED",
    CredentialsVerdict.UNAVAILABLE: "UNREACHABLE",
    CredentialsVerdict.INCONCLUSIVE: "INCONCLUSIVE",
}


async def check_credentials(services: Services, data: CredentialsInput) -> CredentialsOutcome:
    """Run the signed test call against ``data.environment`` and describe the outcome."""
    settings = services.settings
    client = GaeClient(
        services.http,
        Credentials(
            site=data.site, rang=data.rang, identifiant=data.identifiant, hmac_key=data.hmac_key
        ),
        endpoints(settings, data.environment).gae_urls,
        RedisNumQuestions(services.redis),
        time_budget=float(settings.gae_time_budget_seconds),
    )
    check = await client.check_credentials()
    verdict = _VERDICTS[check.verdict]
    log.info(
        "dashboard.credentials_checked",
        environment=data.environment,
        site=data.site,
        rang=data.rang,
        verdict=verdict,
        code=check.code,
    )
    return CredentialsOutcome(
        ok=check.ok, verdict=verdict, code=check.code or None, message=check.message
    )
