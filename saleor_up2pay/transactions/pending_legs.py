"""Job kinds that find missing legs and settle pending ones, and how they are queued.

Kept apart from their handlers (:mod:`.reconcile`) so the IPN write path
(:func:`~saleor_up2pay.transactions.ipn_received.record_leg`) and the session use cases can queue
them without importing the GAE side:

- :data:`SETTLE_JOB` — a leg Up2pay answered ``E=99999`` (pending at the issuer) is inquired
  every ``PENDING_SETTLE_SECONDS`` until GAE says it is final (or its final IPN came first);
- :data:`RECONCILE_JOB` — a payment whose IPN may be lost: ``RECONCILE_DELAY_SECONDS`` after a
  verified paid browser return, and once the payment page's time is up
  (``HOSTED_PAGE_TIMEOUT_SECONDS`` after the session was initialized).

One job per leg or per (reference, reason): the job ids make a repeat a no-op. Due times are
wall-clock (the job queue's clock), not :attr:`Services.clock`, which tests move by days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from saleor_up2pay.problems import ProblemBoard
from saleor_up2pay.redis_store import instance_id
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.legs import LegRecord

SETTLE_JOB = "leg.settle"
"""Job kind: inquire a pending leg until final (payload ``{"saleor_api_url", "numtrans"}``)."""
RECONCILE_JOB = "leg.reconcile"
"""Job kind: look for the legs of a payment no IPN told about (payload ``{"saleor_api_url",
"reference", "reason"}``)."""

ReconcileReason = Literal["return", "expiry"]

EXPIRY_MARGIN = timedelta(minutes=1)
"""After the page's time is up, a last attempt may still be finishing: wait a little more."""


async def queue_settle(services: Services, record: LegRecord) -> bool:
    """Queue the settle-by-inquiry job of a pending leg (no-op if it is queued already)."""
    delay = timedelta(seconds=services.settings.pending_settle_seconds)
    return await services.job_queue.enqueue(
        SETTLE_JOB,
        {"saleor_api_url": record.saleor_api_url, "numtrans": record.numtrans},
        run_at=datetime.now(UTC) + delay,
        job_id=f"settle:{instance_id(record.saleor_api_url)}:{record.numtrans}",
    )


def reconcile_job_id(saleor_api_url: str, reference: str, reason: ReconcileReason) -> str:
    return f"reconcile:{instance_id(saleor_api_url)}:{reference}:{reason}"


async def queue_reconcile(
    services: Services,
    saleor_api_url: str,
    reference: str,
    reason: ReconcileReason,
    *,
    at: datetime,
) -> bool:
    """Queue the reconcile of one payment at ``at`` (no-op if that one is queued already)."""
    return await services.job_queue.enqueue(
        RECONCILE_JOB,
        {"saleor_api_url": saleor_api_url, "reference": reference, "reason": reason},
        run_at=at,
        job_id=reconcile_job_id(saleor_api_url, reference, reason),
    )


async def queue_expiry_reconcile(services: Services, saleor_api_url: str, reference: str) -> bool:
    """At initialize time: reconcile this payment once its page's time is up."""
    timeout = timedelta(seconds=services.settings.hosted_page_timeout_seconds)
    return await queue_reconcile(
        services,
        saleor_api_url,
        reference,
        "expiry",
        at=datetime.now(UTC) + timeout + EXPIRY_MARGIN,
    )


def reported_problem_keys(record: LegRecord) -> tuple[str, ...]:
    """The problems a leg reaching Saleor resolves (the report job checks whether any is open
    in the same script that starts the report)."""
    return (
        f"leg-unreported:{record.numtrans}",
        f"leg-unverified:{record.numtrans}",
        f"leg-missing:{record.reference}",
        f"payment-unconfirmed:{record.reference}",
    )


async def resolve_reported(board: ProblemBoard, record: LegRecord) -> None:
    """A leg of the payment reached Saleor: dismiss what was raised about it."""
    await board.resolve(record.saleor_api_url, *reported_problem_keys(record))
