"""Browser tests: Debian's headless Chromium driven by Playwright, the app on real loopback HTTP.

A "Dashboard" test page (its own origin) frames the app (another origin) and speaks App Bridge:
handshake with a token minted by the fake Saleor, ``notifyReady`` answered, ``tokenRefresh``,
``theme`` and ``localeChanged`` on demand. The fake Saleor and the Up2pay sandbox run on loopback
too. Skipped only when Chromium is missing outside CI (``CI=true`` makes a missing browser fail).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from saleor_up2pay.main import create_app
from saleor_up2pay.sandbox import SandboxConfig, create_sandbox_app
from saleor_up2pay.settings import Settings
from tests.conftest import SCHEMA_PATH, require_shared
from tests.dashboard.conftest import resolve_channels
from tests.fakes.fake_saleor import FakeSaleor, running
from tests.support.servers import free_port, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion on a fresh loop in a helper thread.

    pytest-asyncio may have an event loop running around sync fixtures; Playwright's sync API
    and ``asyncio.run`` both need a thread without one.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def chromium_path() -> str:
    """Debian's Chromium; skip without it, unless in CI where it must be there."""
    found = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(
            "chromium is missing in CI: `make test` installs it with scripts/install-browser.sh"
        )
    pytest.skip(
        "chromium is not installed (run `sh scripts/install-browser.sh` as root to install it)"
    )


