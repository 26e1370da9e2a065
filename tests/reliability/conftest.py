"""Fault-injection tests: their figures are printed at the end of the run (``-s`` or not, and
under ``pytest -n``), see :mod:`tests.support.figures`."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support import figures


@dataclass(frozen=True)
class Figure:
    """What one scenario counted, against the sandbox's ledger and the fake Saleor."""

    scenario: str
    operations: int
    executions: int
    not_exactly_once: int
    legs_lost: int
    saleor_disagreeing: int

    def record(self) -> None:
        """Add this scenario's line to the run's figures (printed at the end of the run)."""
        figures.add_row(
            "exactly-once figures (sandbox ledger vs fake Saleor)",
            f"{'scenario':<46} {'ops':>4} {'execs':>6} {'not 1':>6} {'legs lost':>10} "
            f"{'Saleor ≠ ledger':>16}",
            f"{self.scenario:<46} {self.operations:>4} {self.executions:>6} "
            f"{self.not_exactly_once:>6} {self.legs_lost:>10} {self.saleor_disagreeing:>16}",
        )
