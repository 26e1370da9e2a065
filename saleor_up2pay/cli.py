"""The saleor-up2pay command: serve the app, run the Up2pay sandbox, debug notifications."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from saleor_up2pay import __version__
from saleor_up2pay.configuration import cli as configuration_cli
from saleor_up2pay.sandbox import cli as sandbox_cli
from saleor_up2pay.settings import Settings, SettingsError, load_settings
from saleor_up2pay.up2pay import cli as up2pay_cli

_RST_ROLE = re.compile(r":[a-z:]+:`~?([^`]+)`")
_RST_LITERAL = re.compile(r"``([^`]+)``")


def plain(text: str | None) -> str | None:
    """Help text without reStructuredText markup (module docstrings double as command help)."""
    if text is None:
        return None
    return _RST_LITERAL.sub(r"\1", _RST_ROLE.sub(r"\1", text))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from saleor_up2pay import metrics  # noqa: PLC0415
    from saleor_up2pay.main import create_app  # noqa: PLC0415

    settings = load_settings()
    overrides = {
        name: value for name in ("host", "port") if (value := getattr(args, name)) is not None
    }
    if overrides:  # options win over HOST/PORT; APP_URL's default follows --port
        settings = Settings(**overrides)
    workers = args.workers if args.workers is not None else settings.web_concurrency
    if args.no_worker and settings.redis_url is None:
        raise SettingsError(_SHARED_REDIS.format(command="serve --no-worker"))
    # Before the app exists: the web process(es) and the worker child count into one directory
    # (a temporary one unless PROMETHEUS_MULTIPROC_DIR is set; it is removed at shutdown).
    metrics.prepare_multiprocess(settings.prometheus_multiproc_dir)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "proxy_headers": True,
    }
    try:
        if workers > 1:
            _serve_workers(settings, overrides, workers, run_jobs=not args.no_worker, **options)
        else:
            app = create_app(settings, worker_process=True, run_jobs=not args.no_worker)
            # jobs run in a child process (or, with --no-worker, in `worker` processes);
            # workers=1 said explicitly: uvicorn would read WEB_CONCURRENCY itself.
            uvicorn.run(app, workers=1, **options)
    finally:  # reached when uvicorn returns (a failed start, or --workers); see release()
        metrics.release()
    return 0


def _serve_workers(
    settings: Settings,
    overrides: dict[str, Any],
    workers: int,
    *,
    run_jobs: bool,
    **options: Any,
) -> None:
    """``serve --workers N``: uvicorn's supervisor with N web workers, one job worker child.

    This process supervises: it starts the embedded Redis when ``REDIS_URL`` is unset (one for
    all), the job worker (once, not per web worker) and uvicorn's workers, which build their app
    with :func:`saleor_up2pay.main.serve_app` from the environment prepared here (``--host`` and
    ``--port`` are written to it, the embedded Redis as ``REDIS_URL``). SIGTERM or SIGINT stops
    the web workers first (uvicorn lets their requests finish), then the job worker (its jobs get
    ``WORKER_GRACE_SECONDS``), then the embedded Redis.
    """
    import uvicorn  # noqa: PLC0415

    from saleor_up2pay import worker_process  # noqa: PLC0415
    from saleor_up2pay.redis_store import start_embedded_server  # noqa: PLC0415

    for name, value in overrides.items():
        os.environ[name.upper()] = str(value)  # noqa: TID251 - read back by the web workers
    embedded = None
    if settings.redis_url is None:
        embedded = start_embedded_server(settings.data_dir / "redis.db")
        os.environ["REDIS_URL"] = f"unix://{embedded.socket_file}"  # noqa: TID251
        settings = settings.model_copy(update={"redis_url": os.environ["REDIS_URL"]})  # noqa: TID251
    child = (
        worker_process.start(settings, redis_url=settings.redis_url, unix_socket_path=None)
        if run_jobs
        else None
    )
    try:
        uvicorn.run(SERVE_APP, factory=True, workers=workers, **options)
    finally:
        if child is not None:
            worker_process.stop(child, settings.worker_grace_seconds)
        if embedded is not None:
            embedded.shutdown()


SERVE_APP = "saleor_up2pay.main:serve_app"
"""What each web worker of ``serve --workers N`` imports (a factory, called once per worker)."""


_SHARED_REDIS = (
    "REDIS_URL: `saleor-up2pay {command}` needs a Redis shared with the other processes "
    "(the embedded one lives and dies with `saleor-up2pay serve`)"
)


def _worker(args: argparse.Namespace) -> int:
    from saleor_up2pay import worker_process  # noqa: PLC0415

    settings = load_settings()
    if settings.redis_url is None:
        raise SettingsError(_SHARED_REDIS.format(command="worker"))
    if settings.prometheus_multiproc_dir is not None:  # counted with a server of this host
        from saleor_up2pay import metrics  # noqa: PLC0415

        metrics.prepare_multiprocess(settings.prometheus_multiproc_dir)
    worker_process.run(settings, redis_url=settings.redis_url)
    return 0


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        msg = f"{value} is not a port (1-65535)"
        raise argparse.ArgumentTypeError(msg)
    return port


def _workers(value: str) -> int:
    workers = int(value)
    if not 1 <= workers <= 64:
        msg = f"{value} is not a number of workers (1-64)"
        raise argparse.ArgumentTypeError(msg)
    return workers


def _walk(parser: argparse.ArgumentParser) -> Sequence[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_walk(child))
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saleor-up2pay", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="start the app (HOST/PORT, default 127.0.0.1:8000)",
        description="Start the app: check the settings, then serve it with uvicorn.",
    )
    serve.add_argument("--host", default=None, help="interface to bind (default: HOST)")
    serve.add_argument("--port", type=_port, default=None, help="port (default: PORT, 8000)")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="HTTP only: run the jobs in `saleor-up2pay worker` processes (needs REDIS_URL)",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="web worker processes (default: WEB_CONCURRENCY, 1); the job worker stays one",
    )
    serve.set_defaults(func=_serve)
    worker = sub.add_parser(
        "worker",
        help="run the job worker only, no HTTP (needs REDIS_URL)",
        description=(
            "Run the durable jobs (IPN reports, deferred refunds, settle and reconcile jobs) "
            "without serving HTTP, beside any number of `serve --no-worker` processes sharing "
            "REDIS_URL. SIGTERM or SIGINT stops it; running jobs get WORKER_GRACE_SECONDS."
        ),
    )
    worker.set_defaults(func=_worker)
    # subcommands: each area registers its own below this line
    configuration_cli.register(sub)
    sandbox_cli.register(sub)
    up2pay_cli.register(sub)
    for each in _walk(parser):
        each.description = plain(each.description)
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
