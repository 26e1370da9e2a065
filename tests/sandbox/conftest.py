"""Fixtures: the sandbox in-process (ASGI), with its IPNs sent to an in-process shop receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from saleor_up2pay.sandbox import SandboxConfig, create_sandbox_app


@dataclass
class Received:
    method: str
    path: str
    query: str
    body: str


@dataclass
class ShopReceiver:
    """A merchant's server: records every request raw, answers ``status``."""

    status: int = 200
    requests: list[Received] = field(default_factory=list)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(
            Received(
                method=scope["method"],
                path=scope["path"],
                query=scope["query_string"].decode("ascii"),
                body=body.decode("utf-8"),
            )
        )
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def ipns(self) -> list[Received]:
        return [r for r in self.requests if r.path == "/ipn"]


@pytest.fixture
def shop() -> ShopReceiver:
    return ShopReceiver()


@pytest.fixture
def sandbox_config(tmp_path: Path) -> SandboxConfig:
    return SandboxConfig(data_dir=tmp_path / "var")


@pytest.fixture
async def sandbox(
    sandbox_config: SandboxConfig, shop: ShopReceiver
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the sandbox; its IPNs reach ``shop``."""
    ipn_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=shop))
    app = create_sandbox_app(sandbox_config, http=ipn_http)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
            yield client
    await ipn_http.aclose()
