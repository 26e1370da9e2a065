"""The installed package works: what the Docker image does, done in a temporary directory.

Build the wheel, install it (with ``constraints.txt``) into a fresh virtual environment, start
``saleor-up2pay serve`` from an unrelated directory, and talk to it as Saleor would: the manifest
answers with the subscription documents, and a signed delivery Saleor really sent is answered
(not a 500). Keep this test and the ``Dockerfile`` in step: both build the wheel from the same
files and run the same command.

This is the slowest test (about half a minute: pip builds the wheel and installs the dependencies,
from pip's cache when it has them).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from saleor_up2pay.redis_store import start_embedded_server
from saleor_up2pay.saleor.apl import AuthData, AuthStore
from saleor_up2pay.secretbox import SecretBox
from tests.conftest import PROJECT_ROOT, RECORDED
from tests.support.servers import free_port

SECRET_KEY = "wheel-test-secret-key"
RECORDED_API_URL = "http://localhost:58001/graphql/"
RECORDED_APP_ID = "QXBwOjEz"
STARTUP_DEADLINE_SECONDS = 60.0
"""How long the installed app may take to answer /readyz before the test gives up (not a timing
assertion: a healthy start takes a few seconds)."""

# What the wheel is built from: the same list the Dockerfile copies into its build stage.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "saleor_up2pay", "graphql", "manifest")


def _run(*args: str | Path, cwd: Path) -> None:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed; returns its ``bin`` folder."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy, so building never writes into the checkout
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in WHEEL_SOURCES:
        path = PROJECT_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = root / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, source, cwd=root)
    (wheel,) = dist.glob("saleor_up2pay-*.whl")
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=root)
    constraints = PROJECT_ROOT / "constraints.txt"
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "-c", constraints, wheel, cwd=root)
    return venv / "bin"


@pytest.fixture
def redis_socket(tmp_path: Path) -> Iterator[str]:
    """A Redis server this test starts (the app under test gets it through REDIS_URL)."""
    server = start_embedded_server(tmp_path / "redis" / "wheel.db")
    yield server.socket_file
    server.shutdown()


@pytest.fixture
def app_url(installed: Path, redis_socket: str, tmp_path: Path) -> Iterator[str]:
    """``saleor-up2pay serve`` of the installed copy, started from an empty directory."""
    workdir = tmp_path / "elsewhere"  # no graphql/, manifest/ or .env here
    workdir.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "PATH": f"{installed}{os.pathsep}{os.environ.get('PATH', '')}",
        "APP_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "DATA_DIR": str(tmp_path / "var"),
        "REDIS_URL": f"unix://{redis_socket}",
    }
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [str(installed / "saleor-up2pay"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=url) as client:
            deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
            while True:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


async def test_installed_wheel_serves_the_manifest_and_a_signed_delivery(
    app_url: str, redis_socket: str
) -> None:
    """The installed app finds its GraphQL documents and manifest in the package, whatever the
    working directory: the manifest lists the subscriptions, and Saleor's recorded, signed
    APP_DELETED delivery is verified and handled (the instance is forgotten)."""
    async with httpx.AsyncClient(base_url=app_url) as client:
        response = await client.get("/api/manifest")
        assert response.status_code == 200, response.text
        manifest = response.json()
        assert manifest["id"] == "saleor.app.up2pay"
        queries = [hook["query"] for hook in manifest["webhooks"]]
        assert all(q.startswith("subscription") for q in queries)
        assert len(queries) == len(list((PROJECT_ROOT / "graphql" / "subscriptions").iterdir()))
        assert (await client.get(manifest["brand"]["logo"]["default"])).status_code == 200

        redis = aioredis.Redis(unix_socket_path=redis_socket, decode_responses=True)
        store = AuthStore(redis, SecretBox(SECRET_KEY))
        jwks = (RECORDED / "jwks.json").read_text("utf-8")
        await store.set(AuthData(RECORDED_API_URL, token="t", app_id=RECORDED_APP_ID, jwks=jwks))

        recording = json.loads((RECORDED / "webhooks" / "21-app-deleted.json").read_text("utf-8"))
        request = recording["request"]
        headers = [
            (k, v) for k, v in request["headers"] if k.lower() not in {"host", "content-length"}
        ]
        response = await client.post(
            request["path"], content=base64.b64decode(request["body_base64"]), headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json() == recording["response"]["body_json"]
        assert await store.get(RECORDED_API_URL) is None
        await redis.aclose()
