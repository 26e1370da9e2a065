"""structlog configuration: JSON or console lines, with secrets redacted before rendering.

Two layers keep secrets out of the log, on both paths a line can take (structlog loggers, and the
standard library's ``logging`` used by this package's early messages, by libraries and by uvicorn,
whose access lines and unhandled-exception tracebacks are routed through the same renderer):

- by name: the value of any key naming a secret (``token``, ``hmac_key``, ``authorization``...),
  at any depth of dicts and lists, is replaced;
- by shape: text that looks like a secret wherever it appears (a 128-hex-character HMAC key, a
  ``Bearer`` credential, a JWT or JWS, a SecretBox ciphertext) is replaced inside every string,
  including the message itself.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog

from saleor_up2pay.tracing import add_trace_ids

_SECRET_KEYS = re.compile(
    r"(token|secret|hmac|password|passwd|authorization|bearer|cookie|signature|key)$", re.I
)
_SECRET_TEXT = re.compile(
    r"[0-9A-Fa-f]{64,}"  # HMAC keys (128 hex) and other long hex secrets
    r"|(?i:bearer)\s+[^\s\"',;]+"  # Authorization: Bearer <app token or JWT>
    r"|eyJ[\w-]*\.[\w-]*\.[\w-]*"  # JWT / JWS (compact, detached included)
    r"|gAAAAA[\w-]{20,}=*"  # Fernet ciphertext (SecretBox): useless alone, still not for logs
)
REDACTED = "[redacted]"


_SHORTEST_SECRET = 5
"""No text shorter than this matches :data:`_SECRET_TEXT` (``eyJ..``): it is not scanned."""
_SAFE_TYPES = frozenset({int, float, bool, type(None), Decimal, datetime, date})
"""Values that cannot hold a secret's text: passed through without a look."""
_SECRET_KEY_CACHE: dict[str, bool] = {}
_SECRET_KEY_CACHE_MAX = 4096


def scrub_text(text: str) -> str:
    """``text`` with every secret-looking run replaced by ``[redacted]``."""
    if len(text) < _SHORTEST_SECRET:
        return text
    return _SECRET_TEXT.sub(REDACTED, text)


def _names_secret(key: str) -> bool:
    """Whether a field name names a secret (memoised: log lines reuse a few names)."""
    known = _SECRET_KEY_CACHE.get(key)
    if known is None:
        known = _SECRET_KEYS.search(key) is not None
        if len(_SECRET_KEY_CACHE) < _SECRET_KEY_CACHE_MAX:
            _SECRET_KEY_CACHE[key] = known
    return known


def _scrub_value(value: Any, depth: int = 0) -> Any:
    kind = type(value)
    if kind is str:
        return scrub_text(value)
    if kind in _SAFE_TYPES:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if depth > 5:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _names_secret(k) else _scrub_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub_value(v, depth + 1) for v in value]
    return value


def redact_secrets(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace values of keys naming a secret, and secret-looking text in every string.

    Cheap on the hot path (one line per IPN): field names are checked once per name, values of
    types that cannot carry text are skipped, and strings too short to match are not scanned.
    """
    for key in list(event_dict):
        if key != "event" and _names_secret(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub_value(event_dict[key])
    return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record (test runners swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def _uvicorn_access_fields(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Uvicorn's access line as fields too: client, method, path, http_version, status."""
    args = event_dict.pop("positional_args", None)  # ProcessorFormatter(pass_foreign_args=True)
    access = getattr(event_dict.get("_record"), "name", None) == "uvicorn.access"
    if access and isinstance(args, tuple) and len(args) == 5:
        names = ("client", "method", "path", "http_version", "status")
        event_dict.update(zip(names, args, strict=True))
    return event_dict


class QuietAccessPaths(logging.Filter):
    """Drops uvicorn's access lines for paths whose endpoint writes its own line per request
    (the IPN: :class:`saleor_up2pay.api.up2pay_routes.IpnEndpoint`)."""

    def __init__(self, paths: frozenset[str]) -> None:
        super().__init__()
        self.paths = paths

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:  # client, method, path, version, status
            path = str(args[2]).split("?", 1)[0]
            return not any(path.endswith(quiet) for quiet in self.paths)  # under a root path too
        return True


def quiet_access_log(*paths: str) -> None:
    """Turn uvicorn's access line off for ``paths`` (added to those already quiet), in this
    process; every other path keeps its access line."""
    access = logging.getLogger("uvicorn.access")
    quiet = set(paths)
    for old in [f for f in access.filters if isinstance(f, QuietAccessPaths)]:
        quiet |= old.paths
        access.removeFilter(old)
    access.addFilter(QuietAccessPaths(frozenset(quiet)))


def _adopt_uvicorn_loggers() -> None:
    """Send uvicorn's own lines (startup, access, tracebacks) to the root handler below.

    Uvicorn's default ``log_config`` gives its loggers plain-text handlers that do not propagate:
    those lines would bypass the JSON renderer and the redactor. Their handlers are dropped and
    they propagate to the root logger instead; ``saleor-up2pay serve`` can also start uvicorn
    with ``log_config=None`` so that even the lines before the app's startup are covered.
    """
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Configure stdlib logging and structlog once for the process, both through the redactor."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,  # trace_id, span_id of the active span (tracing on)
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact_secrets,  # after format_exc_info: tracebacks are scrubbed as well
            _renderer(fmt),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Standard-library records (this package's early messages, httpx, redis...) take the same
    # processors: the formatted message becomes the event, ``extra=`` fields are redacted by name.
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            pass_foreign_args=True,  # read (then dropped) by _uvicorn_access_fields
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
                _uvicorn_access_fields,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_secrets,
                _renderer(fmt),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)  # reconfiguring replaces ours, never stacks a second one
    root.addHandler(handler)
    root.setLevel(level)
    _adopt_uvicorn_loggers()
