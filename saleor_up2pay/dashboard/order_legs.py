"""What the order page widget shows and does: an order's Up2pay legs, a refund split, a check.

Read side (:func:`order_view`): Saleor's view of the order's transaction items
(``graphql/queries/order_transactions.graphql``, app token, recorded fact 24) joined with the app's
own records of each item: the leg (:class:`~saleor_up2pay.transactions.legs.LegRecord`), its refunds
waiting for D+1 (the job queue, :meth:`~saleor_up2pay.jobs.JobQueue.pending_with_prefix`), the
open problems that name it (:class:`~saleor_up2pay.problems.ProblemBoard`) and its activity lines
(the GAE history). What can be done and from when comes from the leg's capabilities and the one
helper that says when Up2pay accepts a refund
(:func:`~saleor_up2pay.transactions.transaction_refund_requested.refund_allowed_now` /
:func:`~saleor_up2pay.transactions.transaction_refund_requested.next_allowed_run`), never
re-derived here. Items with no leg record are not Up2pay legs and are left out.

Refund split (:func:`propose` / :func:`confirm`): the pure
:func:`~saleor_up2pay.dashboard.refund_split.propose_split` on what each leg allows today; the
confirmation re-reads the legs, refuses any part above what its leg allows now (fail closed), then
asks Saleor for each part with ``transactionRequestAction(REFUND)`` (app token), so Saleor records
every refund and sends the app its ``TRANSACTION_REFUND_REQUESTED`` as for a refund made by hand.

Granted refunds (:func:`read_grants` / :func:`refund_grant`): the order's granted refunds
(``graphql/queries/order_granted_refunds.graphql``, app token; Saleor requires ``MANAGE_ORDERS``
to read them, so without it the widget says so instead of listing them), each with its plan
(:func:`~saleor_up2pay.dashboard.refund_split.plan_grant`: the one leg that refunds it whole
today, or why none can). Refunding one re-reads the order and asks Saleor with
``transactionRequestRefundForGrantedRefund``, so the grant itself ends ``SUCCESS`` in Saleor.

Check (:func:`check_leg`): an inquiry (GAE 00017) on one leg, compared with the leg record
(:func:`compare_status`); a difference is reported on the Saleor item as an ``INFO`` event
through the one event reporter, and written to the activity log.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from saleor_up2pay.activity import ActivityEntry, ActivityLog
from saleor_up2pay.dashboard.auth import DashboardSession
from saleor_up2pay.dashboard.refund_split import (
    CENT,
    ZERO,
    Grant,
    GrantPlan,
    LegAllowance,
    SplitProposal,
    Strategy,
    plan_grant,
    propose_split,
)
from saleor_up2pay.errors import AppError, BadRequest, NotFound
from saleor_up2pay.problems import OpenProblem, ProblemBoard
from saleor_up2pay.redis_store import instance_id
from saleor_up2pay.saleor.client import (
    SaleorClient,
    SaleorError,
    SaleorGraphQLError,
    SaleorMutationError,
)
from saleor_up2pay.saleor.ids import SaleorApiUrl
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.follow_up_events import report_event
from saleor_up2pay.transactions.gateway import gateway_factory
from saleor_up2pay.transactions.legs import (
    PARIS,
    LegRecord,
    LegRepository,
    authorized_left,
    available_actions,
    main_leg,
)
from saleor_up2pay.transactions.sessions import SessionRepository
from saleor_up2pay.transactions.transaction_refund_requested import (
    REFUND_JOB,
    next_allowed_run,
    refund_allowed_now,
)
from saleor_up2pay.up2pay import GaeResult
from saleor_up2pay.up2pay.models import Leg

log = structlog.get_logger(__name__)

HISTORY_SCAN = 500
"""How many of the instance's latest activity lines are searched for a leg's history."""


class SaleorUnavailable(AppError):
    """Saleor could not be read or did not take a request (the widget says so and retries)."""

    status_code = 502
    public_code = "SALEOR_UNAVAILABLE"


class OrderNotFound(NotFound):
    public_code = "ORDER_NOT_FOUND"


class SplitRefused(BadRequest):
    """A confirmed part is above what its leg allows now, or names no leg of the order."""

    public_code = "SPLIT_REFUSED"


class GrantRefused(BadRequest):
    """The granted refund picked cannot be refunded whole on one Up2pay leg now (or is unknown)."""

    public_code = "GRANT_REFUSED"


def _client(services: Services, session: DashboardSession) -> SaleorClient:
    return SaleorClient(services.http, session.saleor_api_url, session.auth.token)


def _cents(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def _amount(money: Any) -> str:
    if isinstance(money, dict) and money.get("amount") is not None:
        return _cents(Decimal(str(money["amount"])))
    return "0"


async def _order(services: Services, session: DashboardSession, order_id: str) -> dict[str, Any]:
    try:
        data = await _client(services, session).execute("order_transactions", {"id": order_id})
    except SaleorError as exc:
        log.warning("order_widget.saleor_failed", error=str(exc))
        msg = "Saleor could not be read. Try again in a moment."
        raise SaleorUnavailable(msg) from None
    order = data.get("order")
    if not isinstance(order, dict):
        raise OrderNotFound("This order was not found in Saleor.")
    return order


# --- what can be done, from when ----------------------------------------------------------------


@dataclass(frozen=True)
class Possibility:
    """One GAE action on a leg: possible now, from a date, or not at all (with a reason code)."""

    action: str
    now: bool
    from_: datetime | None = None
    reason: str = ""
    """``not_refundable``, ``nothing_left``, ``not_accepted``, ``refund_from_next_day``."""
    amount: Decimal = ZERO

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "now": self.now,
            "from": self.from_.isoformat() if self.from_ else None,
            "reason": self.reason,
            "amount": _cents(self.amount),
        }


def possibilities(record: LegRecord, now: datetime) -> list[Possibility]:
    """Refund, capture and cancel of one leg: now, from when, or why not."""
    if not record.accepted:
        return [Possibility("REFUND", False, reason="not_accepted")]
    caps = record.leg.capabilities
    actions = available_actions(record)
    found: list[Possibility] = []
    left = authorized_left(record)
    if "CHARGE" in actions:
        found.append(Possibility("CHARGE", True, amount=left))
    if "CANCEL" in actions:
        found.append(Possibility("CANCEL", True, amount=left))
    if not caps.refund:
        found.append(Possibility("REFUND", False, reason="not_refundable"))
    elif record.refundable_amount <= 0:
        found.append(Possibility("REFUND", False, reason="nothing_left"))
    elif refund_allowed_now(record, now):
        found.append(Possibility("REFUND", True, amount=record.refundable_amount))
    else:
        found.append(
            Possibility(
                "REFUND",
                False,
                from_=next_allowed_run(record),
                reason="refund_from_next_day",
                amount=record.refundable_amount,
            )
        )
    return found


def allowance(transaction_id: str, record: LegRecord, now: datetime) -> LegAllowance:
    """What the refund split may ask of this leg today, and why not when it is nothing."""
    refund = next(p for p in possibilities(record, now) if p.action == "REFUND")
    reason = ""
    if not refund.now:
        reason = {
            "not_refundable": "cannot be refunded through Up2pay",
            "nothing_left": "nothing captured is left to refund",
            "not_accepted": "the payment was not accepted",
            "refund_from_next_day": "Up2pay refunds it from "
            + (refund.from_.astimezone(PARIS).date().isoformat() if refund.from_ else "tomorrow"),
        }.get(refund.reason, refund.reason)
    return LegAllowance(
        transaction_id=transaction_id,
        label=record.leg.label,
        is_complement=record.leg is Leg.LIMOCB,
        refundable_now=refund.amount if refund.now else ZERO,
        blocked_reason=reason,
    )


# --- the read side ------------------------------------------------------------------------------


async def deferred_refunds(
    services: Services, saleor_api_url: str, numtrans: str
) -> list[dict[str, Any]]:
    """Refunds of this leg accepted before D+1 and waiting in the job queue, soonest first."""
    prefix = f"refund:{instance_id(saleor_api_url)}:{numtrans}:"
    jobs = await services.job_queue.pending_with_prefix(prefix)
    return [
        {
            "psp_reference": str(job.payload.get("psp_reference", "")),
            "amount": _cents(Decimal(str(job.payload.get("amount", "0")))),
            "run_at": due.isoformat(),
            "attempts": job.attempts,
            "last_error": job.last_error[:200],
        }
        for job, due in jobs
        if job.kind == REFUND_JOB
    ]


def _names(problem: OpenProblem, record: LegRecord) -> bool:
    text = f"{problem.key} {problem.message}"
    return record.numtrans in text or record.reference in text


def _history(entries: list[ActivityEntry], record: LegRecord) -> list[dict[str, Any]]:
    mine = [
        e
        for e in entries
        if (e.psp_reference or "").split(":", 1)[0] == record.numtrans
        or (e.reference == record.reference and e.leg == record.leg.value and e.kind != "ipn")
    ]
    return [e.model_dump(mode="json") for e in mine]


def leg_json(
    record: LegRecord,
    now: datetime,
    *,
    deferred: list[dict[str, Any]],
    problems: list[OpenProblem],
    history: list[ActivityEntry],
) -> dict[str, Any]:
    return {
        "leg": record.leg.value,
        "label": record.leg.label,
        "card_type": record.card_type,
        "is_voucher": record.leg.is_voucher,
        "status": record.status.value,
        "flow": record.action_type,
        "amount": _cents(record.amount),
        "currency": record.currency,
        "captured": _cents(record.captured_amount),
        "refunded": _cents(record.refunded_amount),
        "cancelled": _cents(record.cancelled_amount),
        "numtrans": record.numtrans,
        "numappel": record.numappel,
        "reference": record.reference,
        "authorization": record.authorization,
        "paid_at": record.paid_at.isoformat(),
        "message": record.message,
        "possible": [p.to_json() for p in possibilities(record, now)],
        "deferred_refunds": deferred,
        "problems": [p.to_json() for p in problems if _names(p, record)],
        "history": _history(history, record),
    }


async def order_view(
    services: Services, session: DashboardSession, order_id: str
) -> dict[str, Any]:
    """The widget's data for one order (see the module docstring)."""
    order = await _order(services, session, order_id)
    url = session.saleor_api_url
    legs = LegRepository(services.redis)
    problems = await ProblemBoard(services.redis, _no_client).open(url)
    history = await ActivityLog(services.redis).latest(url, HISTORY_SCAN)
    now = services.now()
    items = []
    allowances = []
    for item in order.get("transactions") or []:
        records = await legs.legs_for_transaction(url, str(item["id"]))
        main = main_leg(records)
        if main is None:
            continue
        allowances.append(allowance(str(item["id"]), main, now))
        items.append(
            {
                "transaction_id": item["id"],
                "name": item.get("name") or "",
                "psp_reference": item.get("pspReference") or "",
                "saleor": {
                    "actions": item.get("actions") or [],
                    "authorized": _amount(item.get("authorizedAmount")),
                    "charged": _amount(item.get("chargedAmount")),
                    "charge_pending": _amount(item.get("chargePendingAmount")),
                    "refunded": _amount(item.get("refundedAmount")),
                    "refund_pending": _amount(item.get("refundPendingAmount")),
                    "canceled": _amount(item.get("canceledAmount")),
                },
                "leg": leg_json(
                    main,
                    now,
                    deferred=await deferred_refunds(services, url, main.numtrans),
                    problems=problems,
                    history=history,
                ),
                "refused_attempts": sum(1 for r in records if not r.accepted),
            }
        )
    channel = order.get("channel") or {}
    currency = str(channel.get("currencyCode") or "EUR")
    grants = await read_grants(services, session, order_id, currency) if items else GrantsRead()
    return {
        "order": {
            "id": order["id"],
            "number": order.get("number"),
            "channel": channel.get("slug"),
            "currency": channel.get("currencyCode"),
        },
        "now": now.isoformat(),
        "items": items,
        "granted_refunds": grants_json(grants, allowances),
    }


