"""A sandbox Up2pay configuration mapped to a channel, as the use-case tests need one."""

from __future__ import annotations

from typing import Any

from saleor_up2pay.configuration import ConfigurationInput, ConfigurationRepository

SANDBOX_ACCOUNT: dict[str, Any] = {
    "environment": "sandbox",
    "site": "1999888",
    "rang": "32",
    "identifiant": "107904482",
    "hmac_key": "0123456789ABCDEF" * 8,
}
"""The sandbox merchant account (site, rang, identifiant and HMAC key) every test uses."""


async def map_sandbox_configuration(
    configs: ConfigurationRepository,
    saleor_api_url: str,
    channel: str,
    name: str,
    **fields: Any,
) -> None:
    """Save a configuration ``name`` with ``fields`` (over the sandbox account); map ``channel``."""
    saved = await configs.save(
        saleor_api_url, ConfigurationInput(**{"name": name, **SANDBOX_ACCOUNT, **fields})
    )
    await configs.map_channel(saleor_api_url, channel, saved.id)
