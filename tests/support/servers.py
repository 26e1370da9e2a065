"""Run ASGI apps on real loopback sockets for tests (uvicorn in a background thread)."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

# Below Linux's ephemeral range (32768-60999), which outgoing connections draw from: a port picked
# here cannot be taken by a client socket between the pick and the server's bind.
_PORT_RANGE = (20000, 32000)


def _port_range() -> tuple[int, int]:
    """This process's share of :data:`_PORT_RANGE`: under ``pytest -n`` each worker (``gw0``,
    ``gw1``...) picks in its own slice, so two workers never pick the same port between the pick
    and the bind."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return _PORT_RANGE
    index = int(worker[2:]) % count
    low, high = _PORT_RANGE
    size = (high - low) // count
    return low + index * size, low + (index + 1) * size


def _bound_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


_RECENT: deque[int] = deque(maxlen=2000)
"""Ports this process handed out lately: a test often picks a port for a server it starts a bit
later (its URL goes into settings first), so a second pick in between must not return it."""
_RECENT_SET: set[int] = set()


def free_port() -> int:
    """A loopback port that is free now, outside the range client sockets are given, and not
    handed out lately by this process."""
    for _ in range(500):
        port = random.randrange(*_port_range())
        if port in _RECENT_SET:
            continue
        try:
            _bound_socket(port).close()
        except OSError:
            continue
        if len(_RECENT) == _RECENT.maxlen:
            _RECENT_SET.discard(_RECENT[0])
        _RECENT.append(port)
        _RECENT_SET.add(port)
        return port
    msg = "no free loopback port found"
    raise RuntimeError(msg)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # running in a thread
        pass


@contextmanager
def serve(
    app: Any, port: int | None = None, *, lifespan: Literal["auto", "on", "off"] = "on"
) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 until the block ends; yields its base URL (no trailing slash).

    The listening socket is bound here, before uvicorn starts, so a bind failure is reported at
    once and, with ``port=None``, no other socket can take the port in between.
    """
    sock = _bound_socket(port if port is not None else free_port())
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            msg = f"test server on port {port} did not start"
            raise RuntimeError(msg)
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