async def _no_client(_: str) -> None:
    """The widget only reads problems: it never raises or dismisses one in Saleor."""
    return


# --- the refund split ---------------------------------------------------------------------------


async def _allowances(
    services: Services, session: DashboardSession, order_id: str
) -> list[LegAllowance]:
    order = await _order(services, session, order_id)
    legs = LegRepository(services.redis)
    now = services.now()
    found = []
    for item in order.get("transactions") or []:
        record = await legs.get_by_transaction(session.saleor_api_url, str(item["id"]))
        if record is not None:
            found.append(allowance(str(item["id"]), record, now))
    return found


def proposal_json(proposal: SplitProposal, legs: list[LegAllowance]) -> dict[str, Any]:
    return {
        "requested": _cents(proposal.requested),
        "strategy": proposal.strategy.value,
        "parts": [
            {"transaction_id": p.transaction_id, "label": p.label, "amount": _cents(p.amount)}
            for p in proposal.parts
        ],
        "total": _cents(proposal.total),
        "shortfall": _cents(proposal.shortfall),
        "explanations": list(proposal.explanations),
        "legs": [
            {
                "transaction_id": leg.transaction_id,
                "label": leg.label,
                "refundable_now": _cents(leg.refundable_now),
                "blocked_reason": leg.blocked_reason,
            }
            for leg in legs
        ],
    }


