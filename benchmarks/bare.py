"""The bare endpoint: one FastAPI ``POST /bare`` answering an empty 200, served like the app.

``python -m benchmarks.bare`` runs ``saleor-up2pay serve --no-worker`` itself
(``saleor_up2pay.cli.main``) with only the ASGI target swapped for :func:`create_app`, so host,
port, log level, access log, ``proxy_headers``, the number of web workers (``WEB_CONCURRENCY``)
and every other ``uvicorn.run`` option are the app's own, whatever they become.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response

TARGET = "benchmarks.bare:create_app"


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/bare")
    async def bare(request: Request) -> Response:
        await request.body()  # read like the app reads an IPN
        return Response(status_code=200)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(status_code=200)

    return app


def main() -> int:
    from saleor_up2pay import cli  # noqa: PLC0415

    original = uvicorn.run

    def run_bare(app: Any, **options: Any) -> None:
        del app
        original(TARGET, **options)

    uvicorn.run = run_bare
    try:
        # No job worker for the bare endpoint (with WEB_CONCURRENCY above 1, serve would start
        # one beside uvicorn; the bench's REDIS_URL allows --no-worker).
        return cli.main(["serve", "--no-worker"])
    finally:
        uvicorn.run = original


if __name__ == "__main__":
    raise SystemExit(main())
