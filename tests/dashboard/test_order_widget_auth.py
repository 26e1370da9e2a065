"""The order widget's API checks the Dashboard token before it reads the body or asks Saleor.

docs/order-widget.md: every call of ``POST /api/order-widget/{legs,propose,confirm,grant,check}``
carries the Dashboard token, and nothing is read before it is verified.
"""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import Dashboard

PATHS = ["legs", "propose", "confirm", "grant", "check"]


async def post(dashboard: Dashboard, path: str, token: str) -> tuple[int, str]:
    response = await dashboard.client.post(
        f"/api/order-widget/{path}",
        content=b"{not json",
        headers={
            "content-type": "application/json",
            "saleor-api-url": dashboard.saleor.api_url,
            "authorization-bearer": token,
        },
    )
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.parametrize("path", PATHS)
async def test_a_bad_token_is_refused_before_the_body_or_saleor_is_read(
    dashboard: Dashboard, path: str
) -> None:
    calls = len(dashboard.saleor.calls)
    assert await post(dashboard, path, "not-a-token") == (401, "INVALID_TOKEN")
    assert len(dashboard.saleor.calls) == calls


@pytest.mark.parametrize("path", PATHS)
async def test_with_a_good_token_the_same_body_is_refused_as_not_json(
    dashboard: Dashboard, path: str
) -> None:
    """The control: the body above is refused once the token passes (so it was not read)."""
    assert await post(dashboard, path, dashboard.token()) == (400, "BAD_REQUEST")