async def propose(
    services: Services,
    session: DashboardSession,
    order_id: str,
    amount: Decimal,
    strategy: Strategy,
) -> dict[str, Any]:
    """The per-leg amounts staff are asked to confirm."""
    legs = await _allowances(services, session, order_id)
    return proposal_json(propose_split(amount, legs, strategy), legs)


async def confirm(
    services: Services,
    session: DashboardSession,
    order_id: str,
    parts: list[tuple[str, Decimal]],
    *,
    reason: str | None = None,
    reason_reference: str | None = None,
) -> dict[str, Any]:
    """Ask Saleor for each confirmed part; every part is checked against its leg first."""
    allowed = {leg.transaction_id: leg for leg in await _allowances(services, session, order_id)}
    seen: set[str] = set()
    for transaction_id, amount in parts:
        leg = allowed.get(transaction_id)
        if leg is None or transaction_id in seen:
            raise SplitRefused("A part of this refund names no Up2pay leg of this order.")
        seen.add(transaction_id)
        if amount <= 0 or amount != amount.quantize(CENT):
            raise SplitRefused("Each part must be a positive amount in cents.")
        if amount > leg.refundable_now:
            msg = (
                f"{leg.label}: {amount} is more than the {leg.refundable_now} it allows today"
                + (f" ({leg.blocked_reason})" if leg.blocked_reason else "")
                + ". Reload the order and propose the split again."
            )
            raise SplitRefused(msg)
    client = _client(services, session)
    results = []
    for transaction_id, amount in parts:
        variables: dict[str, Any] = {"id": transaction_id, "amount": amount}
        if reason:
            variables["refundReason"] = reason[:1000]
        if reason_reference:
            variables["refundReasonReference"] = reason_reference
        try:
            await client.mutate("transaction_request_action", variables, "transactionRequestAction")
        except SaleorMutationError as exc:
            results.append(
                {
                    "transaction_id": transaction_id,
                    "amount": _cents(amount),
                    "requested": False,
                    "code": exc.code,
                    "message": exc.message,
                }
            )
            continue
        except SaleorError as exc:
            log.warning("order_widget.refund_request_failed", error=str(exc))
            results.append(
                {
                    "transaction_id": transaction_id,
                    "amount": _cents(amount),
                    "requested": False,
                    "code": "SALEOR_UNAVAILABLE",
                    "message": "Saleor did not answer; nothing more was asked.",
                }
            )
            break
        results.append(
            {"transaction_id": transaction_id, "amount": _cents(amount), "requested": True}
        )
    log.info(
        "order_widget.refund_split",
        order_id=order_id,
        requested=sum(1 for r in results if r["requested"]),
        parts=len(parts),
    )
    return {"results": results}


