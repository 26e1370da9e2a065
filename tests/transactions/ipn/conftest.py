"""Fixtures of the IPN tests: the sandbox-style test key trusted, a fake Saleor installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from saleor_up2pay.services import Services
from saleor_up2pay.settings import Settings
from tests.transactions.ipn_support import (
    SaleorWorld,
    install_auth,
    saleor_world,
    write_public_key,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The test settings, trusting the key the tests sign IPNs with."""
    return Settings(
        _env_file=None,
        app_url="http://app.test",
        data_dir=tmp_path / "var",
        secret_key="test-secret-key",
        up2pay_public_keys=[str(write_public_key(tmp_path / "keys"))],
    )


@pytest.fixture
def world() -> Iterator[SaleorWorld]:
    with saleor_world() as world:
        yield world


@pytest.fixture
async def installed(services: Services, world: SaleorWorld) -> SaleorWorld:
    await install_auth(services, world)
    return world
