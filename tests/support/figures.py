"""Figures a test run prints at its end (fault-injection counts): one table per section.

Tests call :func:`add_row`; ``tests/conftest.py`` prints every table in the terminal summary.
Under ``pytest -n`` (xdist) each worker hands its rows to the controller, so the tables are
complete whichever process ran which scenario.
"""

from __future__ import annotations

SECTIONS: dict[str, dict[str, list[str]]] = {}
"""``{title: {"header": [line], "rows": [line, ...]}}``."""


def add_row(title: str, header: str, row: str) -> None:
    """Add one line under the table ``title`` (its ``header`` is printed once, above the rows)."""
    section = SECTIONS.setdefault(title, {"header": [header], "rows": []})
    section["rows"].append(row)


def merge(other: dict[str, dict[str, list[str]]]) -> None:
    """Take the rows another process collected (xdist worker → controller)."""
    for title, section in other.items():
        for row in section["rows"]:
            add_row(title, section["header"][0], row)