# --- granted refunds ----------------------------------------------------------------------------

GRANTS_PERMISSION = "MANAGE_ORDERS"
"""What Saleor requires to read ``order.grantedRefunds`` (the app holds ``HANDLE_PAYMENTS``)."""


@dataclass(frozen=True)
class GrantedRefund:
    """One granted refund as Saleor shows it, with what the widget plans for it."""

    grant: Grant
    currency: str
    reason: str
    created_at: str
    shipping: bool
    lines: tuple[str, ...]
    """``"2 × Monospace Tee"`` per line of the grant."""


@dataclass(frozen=True)
class GrantsRead:
    grants: tuple[GrantedRefund, ...] = ()
    unreadable: str = ""
    """``""`` when read; ``"permission"`` (the app lacks ``MANAGE_ORDERS``) or ``"unavailable"``."""


def _grant(data: dict[str, Any], currency: str) -> GrantedRefund:
    money = data.get("amount") or {}
    lines = tuple(
        f"{line.get('quantity')} × {(line.get('orderLine') or {}).get('productName') or '?'}"
        for line in data.get("lines") or []
        if isinstance(line, dict)
    )
    return GrantedRefund(
        grant=Grant(
            grant_id=str(data["id"]),
            amount=Decimal(str(money.get("amount", "0"))).quantize(CENT),
            status=str(data.get("status") or "NONE"),
            transaction_id=str((data.get("transaction") or {}).get("id") or "") or None,
        ),
        currency=str(money.get("currency") or currency),
        reason=str(data.get("reason") or ""),
        created_at=str(data.get("createdAt") or ""),
        shipping=bool(data.get("shippingCostsIncluded")),
        lines=lines,
    )


