"""``saleor-up2pay`` with the report's reference lock living seconds instead of a minute.

Run as ``python -m tests.scale.short_lock_cli worker`` (from the project root): the real command
(:func:`saleor_up2pay.cli.main`), with one default changed. A worker killed while it reports a leg
leaves that reference locked until the lock expires
(:data:`saleor_up2pay.transactions.leg_reporter.LOCK_SECONDS`, 60 s): the survivor re-runs the
report once the job's lease is over, and waits for the lock. That minute is the app's real
behaviour (a killed worker's legs reach Saleor up to a minute late); the scale tests shorten it
to :data:`LOCK_SECONDS` so a run stays well under a minute.
"""

from __future__ import annotations

import sys

from saleor_up2pay import cli
from saleor_up2pay.transactions import leg_reporter
from saleor_up2pay.transactions.leg_reporter import LegReporter

LOCK_SECONDS = 3.0


def shorten_reference_lock(seconds: float = LOCK_SECONDS) -> None:
    """Make the reference lock live ``seconds``: the module's constant (read when a lock is
    renewed) and the defaults it was bound to (``reference_lock``, and ``begin`` where the
    report job takes the lock in its first script)."""
    leg_reporter.LOCK_SECONDS = seconds
    for function in (
        getattr(LegReporter.reference_lock, "__wrapped__", None),
        getattr(LegReporter, "begin", None),
    ):
        if function is not None and function.__defaults__:
            function.__defaults__ = (seconds,)


if __name__ == "__main__":
    shorten_reference_lock()
    sys.exit(cli.main(sys.argv[1:]))
