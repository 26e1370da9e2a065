"""A round-robin HTTP load balancer in front of several app servers, for tests.

What an operator puts in front of N ``saleor-up2pay serve --no-worker`` processes, reduced to
what the scale tests need: each request goes to the next backend in turn; a backend that refuses
the connection (it is down: the request never reached it) is skipped and the request goes to
the next one; a backend that dies with the request in flight gives ``502`` (the caller, Saleor
or Up2pay, sends it again). Serve the :class:`Balancer` itself (an ASGI app) with :func:`tests.support.servers.serve`.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import httpx

_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade", b"host"}
)


class Balancer:
    """Round robin over ``backends`` (base URLs, no trailing slash)."""

    def __init__(self, backends: list[str], timeout: float = 30.0) -> None:
        self.backends = list(backends)
        self.timeout = timeout
        self.refused = 0
        """Requests moved to the next backend because one refused the connection."""
        self.failed = 0
        """Requests answered 502 (a backend died with them in flight, or none was up)."""
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None

    def _order(self) -> list[str]:
        with self._lock:
            start = next(self._turn) % len(self.backends)
        return self.backends[start:] + self.backends[:start]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._client is not None:
                        await self._client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if self._client is None:  # made in the serving thread's event loop
            self._client = httpx.AsyncClient(
                timeout=self.timeout, limits=httpx.Limits(max_connections=200)
            )
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
        target = scope["path"] + (
            "?" + scope["query_string"].decode() if scope.get("query_string") else ""
        )
        status, answer_headers, content = 502, [(b"content-type", b"text/plain")], b"no backend"
        for backend in self._order():
            try:
                response = await self._client.request(
                    scope["method"], backend + target, headers=headers, content=body
                )
            except httpx.ConnectError:
                self.refused += 1
                continue
            except httpx.TransportError:
                content = b"backend failed"
                break
            status, content = response.status_code, response.content
            answer_headers = [
                (k.lower().encode(), v.encode())
                for k, v in response.headers.items()
                if k.lower().encode() not in _HOP_BY_HOP
                and k.lower() not in {"content-length", "content-encoding"}
            ]
            break
        if status == 502:
            self.failed += 1
        await send({"type": "http.response.start", "status": status, "headers": answer_headers})
        await send({"type": "http.response.body", "body": content})