async def read_grants(
    services: Services, session: DashboardSession, order_id: str, currency: str = "EUR"
) -> GrantsRead:
    """The order's granted refunds, or why they cannot be read (never raises for that)."""
    try:
        data = await _client(services, session).execute("order_granted_refunds", {"id": order_id})
    except SaleorGraphQLError as exc:
        if "PermissionDenied" in exc.codes:
            return GrantsRead(unreadable="permission")
        log.warning("order_widget.grants_unreadable", error=str(exc))
        return GrantsRead(unreadable="unavailable")
    except SaleorError as exc:
        log.warning("order_widget.grants_unreadable", error=str(exc))
        return GrantsRead(unreadable="unavailable")
    order = data.get("order")
    if not isinstance(order, dict):
        raise OrderNotFound("This order was not found in Saleor.")
    grants = order.get("grantedRefunds") or []
    return GrantsRead(tuple(_grant(g, currency) for g in grants if isinstance(g, dict)))


def grant_json(granted: GrantedRefund, plan: GrantPlan) -> dict[str, Any]:
    grant = granted.grant
    return {
        "id": grant.grant_id,
        "amount": _cents(grant.amount),
        "currency": granted.currency,
        "status": grant.status,
        "reason": granted.reason,
        "created_at": granted.created_at,
        "shipping_included": granted.shipping,
        "lines": list(granted.lines),
        "transaction_id": grant.transaction_id,
        "plan": {
            "possible": plan.possible,
            "transaction_id": plan.transaction_id,
            "label": plan.label,
            "assigns": plan.assigns,
            "block": plan.block.value if plan.block else None,
            "leg_label": plan.leg_label,
            "leg_allows": _cents(plan.leg_allows),
            "leg_reason": plan.leg_reason,
        },
    }


def grants_json(read: GrantsRead, legs: list[LegAllowance]) -> dict[str, Any]:
    """The grants not yet refunded (``SUCCESS`` ones are left out), each with its plan."""
    return {
        "readable": not read.unreadable,
        "unreadable": read.unreadable or None,
        "permission": GRANTS_PERMISSION if read.unreadable == "permission" else None,
        "items": [
            grant_json(g, plan_grant(g.grant, legs))
            for g in read.grants
            if g.grant.status != "SUCCESS"
        ],
    }


async def refund_grant(
    services: Services, session: DashboardSession, order_id: str, grant_id: str
) -> dict[str, Any]:
    """Ask Saleor to refund one granted refund whole, on the leg its plan names.

    The order, its legs and the grant are read again; a grant that no leg can take whole now
    (or that is pending, refunded, another app's, or unknown) is refused before Saleor is asked.
    """
    legs = await _allowances(services, session, order_id)
    read = await read_grants(services, session, order_id)
    if read.unreadable == "permission":
        msg = f"Saleor lets the app read granted refunds only with {GRANTS_PERMISSION}."
        raise GrantRefused(msg)
    if read.unreadable:
        msg = "Saleor could not be read. Try again in a moment."
        raise SaleorUnavailable(msg)
    granted = next((g for g in read.grants if g.grant.grant_id == grant_id), None)
    if granted is None:
        raise GrantRefused("This granted refund is not one of the order's.")
    plan = plan_grant(granted.grant, legs)
    if not plan.possible or plan.transaction_id is None:
        msg = (
            f"This granted refund cannot be refunded whole on one Up2pay leg now "
            f"({plan.block.value if plan.block else 'no leg'}). Reload the order."
        )
        raise GrantRefused(msg)
    result: dict[str, Any] = {
        "granted_refund_id": grant_id,
        "transaction_id": plan.transaction_id,
        "label": plan.label,
        "amount": _cents(plan.amount),
    }
    try:
        await _client(services, session).mutate(
            "transaction_request_refund_for_granted_refund",
            {"grantedRefundId": grant_id, "id": plan.transaction_id},
            "transactionRequestRefundForGrantedRefund",
        )
    except SaleorMutationError as exc:
        return {**result, "requested": False, "code": exc.code, "message": exc.message}
    except SaleorError as exc:
        log.warning("order_widget.grant_refund_failed", error=str(exc))
        raise SaleorUnavailable("Saleor did not answer; nothing more was asked.") from None
    log.info("order_widget.grant_refund", order_id=order_id, granted_refund_id=grant_id)
    return {**result, "requested": True}


