"""The whole installation life cycle with both sides on real sockets, as `make run` serves it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from saleor_up2pay.main import create_app
from saleor_up2pay.saleor.apl import auth_key
from saleor_up2pay.settings import Settings
from tests.conftest import SCHEMA_PATH, require_shared
from tests.fakes.fake_saleor import running
from tests.support.servers import free_port, serve


class TestInstallLifeCycle:
    def test_install_deliver_uninstall_over_http(self, redis_server: Any, tmp_path: Path) -> None:
        """Saleor installs the app, a signed webhook is accepted, APP_DELETED forgets the instance."""
        require_shared(SCHEMA_PATH)
        redis_server.flushdb()
        port = free_port()
        settings = Settings(
            _env_file=None,
            app_url=f"http://127.0.0.1:{port}",
            data_dir=tmp_path / "var",
            secret_key="end-to-end-secret",
            redis_url=f"unix://{redis_server.socket_file}",
        )
        with running() as saleor, serve(create_app(settings), port=port) as app_url:
            installation = asyncio.run(saleor.install(app_url))
            assert installation.register_response.status_code == 200
            assert installation.manifest["tokenTargetUrl"] == f"{app_url}/api/register"

            key = auth_key(saleor.api_url)
            stored_token = redis_server.hget(key, "token").decode()
            assert stored_token != installation.token

            forged = asyncio.run(
                saleor.send_webhook(app_url, "APP_DELETED", payload={"app": {}}, signature="x..y")
            )
            assert forged.status_code == 401
            assert redis_server.exists(key) == 1

            deleted = asyncio.run(
                saleor.send_webhook(
                    app_url,
                    "APP_DELETED",
                    payload={"version": "3.23.28", "app": {"isActive": False}},
                )
            )
            assert deleted.status_code == 200
            assert deleted.json() == {"success": True}
            assert redis_server.exists(key) == 0
            assert redis_server.keys("up2pay:i:*") == []
