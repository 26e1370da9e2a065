"""``saleor-up2pay sandbox``: run the local Up2pay sandbox (default http://127.0.0.1:8090)."""

from __future__ import annotations

import argparse
from typing import Any

from saleor_up2pay.settings import load_settings


def _run(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from saleor_up2pay.log import configure_logging  # noqa: PLC0415
    from saleor_up2pay.sandbox import SandboxConfig, create_sandbox_app  # noqa: PLC0415

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    config = SandboxConfig.from_settings(settings)
    app = create_sandbox_app(config)
    host = args.host or settings.host
    port = args.port or settings.sandbox_port
    public_key = app.state.sandbox.keys.public_key_path(1024)
    print(f"Up2pay sandbox on http://{host}:{port} — IPN public key: {public_key}")
    # workers=1 said explicitly: uvicorn would read WEB_CONCURRENCY (the app's setting) itself.
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), workers=1)
    return 0


def register(sub: Any) -> None:
    """Add the ``sandbox`` subcommand to the CLI's subparsers."""
    parser = sub.add_parser("sandbox", help="run the local Up2pay sandbox (SANDBOX_PORT, 8090)")
    parser.add_argument("--host", default=None, help="interface to bind (default: HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (default: SANDBOX_PORT)")
    parser.set_defaults(func=_run)
