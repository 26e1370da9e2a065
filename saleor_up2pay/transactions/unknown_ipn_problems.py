"""What the merchant sees of IPNs for unknown references (problem ``ipn-unknown-reference``).

:func:`raise_unknown_ipn_problem` shows an unknown IPN: when the Saleor instance is known (the
reference's session, or a global reference index that outlived it), the IPN intake queues a job
that raises a Saleor App problem on it, aggregated under one key (Saleor is never called on the
IPN's own path); when no instance is known, there is no Saleor to show it in, so a global count
is kept instead, which the dashboard page shows (:func:`unattached_unknown_ipns`). The IPNs
themselves are kept by day in :mod:`.unknown_ipns`.
"""

from __future__ import annotations

from saleor_up2pay.problems import ProblemBoard
from saleor_up2pay.redis_store import KEY_PREFIX, Redis
from saleor_up2pay.saleor.problems import Problem
from saleor_up2pay.transactions.unknown_ipns import UNKNOWN_REFERENCE_PROBLEM as UNKNOWN_IPN_PROBLEM

UNATTACHED_COUNT_KEY = f"{KEY_PREFIX}ipn-unknown-count"
"""Global count of unknown IPNs no Saleor instance could be named for."""


async def raise_unknown_ipn_problem(
    board: ProblemBoard,
    saleor_api_url: str | None,
    *,
    redis: Redis,
    reference: str,
    numtrans: str | None,
    reason: str,
) -> None:
    """Show one verified IPN the app could not attach to a payment."""
    if saleor_api_url is None:
        await count_unattached_unknown_ipn(redis)
        return
    await board.raise_(
        saleor_api_url,
        Problem(
            key=UNKNOWN_IPN_PROBLEM,
            message=(
                f"Up2pay sent a payment notification the app cannot attach to a payment "
                f"({reason}): reference {reference}, transaction S={numtrans or '?'}. It is kept "
                "for investigation; check the Up2pay back office."
            ),
            aggregation_minutes=60,
        ),
    )


async def count_unattached_unknown_ipn(redis: Redis) -> None:
    """Count one unknown IPN that no Saleor instance can be named for."""
    await redis.incr(UNATTACHED_COUNT_KEY)


async def unattached_unknown_ipns(redis: Redis) -> int:
    """How many unknown IPNs could not be tied to any Saleor instance (shown on every page)."""
    value = await redis.get(UNATTACHED_COUNT_KEY)
    return int(value) if value else 0
