"""Fault-injection tests: their figures are printed at the end of the run (``-s`` or not)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FIGURES: list[Figure] = []


@dataclass(frozen=True)
class Figure:
    """What one scenario counted, against the sandbox's ledger and the fake Saleor."""

    scenario: str
    operations: int
    executions: int
    not_exactly_once: int
    legs_lost: int
    saleor_disagreeing: int


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("exactly-once figures (sandbox ledger vs fake Saleor)")
    write(
        f"{'scenario':<46} {'ops':>4} {'execs':>6} {'not 1':>6} {'legs lost':>10} "
        f"{'Saleor ≠ ledger':>16}"
    )
    for f in FIGURES:
        write(
            f"{f.scenario:<46} {f.operations:>4} {f.executions:>6} {f.not_exactly_once:>6} "
            f"{f.legs_lost:>10} {f.saleor_disagreeing:>16}"
        )
