"""Secrets never reach the log, whether a line comes from structlog or from stdlib logging."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from saleor_up2pay.log import REDACTED, configure_logging, scrub_text

HMAC_KEY = "0A1B2C3D" * 16
APP_TOKEN = "Zk3sQ9pL0aT7xR2mN8vB"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJhcHAiOiJRWEJ3T2pFPSJ9.c2lnbmF0dXJl"
SECRETS = (HMAC_KEY, APP_TOKEN, JWT)


@pytest.fixture
def start_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Yields ``start()``: configures logging as in production (JSON), returns a line reader.

    Configured from the test body, not here: capsys swaps ``sys.stderr`` between phases.
    """
    saved = structlog.get_config()
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level

    def read() -> list[dict[str, Any]]:
        err = capsys.readouterr().err
        return [json.loads(line) for line in err.splitlines() if line.strip()]

    def start() -> Any:
        configure_logging("INFO", "json")
        return read

    try:
        yield start
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)
        structlog.configure(**saved)


def assert_no_secret(lines: list[dict[str, Any]]) -> None:
    text = json.dumps(lines)
    for secret in SECRETS:
        assert secret not in text


class TestStructlogPath:
    def test_values_of_secret_names_are_redacted_at_any_depth(self, start_logging: Any) -> None:
        """token=, hmac_key= and a nested authorization-bearer header are all redacted."""
        read = start_logging()
        log = structlog.get_logger("saleor_up2pay.test")
        log.warning(
            "test.secrets",
            token=APP_TOKEN,
            hmac_key=HMAC_KEY,
            headers={"authorization-bearer": APP_TOKEN, "saleor-api-url": "https://s.io/g/"},
        )
        (line,) = read()
        assert line["token"] == REDACTED
        assert line["hmac_key"] == REDACTED
        assert line["headers"] == {
            "authorization-bearer": REDACTED,
            "saleor-api-url": "https://s.io/g/",
        }

    def test_secret_looking_text_is_redacted_under_any_name(self, start_logging: Any) -> None:
        """A key, a Bearer credential or a JWT inside a free-text value is replaced."""
        read = start_logging()
        log = structlog.get_logger("saleor_up2pay.test")
        log.warning(
            "test.reason",
            reason=f"key {HMAC_KEY} refused",
            detail=f"Authorization: Bearer {APP_TOKEN}",
            message=f"Variable got invalid value {{'hmacKey': '{HMAC_KEY}', 't': '{JWT}'}}",
        )
        (line,) = read()
        assert line["reason"] == f"key {REDACTED} refused"
        assert_no_secret([line])

    def test_tracebacks_are_scrubbed(self, start_logging: Any) -> None:
        """An exception whose message carries a key is logged without the key."""
        read = start_logging()
        log = structlog.get_logger("saleor_up2pay.test")
        try:
            raise ValueError(f"bad key {HMAC_KEY}")
        except ValueError:
            log.exception("test.failed")
        (line,) = read()
        assert "ValueError: bad key [redacted]" in line["exception"]
        assert_no_secret([line])


class TestStdlibPath:
    def test_stdlib_records_are_rendered_and_redacted(self, start_logging: Any) -> None:
        """logging.getLogger(...) lines are JSON too, with secrets in args and extra redacted."""
        read = start_logging()
        logging.getLogger("saleor_up2pay.test").warning(
            "calling with %s", f"Bearer {APP_TOKEN}", extra={"auth_token": APP_TOKEN}
        )
        (line,) = read()
        assert line["event"] == f"calling with {REDACTED}"
        assert line["auth_token"] == REDACTED
        assert line["level"] == "warning"
        assert line["logger"] == "saleor_up2pay.test"

    def test_library_lines_below_the_level_are_dropped(self, start_logging: Any) -> None:
        """LOG_LEVEL applies to library loggers as well."""
        read = start_logging()
        logging.getLogger("httpx").debug("noise %s", JWT)
        assert read() == []

    def test_reconfiguring_does_not_duplicate_lines(self, start_logging: Any) -> None:
        """configure_logging twice (app and sandbox in one process) still writes each line once."""
        read = start_logging()
        configure_logging("INFO", "json")
        logging.getLogger("saleor_up2pay.test").warning("once")
        assert [line["event"] for line in read()] == ["once"]


class TestScrubText:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("ordinary text with S=12345678", "ordinary text with S=12345678"),
            (f"HMAC {HMAC_KEY.lower()}", f"HMAC {REDACTED}"),
            (f"bearer {APP_TOKEN}, then", f"{REDACTED}, then"),
            (f"sig {JWT.split('.', maxsplit=1)[0]}..c2ln", f"sig {REDACTED}"),
        ],
    )
    def test_shapes(self, text: str, expected: str) -> None:
        """Only secret-shaped runs are replaced; ordinary payment text stays readable."""
        assert scrub_text(text) == expected
