"""Channels of a Saleor instance with the configuration each uses (use case of the page).

Channels are read from Saleor with the app token (``graphql/queries/channels.graphql``); the
mapping comes from the :class:`~saleor_up2pay.configuration.ConfigurationRepository`. Up2pay
vouchers are euro-only, so a channel in another currency is listed as not eligible and cannot be
mapped to a configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from saleor_up2pay.configuration import ConfigurationRepository
from saleor_up2pay.dashboard.auth import DashboardSession
from saleor_up2pay.errors import AppError, ServiceUnavailable
from saleor_up2pay.saleor.client import SaleorClient, SaleorError
from saleor_up2pay.services import Services

log = structlog.get_logger(__name__)

ELIGIBLE_CURRENCY = "EUR"


class SaleorUnavailable(ServiceUnavailable):
    """Saleor did not answer the channel list."""

    public_code = "SALEOR_UNAVAILABLE"


class ChannelNotEligible(AppError):
    """A channel in another currency than the euro cannot use Up2pay vouchers."""

    status_code = 400
    public_code = "CHANNEL_NOT_ELIGIBLE"


class UnknownChannel(AppError):
    """No channel with this slug in Saleor."""

    status_code = 404
    public_code = "UNKNOWN_CHANNEL"


@dataclass(frozen=True)
class ChannelView:
    """One row of the channel table."""

    id: str | None
    slug: str
    name: str
    currency_code: str
    is_active: bool
    configuration_id: str | None
    """``None``: the channel uses the default configuration."""
    in_saleor: bool = True
    """False for a mapping left behind by a channel deleted in Saleor (can only be unmapped)."""

    @property
    def eligible(self) -> bool:
        return self.currency_code.upper() == ELIGIBLE_CURRENCY


async def fetch_saleor_channels(services: Services, session: DashboardSession) -> list[ChannelView]:
    """Channels as Saleor lists them (without mapping)."""
    client = SaleorClient(services.http, session.saleor_api_url, session.auth.token)
    try:
        data = await client.execute("channels")
    except SaleorError as exc:
        log.warning("dashboard.channels_unavailable", reason=str(exc))
        msg = "Saleor did not answer the list of channels. Try again in a moment."
        raise SaleorUnavailable(msg) from None
    rows = data.get("channels") or []
    channels = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("slug"), str):
            continue
        channels.append(
            ChannelView(
                id=row.get("id") if isinstance(row.get("id"), str) else None,
                slug=row["slug"],
                name=str(row.get("name") or row["slug"]),
                currency_code=str(row.get("currencyCode") or ""),
                is_active=bool(row.get("isActive")),
                configuration_id=None,
            )
        )
    return channels


async def list_channels(
    services: Services, session: DashboardSession, repo: ConfigurationRepository
) -> list[ChannelView]:
    """Saleor's channels with their configuration, plus mappings of channels Saleor dropped."""
    channels = await fetch_saleor_channels(services, session)
    mapping = await repo.channel_mapping(session.saleor_api_url)
    rows = [
        ChannelView(
            id=c.id,
            slug=c.slug,
            name=c.name,
            currency_code=c.currency_code,
            is_active=c.is_active,
            configuration_id=mapping.get(c.slug),
        )
        for c in channels
    ]
    known = {c.slug for c in channels}
    rows.extend(
        ChannelView(
            id=None,
            slug=slug,
            name=slug,
            currency_code="",
            is_active=False,
            configuration_id=config_id,
            in_saleor=False,
        )
        for slug, config_id in sorted(mapping.items())
        if slug not in known
    )
    return sorted(rows, key=lambda c: (not c.in_saleor, c.name.casefold(), c.slug))


async def map_channel(
    services: Services,
    session: DashboardSession,
    repo: ConfigurationRepository,
    channel_slug: str,
    configuration_id: str | None,
) -> ChannelView:
    """Make a channel use a configuration (``None`` = default); non-euro channels refused."""
    rows = await list_channels(services, session, repo)
    channel = next((c for c in rows if c.slug == channel_slug), None)
    if channel is None:
        raise UnknownChannel("This channel does not exist in Saleor.")
    if configuration_id is not None and channel.in_saleor and not channel.eligible:
        msg = (
            f"Channel {channel.name} uses {channel.currency_code}: Up2pay vouchers are paid in "
            "euros only."
        )
        raise ChannelNotEligible(msg)
    if configuration_id is not None and not channel.in_saleor:
        raise UnknownChannel("This channel no longer exists in Saleor: it can only be unmapped.")
    await repo.map_channel(session.saleor_api_url, channel_slug, configuration_id)
    stored = (await repo.channel_mapping(session.saleor_api_url)).get(channel_slug)
    return ChannelView(
        id=channel.id,
        slug=channel.slug,
        name=channel.name,
        currency_code=channel.currency_code,
        is_active=channel.is_active,
        configuration_id=stored,
        in_saleor=channel.in_saleor,
    )
