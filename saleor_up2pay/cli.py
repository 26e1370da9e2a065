"""The ``saleor-up2pay`` command: serve the app, run the Up2pay sandbox, debug notifications."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from saleor_up2pay.configuration import cli as configuration_cli
from saleor_up2pay.sandbox import cli as sandbox_cli
from saleor_up2pay.settings import SettingsError, load_settings
from saleor_up2pay.up2pay import cli as up2pay_cli


def _serve(_: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    settings = load_settings()
    uvicorn.run(
        "saleor_up2pay.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saleor-up2pay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the app (PORT, default 8000)")
    serve.set_defaults(func=_serve)
    # subcommands: each area registers its own below this line
    configuration_cli.register(sub)
    sandbox_cli.register(sub)
    up2pay_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"configuration error: {line}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
