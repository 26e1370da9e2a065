"""Which code answers which Saleor event and runs which job: two explicit maps.

The app is assembled from these in :func:`saleor_up2pay.main.create_app`:

- :data:`WEBHOOK_HANDLERS` — ``{Saleor event: use-case entry point}``; one entry per
  :data:`~saleor_up2pay.saleor.definitions.WEBHOOKS` definition, each in the module named after
  its event (like its ``graphql/subscriptions`` document and its test file);
- :func:`job_handlers` — ``{job kind: handler}`` for the durable job worker, bound to the
  process's services.

Adding an event or a job kind is one line here; nothing is found by import string or registered
as an import side effect.
"""

from __future__ import annotations

from functools import partial

from saleor_up2pay.api.saleor_webhooks import WebhookHandler
from saleor_up2pay.jobs import JobHandler
from saleor_up2pay.services import Services
from saleor_up2pay.transactions import (
    app_deleted,
    follow_up_events,
    ipn_received,
    operation_settlement,
    payment_gateway_initialize_session,
    pending_legs,
    reconcile,
    transaction_cancelation_requested,
    transaction_charge_requested,
    transaction_initialize_session,
    transaction_process_session,
    transaction_refund_requested,
)

WEBHOOK_HANDLERS: dict[str, WebhookHandler] = {
    "PAYMENT_GATEWAY_INITIALIZE_SESSION": payment_gateway_initialize_session.handle,
    "TRANSACTION_INITIALIZE_SESSION": transaction_initialize_session.handle,
    "TRANSACTION_PROCESS_SESSION": transaction_process_session.handle,
    "TRANSACTION_CHARGE_REQUESTED": transaction_charge_requested.handle,
    "TRANSACTION_REFUND_REQUESTED": transaction_refund_requested.handle,
    "TRANSACTION_CANCELATION_REQUESTED": transaction_cancelation_requested.handle,
    "APP_DELETED": app_deleted.handle,
}


def job_handlers(services: Services) -> dict[str, JobHandler]:
    """``{job kind: handler}`` of the worker, each handler given the process's services."""
    return {
        ipn_received.REPORT_JOB: partial(ipn_received.report_ipn_job, services),
        pending_legs.RECONCILE_JOB: partial(reconcile.reconcile_job, services),
        pending_legs.SETTLE_JOB: partial(reconcile.settle_job, services),
        ipn_received.UNKNOWN_PROBLEM_JOB: partial(ipn_received.raise_unknown_problem_job, services),
        follow_up_events.EVENT_JOB: partial(follow_up_events.run_event_job, services),
        transaction_refund_requested.REFUND_JOB: partial(
            transaction_refund_requested.run_deferred_refund, services
        ),
        operation_settlement.SETTLE_JOB: partial(operation_settlement.run_settle_job, services),
    }
