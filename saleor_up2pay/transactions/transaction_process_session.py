"""TRANSACTION_PROCESS_SESSION: report what is known about the voucher leg — never more.

The storefront calls ``transactionProcess`` after the shopper came back from Up2pay. Only the
IPN (server to server, signature verified) settles a leg; the browser return is not proof. So:

- the voucher leg's IPN is in and accepted → ``CHARGE_SUCCESS`` / ``AUTHORIZATION_SUCCESS`` (the
  flow of the session) with ``pspReference`` = S and ``amount`` = the leg's amount (``M``, which
  may be less than requested when a card complement paid the rest on its own item), and the
  ``actions`` the leg allows. The IPN report (``transactionEventReport`` of the same
  pspReference, type and amount) is then deduplicated by Saleor, whichever comes first;
- only refused attempts are in, while the shopper may still pay on the same page (the hold of
  the refusal reports, :func:`~saleor_up2pay.transactions.ipn_received.refusals_held`: no
  ``refused``/``cancelled`` browser return yet and the session younger than ``REFUSAL_HOLD``) →
  ``*_ACTION_REQUIRED`` saying an attempt was refused and the shopper may retry. Saleor keeps
  the item's first final event and returns it for every later ``transactionProcess`` without
  asking the app, so a failure answered now would outlive a second attempt that pays;
- only refused attempts are in and the hold is over → ``*_FAILURE`` with the readable reason
  and the attempt's S and amount (same dedup as the refusal's own report);
- the shopper cancelled on the payment page (verified browser return ``cancelled``, no IPN: no
  attempt was made) → ``*_FAILURE`` "cancelled" so the storefront can offer another method;
- a leg is pending at the issuer (``E=99999``) → ``*_ACTION_REQUIRED`` with status
  ``pending``: nothing is counted until the final IPN (or the settle inquiry) reports it;
- nothing is known yet → ``*_ACTION_REQUIRED`` again.

Why ``*_ACTION_REQUIRED`` and not ``*_REQUEST`` while waiting for the IPN (protocol §4.2–§4.3,
§5): a ``*_REQUEST`` result needs a pspReference and makes the *requested* amount pending on the
item, and pending amounts count for a checkout's ``authorizeStatus`` — ``checkoutComplete`` could
then succeed on money that was never paid. The pending amount is only cleared by an event of the
same family with the same pspReference, but the real one (S) is unknown until the IPN arrives, and
the voucher leg's amount may differ from the requested one (the complement is another item): the
item would stay pending forever or count twice. A ``*_REQUEST`` is also final for
``transactionProcess``. ``*_ACTION_REQUIRED`` changes no amount, lets the storefront call
``transactionProcess`` again, and the IPN report alone moves money — the checkout is FULL exactly
when the legs Up2pay confirmed cover the total.

Redis: one script reads the session and its browser-return hint, then the legs of its reference
are read (the set, then the records: three round trips in all, two when there is no leg yet);
the installation comes from the webhook layer's short cache.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from saleor_up2pay.configuration import method_info
from saleor_up2pay.saleor.payloads import PayloadError, TransactionProcessSession
from saleor_up2pay.saleor.webhooks import WebhookContext
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.gateway import Clock, app_clock
from saleor_up2pay.transactions.ipn_received import refusals_held
from saleor_up2pay.transactions.legs import LegRecord, LegRepository, LegStatus, available_actions
from saleor_up2pay.transactions.results import (
    ErrorEntry,
    Flow,
    SessionActionRequired,
    SessionFailure,
    SessionOutcome,
    SessionSuccess,
)
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from saleor_up2pay.transactions.transaction_initialize_session import pay_url
from saleor_up2pay.up2pay.models import Leg

log = structlog.get_logger(__name__)


def _leg_json(record: LegRecord) -> dict[str, str]:
    return {
        "leg": record.leg.value,
        "amount": str(record.amount),
        "status": record.status.value,
        "pspReference": record.numtrans,
    }


def _method_name(session: PaymentSession) -> str:
    try:
        label = method_info(session.method).label  # type: ignore[arg-type]
    except KeyError:
        label = session.method
    return f"{label} ({session.method})"


class ProcessSession:
    """Answers with the voucher leg's state as the IPNs told it."""

    def __init__(
        self,
        *,
        sessions: SessionRepository,
        legs: LegRepository,
        app_url: str,
        clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._legs = legs
        self._app_url = app_url
        self._clock: Clock = clock or (lambda: datetime.now(UTC))

    async def execute(self, saleor_api_url: str, payload: dict[str, Any]) -> SessionOutcome:
        try:
            request = TransactionProcessSession.parse(payload)
        except PayloadError as exc:
            raw = payload.get("action")
            wanted = raw.get("actionType") if isinstance(raw, dict) else None
            flow_asked: Flow = "AUTHORIZATION" if wanted == "AUTHORIZATION" else "CHARGE"
            entry = ErrorEntry("INVALID_PAYLOAD", str(exc))
            return SessionFailure(flow=flow_asked, message=entry.message, errors=[entry])
        requested: Flow = (
            "AUTHORIZATION" if request.action.action_type == "AUTHORIZATION" else "CHARGE"
        )
        item_id = request.transaction.id
        session, browser = await self._sessions.by_transaction_with_return(saleor_api_url, item_id)
        if session is None:
            entry = ErrorEntry(
                "UNKNOWN_TRANSACTION",
                "This transaction was not started with the Up2pay app; call "
                "transactionInitialize first.",
            )
            return SessionFailure(flow=requested, message=entry.message, errors=[entry])

        flow: Flow = session.action_type
        every_leg = await self._legs.legs_for_reference(saleor_api_url, session.reference)
        voucher = [r for r in every_leg if r.leg is not Leg.LIMOCB]
        base = {
            "reference": session.reference,
            "method": session.method,
            "legs": [_leg_json(r) for r in every_leg],
        }
        accepted = [r for r in voucher if r.accepted]
        if accepted:
            record = accepted[-1]
            return SessionSuccess(
                flow=flow,
                psp_reference=record.numtrans,
                amount=record.amount,
                actions=available_actions(record),
                message=f"Up2pay: {record.message} (E={record.error_code})",
                data={"up2pay": {**base, "status": "paid" if flow == "CHARGE" else "authorized"}},
                method_name=_method_name(session),
            )

        pending = [r for r in voucher if r.status is LegStatus.PENDING]
        refused = [r for r in voucher if r.status is LegStatus.REFUSED]
        held = refusals_held(session, browser, self._clock())
        if refused and not pending and held:
            # Saleor keeps the first final event and answers it forever without asking the app:
            # a failure now would hide a later attempt the shopper pays on the same page.
            record = refused[-1]
            log.info("process.refusal_held", reference=session.reference, browser=browser)
            return self._waiting(
                flow,
                session,
                base,
                f"Up2pay refused an attempt ({record.message}, E={record.error_code}); "
                "the shopper may still retry on the Up2pay page. Call transactionProcess again "
                "in a few seconds.",
                refusedAttempts=len(refused),
            )
        if refused and not pending:
            record = refused[-1]
            entry = ErrorEntry("PAYMENT_REFUSED", f"Up2pay refused the payment: {record.message}")
            return SessionFailure(
                flow=flow,
                message=f"{entry.message} (E={record.error_code})",
                errors=[entry],
                psp_reference=record.numtrans,
                amount=record.amount,
                extra={**base, "status": "refused"},
            )
        if not voucher and browser == "cancelled":
            entry = ErrorEntry("PAYMENT_CANCELLED", "The payment was cancelled on the Up2pay page.")
            return SessionFailure(
                flow=flow,
                message=entry.message,
                errors=[entry],
                extra={**base, "status": "cancelled"},
            )
        if pending:
            # E=99999: the issuer has not confirmed yet. Nothing is counted (the leg's report is
            # an INFO event); the final IPN or the settle inquiry reports the money.
            record = pending[-1]
            log.info("process.pending_at_issuer", reference=session.reference)
            return self._waiting(
                flow,
                session,
                base,
                f"Up2pay: the payment waits for the issuer's confirmation (S={record.numtrans}, "
                "E=99999); call transactionProcess again later.",
                status="pending",
            )
        log.info("process.waiting_for_ipn", reference=session.reference, browser=browser)
        return self._waiting(
            flow,
            session,
            base,
            "Waiting for Up2pay's confirmation of the payment; call transactionProcess "
            "again in a few seconds.",
        )

    def _waiting(
        self,
        flow: Flow,
        session: PaymentSession,
        base: dict[str, Any],
        message: str,
        **extra: Any,
    ) -> SessionActionRequired:
        """Ask the storefront to call again: the shopper is (or may still be) on the Up2pay page."""
        return SessionActionRequired(
            flow=flow,
            amount=session.amount,
            data={
                "up2pay": {
                    **base,
                    "status": "waiting",
                    **extra,
                    "payUrl": pay_url(self._app_url, session.reference),
                }
            },
            message=message,
        )


async def handle(services: Services, ctx: WebhookContext) -> SessionOutcome:
    """Webhook entry point."""
    use_case = ProcessSession(
        sessions=SessionRepository(services.redis),
        legs=LegRepository(services.redis),
        app_url=services.settings.app_url,
        clock=app_clock(services),
    )
    return await use_case.execute(ctx.saleor_api_url, ctx.payload)


__all__ = ["ProcessSession", "handle"]
