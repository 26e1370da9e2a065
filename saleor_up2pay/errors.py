"""App faults: exceptions with a public code, rendered by one FastAPI handler.

Payment outcomes (a declined voucher, a refused refund) are *values*, never these exceptions.
"""

from __future__ import annotations

from typing import ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

log = structlog.get_logger(__name__)


class AppError(Exception):
    """Base of every app fault. ``public_message`` must never contain a secret."""

    status_code: ClassVar[int] = 500
    public_code: ClassVar[str] = "INTERNAL_ERROR"

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


class ServiceUnavailable(AppError):
    status_code = 503
    public_code = "SERVICE_UNAVAILABLE"


async def _handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only; not a security check
    log.warning("app_error", code=exc.public_code, status=exc.status_code, path=request.url.path)
    return JSONResponse(exc.to_json(), status_code=exc.status_code)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _handle_app_error)
