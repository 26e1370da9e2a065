"""The configuration API only answers a valid Dashboard token, and reads/writes nothing otherwise."""

from __future__ import annotations

import httpx
import pytest

from saleor_up2pay.configuration import ConfigurationRepository
from saleor_up2pay.services import Services
from tests.dashboard.conftest import SAVE, Dashboard, config_input
from tests.fakes.fake_saleor import FakeSaleor, SigningKey, running

VIEWER = "query { viewer { saleorApiUrl email } }"
CHANNELS = "query { channels { slug } }"


def channel_reads(dashboard: Dashboard) -> int:
    return sum(1 for call in dashboard.saleor.calls if "channels" in call.root_fields)


class TestAcceptedToken:
    async def test_good_token_is_accepted(self, dashboard: Dashboard) -> None:
        """A fresh token of this app, with HANDLE_PAYMENTS, reaches the API."""
        data = await dashboard.gql(VIEWER)
        assert data["viewer"] == {
            "saleorApiUrl": dashboard.saleor.api_url,
            "email": "admin@example.com",
        }

    async def test_refreshed_token_works_too(self, dashboard: Dashboard) -> None:
        """A second token (as after tokenRefresh) is accepted as well."""
        first = await dashboard.post(VIEWER, token=dashboard.token())
        second = await dashboard.post(VIEWER, token=dashboard.token(lifetime_seconds=600))
        assert (first.status_code, second.status_code) == (200, 200)


class TestRefusedToken:
    @pytest.mark.parametrize(
        ("case", "status", "code"),
        [
            ("no token", 400, "MISSING_DASHBOARD_TOKEN"),
            ("no api url", 400, "MISSING_DASHBOARD_TOKEN"),
            ("garbage", 401, "INVALID_TOKEN"),
            ("expired", 401, "TOKEN_EXPIRED"),
            ("wrong app", 401, "INVALID_TOKEN"),
            ("other key", 401, "INVALID_TOKEN"),
            ("other iss", 401, "INVALID_TOKEN"),
            ("not thirdparty", 401, "INVALID_TOKEN"),
            ("no HANDLE_PAYMENTS", 403, "MISSING_PERMISSION"),
            ("not installed", 401, "NOT_INSTALLED"),
        ],
    )
    async def test_refused_and_nothing_written(
        self,
        dashboard: Dashboard,
        repo: ConfigurationRepository,
        case: str,
        status: int,
        code: str,
    ) -> None:
        """A bad call gets an error with a public code; no configuration is saved, Saleor not read."""
        saleor = dashboard.saleor
        token: str | None = ""
        api_url: str | None = ""
        if case == "no token":
            token = None
        elif case == "no api url":
            api_url = None
        elif case == "garbage":
            token = "not.a.jwt"
        elif case == "expired":
            token = saleor.dashboard_token(lifetime_seconds=-120)
        elif case == "wrong app":
            token = saleor.dashboard_token(app_id="QXBwOjk5OQ==")
        elif case == "other key":
            token = saleor.dashboard_token(key=SigningKey.pooled(7))
        elif case == "other iss":
            token = saleor.dashboard_token(iss="https://other-shop.example.com/graphql/")
        elif case == "not thirdparty":
            token = saleor.dashboard_token(type="access")
        elif case == "no HANDLE_PAYMENTS":
            token = saleor.dashboard_token(user_permissions=["MANAGE_APPS", "MANAGE_ORDERS"])
        elif case == "not installed":
            api_url = "https://other-shop.example.com/graphql/"

        save = await dashboard.post(
            SAVE + CHANNELS.replace("query", "query Channels"),
            {"input": config_input()},
            token=token,
            api_url=api_url,
        )

        assert save.status_code == status, save.text
        assert save.json() == {
            "success": False,
            "error": {"code": code, "message": save.json()["error"]["message"]},
        }
        assert save.json()["error"]["message"]
        assert await repo.list(saleor.api_url) == []
        assert channel_reads(dashboard) == 0

    async def test_token_of_another_installed_instance_is_refused(
        self, dashboard: Dashboard, app_client: httpx.AsyncClient, services: Services
    ) -> None:
        """Two stores installed the app: a token only opens the store that minted it."""
        with running(FakeSaleor(key_index=3)) as other:
            other.resolvers["channels"] = lambda *_: []
            installed = await other.install(services.settings.app_url, client=app_client)
            assert installed.register_response.status_code == 200
            mine, theirs = dashboard.saleor, other

            crossed = await dashboard.post(
                VIEWER, token=theirs.dashboard_token(), api_url=mine.api_url
            )
            crossed_back = await dashboard.post(
                VIEWER, token=mine.dashboard_token(), api_url=theirs.api_url
            )
            own = await dashboard.post(
                VIEWER, token=theirs.dashboard_token(), api_url=theirs.api_url
            )

        assert (crossed.status_code, crossed_back.status_code) == (401, 401)
        assert own.status_code == 200
        assert own.json()["data"]["viewer"]["saleorApiUrl"] == theirs.api_url

    async def test_missing_permission_message_names_it(self, dashboard: Dashboard) -> None:
        """The merchant is told which permission is missing."""
        token = dashboard.saleor.dashboard_token(user_permissions=[])
        response = await dashboard.post(VIEWER, token=token)
        assert "HANDLE_PAYMENTS" in response.json()["error"]["message"]
