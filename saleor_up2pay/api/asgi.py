"""What the app's raw ASGI layers (the body limits, Saleor's webhooks, Up2pay's IPN) share:
the route's path under a mount's ``root_path`` and a request's whole body."""

from __future__ import annotations

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope


def route_path(scope: Scope) -> str:
    """The request's path with the mount's ``root_path`` taken off."""
    path: str = scope["path"]
    root = scope.get("root_path") or ""
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


async def read_body(receive: Receive) -> bytes:
    """The whole request body; :class:`ClientDisconnect` when the client leaves first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
