"""Events reported to Saleor after a webhook was answered, by a durable job.

A webhook answer carries one result; what happens besides it is reported later with
``transactionEventReport`` through the one
:class:`~saleor_up2pay.saleor.event_reporter.TransactionEventReporter`:

- the ``CANCEL_SUCCESS`` of the rest a partial capture releases
  (:mod:`.transaction_charge_requested`),
  queued as a ``transaction.event`` job before the webhook is answered;
- the outcome of a refund executed the day after the payment
  (:mod:`.transaction_refund_requested`).

Jobs are retried until Saleor accepts the event (transport failures, not installed). An event Saleor
will never take (a conflict, or an item it no longer has) is logged and dropped.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from saleor_up2pay.jobs import Job
from saleor_up2pay.saleor.event_reporter import TransactionEventReporter, TransactionItemNotFound
from saleor_up2pay.saleor.ids import SaleorApiUrl
from saleor_up2pay.services import Services

log = structlog.get_logger(__name__)

EVENT_JOB = "transaction.event"
"""Job kind: report one follow-up event (payload ``{"saleor_api_url", "variables"}``)."""
EVENT_DELAY = timedelta(seconds=2)
"""Let Saleor store the webhook answer before the follow-up event arrives (order of the list)."""


async def report_event(
    services: Services, saleor_api_url: SaleorApiUrl, variables: dict[str, Any]
) -> str:
    """``transactionEventReport`` with the app token; ``alreadyProcessed`` counts as done.

    Raises on transport errors (the job retries). A conflict Saleor will never accept (same
    pspReference and type with another amount) or an item Saleor no longer has is logged and
    dropped.
    """
    reporter = await TransactionEventReporter.for_instance(
        services.auth_store, services.http, saleor_api_url
    )
    try:
        result = await reporter.report(variables)
    except TransactionItemNotFound as exc:
        log.error("event.report_conflict", code="NOT_FOUND", message=str(exc))
        return "conflict:NOT_FOUND"
    if result.conflict is not None:
        log.error(
            "event.report_conflict", code=result.conflict.code, message=result.conflict.message
        )
    return result.outcome


async def run_event_job(services: Services, job: Job) -> None:
    """Job ``transaction.event``: report one follow-up event."""
    outcome = await report_event(
        services, SaleorApiUrl(str(job.payload["saleor_api_url"])), dict(job.payload["variables"])
    )
    log.info("event.reported", job_id=job.id, outcome=outcome)
