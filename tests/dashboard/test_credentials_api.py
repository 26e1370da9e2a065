""" "Check credentials" against the Up2pay sandbox served on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from saleor_up2pay.sandbox import DEFAULT_ACCOUNT, SandboxConfig, create_sandbox_app
from saleor_up2pay.settings import Settings
from tests.dashboard.conftest import SAVE, Dashboard, config_input
from tests.support.servers import free_port, serve

CHECK = """
mutation Check($input: CredentialsInput!) {
  checkCredentials(input: $input) {
    result { ok verdict code message environment }
    errors { field code message }
  }
}
"""


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[str]:
    """The Up2pay sandbox over real HTTP, knowing only the public test account."""
    with serve(create_sandbox_app(SandboxConfig(data_dir=tmp_path / "sandbox"))) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, sandbox_url: str) -> Settings:
    return Settings(
        _env_file=None,
        app_url="http://app.test",
        data_dir=tmp_path / "var",
        secret_key="test-secret-key",
        sandbox_url=sandbox_url,
    )


def credentials(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "environment": "SANDBOX",
        "site": DEFAULT_ACCOUNT.site,
        "rang": DEFAULT_ACCOUNT.rang,
        "identifiant": DEFAULT_ACCOUNT.identifiant,
        "hmacKey": DEFAULT_ACCOUNT.hmac_key,
    }
    data.update(overrides)
    return data


async def check(dashboard: Dashboard, **overrides: Any) -> dict[str, Any]:
    data = await dashboard.gql(CHECK, {"input": credentials(**overrides)})
    payload: dict[str, Any] = data["checkCredentials"]
    return payload


class TestCheckCredentials:
    async def test_sandbox_accepts_its_test_account(self, dashboard: Dashboard) -> None:
        """The sandbox's public account is accepted, and the answer says so in words."""
        payload = await check(dashboard)
        assert payload["errors"] == []
        result = payload["result"]
        assert (result["ok"], result["verdict"], result["environment"]) == (
            True,
            "ACCEPTED",
            "SANDBOX",
        )
        assert "accepted" in result["message"].lower()

    async def test_wrong_key_is_refused(self, dashboard: Dashboard) -> None:
        """Another HMAC key is refused by the sandbox like Up2pay does (00006)."""
        payload = await check(dashboard, hmacKey="AB" * 64)
        result = payload["result"]
        assert (result["ok"], result["verdict"], result["code"]) == (False, "REFUSED", "00006")
        assert result["message"]

    async def test_unknown_site_is_refused(self, dashboard: Dashboard) -> None:
        """A SITE/RANG the platform does not know is refused."""
        payload = await check(dashboard, site="1234567")
        assert payload["result"]["verdict"] == "REFUSED"

    async def test_stored_key_is_used_when_the_field_is_empty(self, dashboard: Dashboard) -> None:
        """Checking a saved configuration with an empty key field uses its stored key."""
        saved = await dashboard.gql(
            SAVE,
            {"input": config_input(environment="SANDBOX", hmacKey=DEFAULT_ACCOUNT.hmac_key)},
        )
        config_id = saved["saveConfiguration"]["configuration"]["id"]
        payload = await check(dashboard, hmacKey="", configurationId=config_id)
        assert payload["result"]["verdict"] == "ACCEPTED"

    async def test_default_configuration_can_be_checked(self, dashboard: Dashboard) -> None:
        """The settings' default (the sandbox account) can be checked from the page."""
        payload = await check(dashboard, hmacKey="", configurationId="default")
        assert payload["result"]["ok"] is True

    async def test_invalid_fields_are_reported_before_any_call(self, dashboard: Dashboard) -> None:
        """Malformed credentials are field errors; Up2pay is not called."""
        payload = await check(dashboard, site="12", hmacKey="")
        assert payload["result"] is None
        assert {(e["field"], e["code"]) for e in payload["errors"]} == {
            ("site", "site_format"),
            ("hmacKey", "hmac_key_format"),
        }

    async def test_key_never_comes_back(self, dashboard: Dashboard) -> None:
        """The answer never contains the key that was checked."""
        response = await dashboard.post(CHECK, {"input": credentials(hmacKey="CD" * 64)})
        assert "CD" * 64 not in response.text
        assert ("CD" * 64).lower() not in response.text


class TestUnreachable:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(
            _env_file=None,
            app_url="http://app.test",
            data_dir=tmp_path / "var",
            secret_key="test-secret-key",
            sandbox_url=f"http://127.0.0.1:{free_port()}",
            gae_time_budget_seconds=2,
        )

    async def test_platform_down_is_said_plainly(self, dashboard: Dashboard) -> None:
        """When the platform cannot be reached, the answer says nothing was checked."""
        payload = await check(dashboard)
        result = payload["result"]
        assert (result["ok"], result["verdict"]) == (False, "UNREACHABLE")
        assert result["message"]