DASHBOARD_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Saleor Dashboard (test)</title>
<style>
  body { margin: 0; font: 14px system-ui, sans-serif; display: flex; min-height: 100vh; }
  nav { width: 200px; background: #f1f1f1; padding: 16px; }
  body.dark nav { background: #1e1e1e; color: #ddd; }
  iframe { flex: 1; border: 0; height: __HEIGHT__px; }
</style></head>
<body>
<nav>Saleor Dashboard<br>Apps › Up2pay</nav>
<iframe id="app" src="__SRC__"></iframe>
<script>
  const appOrigin = new URL("__SRC__").origin;
  const frame = document.getElementById("app");
  window.received = [];
  window.tokens = [];
  async function mint() {
    const token = await (await fetch("/token" + location.search)).text();
    window.tokens.push(token);
    return token;
  }
  function send(type, payload) { frame.contentWindow.postMessage({type, payload}, appOrigin); }
  async function handshake() { send("handshake", {token: await mint(), version: 1, saleorVersion: "3.23.28"}); }
  frame.addEventListener("load", handshake);
  window.addEventListener("message", async (event) => {
    if (event.origin !== appOrigin || event.source !== frame.contentWindow) return;
    window.received.push(event.data);
    if (event.data.type === "notifyReady") {
      await handshake();
    }
    if (event.data.payload && event.data.payload.actionId) {
      send("response", {actionId: event.data.payload.actionId, ok: true});
    }
  });
  window.refreshToken = async () => { const token = await mint(); send("tokenRefresh", {token}); return token; };
  window.setTheme = (theme) => { document.body.className = theme; send("theme", {theme}); };
  window.setLocale = (locale) => send("localeChanged", {locale});
</script>
</body></html>
"""


@dataclass
class Stack:
    """Everything a browser test talks to, on loopback."""

    app_url: str
    saleor: FakeSaleor
    sandbox_url: str
    dashboard_url: str
    redis_socket: str
    extra: dict[str, Any] = field(default_factory=dict)

    def iframe_src(self, page: str = "/app", **params: str) -> str:
        from urllib.parse import urlencode

        query = {
            "domain": self.saleor.domain,
            "saleorApiUrl": self.saleor.api_url,
            "id": self.saleor.app_id or "",
            **params,
        }
        return f"{self.app_url}{page}?{urlencode(query)}"

    async def _redis(self) -> aioredis.Redis:
        return aioredis.Redis(unix_socket_path=self.redis_socket, decode_responses=True)


def dashboard_app(stack_ref: dict[str, Stack]) -> Starlette:
    """The pretend Dashboard: the page framing the app, and a token endpoint."""

    async def page(request: Request) -> Response:
        stack = stack_ref["stack"]
        extra = {k: v for k, v in request.query_params.items() if k in {"orderId", "view"}}
        src = stack.iframe_src(
            request.query_params.get("page", "/app"),
            theme=request.query_params.get("theme", "light"),
            locale=request.query_params.get("locale", "en"),
            **extra,
        )
        height = request.query_params.get("height", "900")
        html = DASHBOARD_PAGE.replace("__SRC__", src).replace("__HEIGHT__", height)
        return HTMLResponse(html)

    async def token(request: Request) -> Response:
        stack = stack_ref["stack"]
        perms = request.query_params.get("perms")
        permissions = perms.split(",") if perms is not None else None
        if perms == "":
            permissions = []
        return PlainTextResponse(stack.saleor.dashboard_token(user_permissions=permissions))

    return Starlette(routes=[Route("/", page), Route("/token", token)])


@pytest.fixture
def stack(redis_server: Any, tmp_path: Path) -> Iterator[Stack]:
    """App + fake Saleor (app installed) + sandbox + pretend Dashboard, each on its own port."""
    require_shared(SCHEMA_PATH)
    redis_server.flushdb()
    ref: dict[str, Stack] = {}
    dashboard_port = free_port()
    app_port = free_port()
    with (
        serve(create_sandbox_app(SandboxConfig(data_dir=tmp_path / "sandbox"))) as sandbox_url,
        running() as saleor,
        serve(dashboard_app(ref), port=dashboard_port) as dashboard_url,
    ):
        saleor.resolvers["channels"] = resolve_channels
        settings = Settings(
            _env_file=None,
            app_url=f"http://127.0.0.1:{app_port}",
            data_dir=tmp_path / "var",
            secret_key="browser-test-secret",
            redis_url=f"unix://{redis_server.socket_file}",
            sandbox_url=sandbox_url,
            dashboard_origins=[dashboard_url],
        )
        with serve(create_app(settings), port=app_port) as app_url:
            installation = run_async(saleor.install(app_url))
            assert installation.register_response.status_code == 200
            stack = Stack(
                app_url=app_url,
                saleor=saleor,
                sandbox_url=sandbox_url,
                dashboard_url=dashboard_url,
                redis_socket=redis_server.socket_file,
            )
            ref["stack"] = stack
            yield stack


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def activity_seed() -> list[dict[str, Any]]:
    """A few activity lines, so the screenshots show the table filled."""
    return [
        {
            "kind": "ipn",
            "channel": "boutique-fr",
            "reference": "UP2-8F3K2Q",
            "leg": "APETIZ",
            "amount": "19.00",
            "outcome": "paid",
            "message": "Paiement accepté",
            "psp_reference": "80012345",
        },
        {
            "kind": "ipn",
            "channel": "boutique-fr",
            "reference": "UP2-8F3K2Q",
            "leg": "LIMOCB",
            "amount": "7.40",
            "outcome": "paid",
            "message": "Card complement authorized",
            "psp_reference": "80012346",
        },
        {
            "kind": "gae",
            "channel": "boutique-fr",
            "reference": "UP2-7Z1M0C",
            "leg": "CVCONNECT",
            "amount": "40.00",
            "outcome": "refund:refused",
            "message": "Chèque-Vacances Connect payments cannot be refunded",
            "psp_reference": None,
        },
    ]


def seed_activity(stack: Stack) -> None:
    from saleor_up2pay.activity import ActivityEntry, ActivityLog

    async def write() -> None:
        client = await stack._redis()
        try:
            log = ActivityLog(client)
            for row in reversed(activity_seed()):
                await log.record(stack.saleor.api_url, ActivityEntry.model_validate(row))
        finally:
            await client.aclose()

    run_async(write())


def dumps(value: Any) -> str:
    return json.dumps(value)