# --- check with Up2pay --------------------------------------------------------------------------


def _plain(text: str | None) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip().lower()


def expected_status(record: LegRecord, deferred_total: Decimal) -> str:
    """The inquiry ``STATUS`` the leg record predicts (refunds waiting for D+1 not counted)."""
    if not record.accepted:
        return "Refusé"
    if record.refunded_amount - deferred_total > 0:
        return "Remboursé"
    if record.captured_amount > 0:
        return "Capturé"
    if record.cancelled_amount >= record.amount:
        return "Annulé"
    return "Capturé" if record.action_type == "CHARGE" else "Autorisé"


def compare_status(record: LegRecord, result: GaeResult, deferred_total: Decimal) -> str | None:
    """A sentence about the difference between Up2pay's answer and the leg record, or None."""
    expected = expected_status(record, deferred_total)
    if _plain(result.status) == _plain(expected):
        return None
    return (
        f"Up2pay says {result.status or '(no status)'} for S={record.numtrans}, "
        f"the app recorded {expected} (captured {record.captured_amount}, "
        f"refunded {record.refunded_amount - deferred_total}, "
        f"cancelled {record.cancelled_amount})."
    )


async def check_leg(
    services: Services, session: DashboardSession, order_id: str, transaction_id: str
) -> dict[str, Any]:
    """Inquiry (00017) on the leg of ``transaction_id``; a difference is reported to Saleor."""
    order = await _order(services, session, order_id)
    if transaction_id not in {str(i["id"]) for i in order.get("transactions") or []}:
        raise NotFound("This transaction is not one of the order's.")
    url = SaleorApiUrl(session.saleor_api_url)
    record = await LegRepository(services.redis).get_by_transaction(url, transaction_id)
    if record is None:
        raise NotFound("This transaction is not an Up2pay leg.")
    session_record = await SessionRepository(services.redis).get(url, record.reference)
    channel = session_record.channel if session_record else order.get("channel", {}).get("slug")
    config = await services.configurations.for_payment(
        url, session_record.config_id if session_record else None, channel or None
    )
    gae = gateway_factory(services)(config).gae()
    result = await gae.inquire(
        leg=record.leg,
        numappel=record.numappel,
        numtrans=record.numtrans,
        reference=record.reference,
    )
    deferred = await deferred_refunds(services, url, record.numtrans)
    deferred_total = sum((Decimal(d["amount"]) for d in deferred if d["amount"]), ZERO)
    difference = compare_status(record, result, deferred_total) if result.ok else None
    now = services.now()
    await ActivityLog(services.redis).record(
        url,
        ActivityEntry(
            time=now,
            kind="gae",
            channel=channel,
            reference=record.reference,
            leg=record.leg.value,
            amount=None,
            outcome=f"inquiry:{result.outcome.value}",
            message=f"INQUIRY {result.code or '-'}: {result.status or result.message}"
            + (f" — {difference}" if difference else ""),
            psp_reference=record.numtrans,
        ),
    )
    reported = None
    if difference:
        reported = await report_event(
            services,
            url,
            {
                "id": transaction_id,
                "type": "INFO",
                "pspReference": f"{record.numtrans}:check:{int(now.timestamp())}",
                "message": difference[:512],
                "availableActions": available_actions(record),
            },
        )
    return {
        "transaction_id": transaction_id,
        "ok": result.ok,
        "code": result.code,
        "message": result.message,
        "status": result.status,
        "remittance": result.remittance,
        "expected": expected_status(record, deferred_total),
        "difference": difference,
        "reported": reported,
    }
