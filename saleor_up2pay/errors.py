"""App faults: exceptions with a public code, rendered by one FastAPI handler.

Payment outcomes (a declined voucher, a refused refund) are *values*, never these exceptions.
"""

from __future__ import annotations

from typing import ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import AskError, ClusterError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from saleor_up2pay.redis_store import ReplicaAckMissing

log = structlog.get_logger(__name__)


class AppError(Exception):
    """Base of every app fault. ``public_message`` must never contain a secret."""

    status_code: ClassVar[int] = 500
    public_code: ClassVar[str] = "INTERNAL_ERROR"
    headers: ClassVar[dict[str, str]] = {}
    """Extra response headers (``Retry-After`` on a 503 the caller should retry)."""

    def __init__(self, public_message: str = "The app hit an internal error.") -> None:
        super().__init__(public_message)
        self.public_message = public_message

    def to_json(self) -> dict[str, object]:
        return {
            "success": False,
            "error": {"code": self.public_code, "message": self.public_message},
        }


class BadRequest(AppError):
    status_code = 400
    public_code = "BAD_REQUEST"


class Unauthorized(AppError):
    status_code = 401
    public_code = "UNAUTHORIZED"


class Forbidden(AppError):
    status_code = 403
    public_code = "FORBIDDEN"


class NotFound(AppError):
    status_code = 404
    public_code = "NOT_FOUND"


class AppNotConfigured(AppError):
    status_code = 400
    public_code = "APP_NOT_CONFIGURED"


class PayloadTooLarge(AppError):
    """A request body over its route's limit (:mod:`saleor_up2pay.api.limits`)."""

    status_code = 413
    public_code = "PAYLOAD_TOO_LARGE"


class ServiceUnavailable(AppError):
    status_code = 503
    public_code = "SERVICE_UNAVAILABLE"


RETRY_AFTER_SECONDS = 5


class StoreUnavailable(ServiceUnavailable):
    """The app's Redis cannot be reached (after one reconnect and retry): try again shortly."""

    public_code = "STORE_UNAVAILABLE"
    headers: ClassVar[dict[str, str]] = {"Retry-After": str(RETRY_AFTER_SECONDS)}

    def __init__(
        self, public_message: str = "The app's store is unavailable; retry shortly."
    ) -> None:
        super().__init__(public_message)


def app_error_response(exc: AppError, path: str) -> JSONResponse:
    """The answer to an app fault (one log line): its status, JSON body and headers."""
    log.warning("app_error", code=exc.public_code, status=exc.status_code, path=path)
    return JSONResponse(exc.to_json(), status_code=exc.status_code, headers=exc.headers or None)


def store_unavailable_response(exc: Exception, path: str) -> JSONResponse:
    """Redis unreachable outside the IPN route: 503 with ``Retry-After``, never a bare 500.

    The client already reconnected and retried once (:func:`saleor_up2pay.redis_store.new_client`).
    """
    log.error("store_unavailable", error=type(exc).__name__, path=path)
    return app_error_response(StoreUnavailable(), path)


STORE_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    ReplicaAckMissing,
    ClusterError,
    TryAgainError,
    AskError,
    RedisClusterException,
)
"""What :func:`store_unavailable_response` answers: Redis unreachable, a write no replica
acknowledged (:class:`~saleor_up2pay.redis_store.ReplicaAckMissing`, e.g. an order action's
journal intent), and a Redis Cluster in the middle of a failover (``CLUSTERDOWN``, ``TRYAGAIN``,
a slot still moving after redis-py's redirections, no reachable node: ``RedisClusterException``
is not a ``RedisError``)."""


async def _handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only; not a security check
    return app_error_response(exc, request.url.path)


async def _handle_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return store_unavailable_response(exc, request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    """Render app faults for FastAPI's routes (the plain ASGI endpoints ahead of the router, the
    IPN and the Saleor webhooks, render them themselves with the functions above)."""
    app.add_exception_handler(AppError, _handle_app_error)
    for error in STORE_ERRORS:
        app.add_exception_handler(error, _handle_store_unavailable)
