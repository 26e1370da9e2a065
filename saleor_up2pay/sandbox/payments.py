"""What happens after the shopper picks an outcome: legs, signed IPNs, signed browser return.

Model (manual §3.1.10-§3.3.4, protocol §3.2, §3.7): one transaction per means of payment, each
with its own transaction number (S) and amount (M), sharing the call number (T) and reference
(R); one IPN per transaction, to ``PBX_REPONDRE_A`` (GET by default, POST with ``PBX_RUF1=POST``)
carrying the ``PBX_RETOUR`` variables in their order, signed over those variables only; then the
browser goes to ``PBX_EFFECTUE`` / ``PBX_REFUSE`` / ``PBX_ANNULE`` with the same variables,
signed over the whole query string (the merchant's own parameters included).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa

from saleor_up2pay.sandbox.core import IpnDelivery, PaymentSession, Sandbox
from saleor_up2pay.sandbox.ledger import PENDING_CODE, Transaction
from saleor_up2pay.sandbox.protocol import (
    COMPLEMENT_CARD_TYPE,
    REFUSAL_CODES,
    signed_query,
)

log = structlog.get_logger(__name__)

TEST_AUTHORIZATION = "XXXXXX"  # what Up2pay returns in A for test transactions (protocol §5)
CANCELLED_CODE = "00001"  # a cancel on the hosted page comes back with Erreur=00001
PLATFORM_ERROR_CODE = "00003"  # "Erreur plateforme": try the secondary site (protocol §3.5)
MAX_IPN_REPEAT = 10


class Outcome(StrEnum):
    """What the shopper does on the sandbox page."""

    VOUCHER = "voucher"
    """The voucher pays the whole amount."""
    SPLIT = "split"
    """The voucher pays part, a card complement (LIMOCB) pays the rest."""
    REFUSED = "refused"
    """The voucher is refused (bank code ``refusal_code``); the session ends."""
    RETRY = "retry"
    """This attempt is refused; the shopper stays on the page to try again (3 attempts max)."""
    COMPLEMENT_REFUSED = "complement_refused"
    """The voucher pays part, then the card complement is refused."""
    CANCELLED = "cancelled"
    """The shopper cancels on the page: no transaction, no IPN, back to PBX_ANNULE."""
    PLATFORM_ERROR = "platform_error"
    """The platform fails the attempt with 00003 (the merchant should try the backup host)."""
    PENDING = "pending"
    """The voucher leg waits for its issuer (``E=99999``, browser to ``PBX_ATTENTE``); settle it
    later with :func:`resolve_pending` (accepted or refused, with its final IPN)."""


class IpnOrder(StrEnum):
    VOUCHER_FIRST = "voucher_first"
    COMPLEMENT_FIRST = "complement_first"


class OutcomeError(Exception):
    """The outcome cannot be played (bad voucher amount, finished session...)."""


@dataclass(frozen=True)
class Choice:
    """The shopper's pick and the delivery options (from the page form or the test API)."""

    outcome: Outcome
    voucher_amount: int | None = None
    refusal_code: str = "00105"
    ipn_order: IpnOrder = IpnOrder.VOUCHER_FIRST
    ipn_repeat: int = 1
    ipn_concurrent: bool = False
    send_ipn: bool = True
    drop_ipn_card_types: tuple[str, ...] = ()
    """IPNs of legs with these card types (``C``: ``LIMOCB``, ``APETIZ``...) are lost: never sent
    (fault injection; ``send_ipn=False`` loses them all)."""

    def __post_init__(self) -> None:
        if self.refusal_code not in REFUSAL_CODES:
            msg = f"refusal_code must be one of {', '.join(REFUSAL_CODES)}"
            raise OutcomeError(msg)
        if not 1 <= self.ipn_repeat <= MAX_IPN_REPEAT:
            msg = f"ipn_repeat must be 1 to {MAX_IPN_REPEAT}"
            raise OutcomeError(msg)


@dataclass(frozen=True)
class PaymentResult:
    """What happened: the transactions created, the IPNs sent, where the browser goes."""

    session: PaymentSession
    transactions: tuple[Transaction, ...]
    return_url: str | None
    return_kind: str
    finished: bool
    deliveries: tuple[IpnDelivery, ...]


def _leg_values(
    session: PaymentSession,
    now: datetime,
    *,
    card_type: str,
    amount: int,
    error_code: str,
    transaction_number: int,
    index: int,
    count: int,
) -> dict[str, str]:
    """Values of each PBX_RETOUR letter for one leg (protocol §3.1)."""
    card = card_type == COMPLEMENT_CARD_TYPE
    values = {
        "M": str(amount),
        "R": session.request.reference,
        "T": str(session.call_number),
        "B": "0",
        "C": card_type,
        "D": "2412" if card else "",  # the manual's test card expires 12/24 (manual §6)
        "E": error_code,
        "F": "Y" if card else "",
        "G": "O" if card else "",
        "H": "",
        "I": "FRA",
        "J": "44" if card else "",
        "N": "111122" if card else "",
        "O": "Y" if card else "",
        "o": "",
        "P": "LIMONETIK",
        "Q": now.strftime("%H:%M:%S"),
        "S": str(transaction_number),
        "V": "",
        "W": now.strftime("%d%m%Y"),
        "Y": "FRA",
        "Z": f"{index}-{count}",
        "v": "2.2.0" if card else "",
    }
    # No A on a refusal nor on the CV-Connect leg (manual §3.1.11, protocol §3.1).
    if error_code == "00000" and card_type != "CVCONNECT":
        values["A"] = TEST_AUTHORIZATION
    return values


def _plan_legs(session: PaymentSession, choice: Choice) -> list[tuple[str, int, str]]:
    """(card type, amount, error code) of each leg the outcome creates."""
    request = session.request
    total, voucher = request.total, request.card_type
    if choice.outcome in {Outcome.SPLIT, Outcome.COMPLEMENT_REFUSED}:
        part = choice.voucher_amount
        if part is None or not 1 <= part < total:
            msg = f"voucher_amount must be between 1 and {total - 1} cents for a split payment"
            raise OutcomeError(msg)
        complement_code = "00000" if choice.outcome is Outcome.SPLIT else choice.refusal_code
        return [(voucher, part, "00000"), (COMPLEMENT_CARD_TYPE, total - part, complement_code)]
    if choice.outcome is Outcome.VOUCHER:
        return [(voucher, total, "00000")]
    if choice.outcome in {Outcome.REFUSED, Outcome.RETRY}:
        return [(voucher, total, choice.refusal_code)]
    if choice.outcome is Outcome.PLATFORM_ERROR:
        return [(voucher, total, PLATFORM_ERROR_CODE)]
    if choice.outcome is Outcome.PENDING:
        return [(voucher, total, PENDING_CODE)]
    return []  # cancelled: nothing was attempted


def _return_url(base: str, query: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _with_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, ""))


@dataclass(frozen=True)
class _PendingIpn:
    transaction: Transaction
    method: str
    url: str
    body: str | None
    dropped: bool = False


def _create_transactions(
    sandbox: Sandbox, session: PaymentSession, plan: list[tuple[str, int, str]], now: datetime
) -> tuple[list[Transaction], list[dict[str, str]]]:
    """Record one transaction per planned leg (caller holds the lock)."""
    request = session.request
    transactions: list[Transaction] = []
    leg_values: list[dict[str, str]] = []
    for index, (card_type, amount, code) in enumerate(plan, start=1):
        number = sandbox.numbers.transaction()
        values = _leg_values(
            session,
            now,
            card_type=card_type,
            amount=amount,
            error_code=code,
            transaction_number=number,
            index=index,
            count=len(plan),
        )
        transaction = Transaction(
            site=request.account.site,
            rang=int(request.account.rang),
            reference=request.reference,
            call_number=session.call_number,
            number=number,
            card_type=card_type,
            amount=amount,
            error_code=code,
            authorization=values.get("A"),
            created=now,
        )
        # PBX_AUTOSEULE=O: authorization only, captured later through GAE (00002); PBX_DIFF:
        # captured by the platform after that many days; otherwise debited at once (§2.2).
        if transaction.accepted and not request.authorize_only:
            if request.deferred_days:
                transaction.capture_due = now.date() + timedelta(days=request.deferred_days)
            else:
                transaction.captured_amount = amount
                transaction.captured_day = now.date()
        sandbox.record(transaction)
        session.transactions.append(transaction)
        transactions.append(transaction)
        leg_values.append(values)
    return transactions, leg_values


def _plan_ipns(
    session: PaymentSession,
    choice: Choice,
    legs: list[tuple[Transaction, dict[str, str]]],
    key: rsa.RSAPrivateKey,
) -> list[_PendingIpn]:
    request = session.request
    ipn_url = request.urls.ipn
    if not ipn_url or not choice.send_ipn:
        return []
    if choice.ipn_order is IpnOrder.COMPLEMENT_FIRST:
        legs = list(reversed(legs))
    pending: list[_PendingIpn] = []
    for transaction, values in legs:
        # Signed over the PBX_RETOUR variables only, the merchant's own parameters come first
        # and are not signed (§3.3 step 2).
        query = signed_query(request.retour, values, key)
        dropped = transaction.card_type in choice.drop_ipn_card_types
        if request.ipn_method == "POST":
            item = _PendingIpn(transaction, "POST", ipn_url, query, dropped)
        else:
            item = _PendingIpn(transaction, "GET", _with_query(ipn_url, query), None, dropped)
        pending.extend([item] * choice.ipn_repeat)
    return pending


async def play(sandbox: Sandbox, session_id: str, choice: Choice) -> PaymentResult:
    """Play the shopper's choice on a session, send the IPNs, and say where the browser goes."""
    known = sandbox.sessions.get(session_id)
    if known is not None:  # a first 2048-bit key takes a moment to generate: not under the lock
        await asyncio.to_thread(sandbox.keys.private_key, known.request.signature_bits)
    async with sandbox.lock:
        session = sandbox.sessions.get(session_id)
        if session is None:
            msg = "unknown or expired payment session"
            raise OutcomeError(msg)
        if session.finished:
            msg = "this payment session is over"
            raise OutcomeError(msg)
        plan = _plan_legs(session, choice)
        request = session.request
        now = sandbox.clock.now()
        key = sandbox.keys.private_key(request.signature_bits)
        transactions, leg_values = _create_transactions(sandbox, session, plan, now)
        if plan:
            session.attempts += 1
        legs = list(zip(transactions, leg_values, strict=True))
        pending = _plan_ipns(session, choice, legs, key)

        kind, values = _browser_return(session, choice, transactions, leg_values, now)
        retry = choice.outcome is Outcome.RETRY and session.attempts < sandbox.config.max_attempts
        session.finished = not retry
        return_url = None
        base = getattr(request.urls, kind)
        if retry:
            kind = "retry"
        elif base is not None:
            # Browser returns are signed over the whole query, the merchant's part included.
            prefix = urlsplit(base).query
            return_url = _return_url(base, signed_query(request.retour, values, key, prefix=prefix))

    deliveries = await _deliver(sandbox, pending, concurrent=choice.ipn_concurrent)
    log.info(
        "sandbox.payment_played",
        reference=request.reference,
        call_number=session.call_number,
        outcome=choice.outcome.value,
        transactions=[t.number for t in transactions],
        ipns_delivered=sum(d.delivered for d in deliveries),
        ipns_sent=len(deliveries),
    )
    return PaymentResult(
        session=session,
        transactions=tuple(transactions),
        return_url=return_url,
        return_kind=kind,
        finished=session.finished,
        deliveries=deliveries,
    )


def _browser_return(
    session: PaymentSession,
    choice: Choice,
    transactions: list[Transaction],
    leg_values: list[dict[str, str]],
    now: datetime,
) -> tuple[str, dict[str, str]]:
    """Which return URL (attribute of ReturnUrls) and which leg's values the browser carries."""
    if choice.outcome is Outcome.CANCELLED:
        values = _leg_values(
            session,
            now,
            card_type=session.request.card_type,
            amount=session.request.total,
            error_code=CANCELLED_CODE,
            transaction_number=0,
            index=1,
            count=1,
        )
        return "cancelled", values
    if choice.outcome is Outcome.PENDING:
        return "pending", leg_values[0]
    if all(t.accepted for t in transactions):
        return "accepted", leg_values[0]  # the voucher leg, the main means of payment
    failed = next(i for i, t in enumerate(transactions) if not t.accepted)
    return "refused", leg_values[failed]


async def _deliver(
    sandbox: Sandbox, pending: list[_PendingIpn], *, concurrent: bool
) -> tuple[IpnDelivery, ...]:
    if concurrent:
        return tuple(await asyncio.gather(*(_send(sandbox, item) for item in pending)))
    return tuple([await _send(sandbox, item) for item in pending])


async def _send(sandbox: Sandbox, item: _PendingIpn) -> IpnDelivery:
    status_code: int | None = None
    error: str | None = None
    if item.dropped:
        log.info("sandbox.ipn_dropped", transaction_number=item.transaction.number)
        delivery = IpnDelivery(
            transaction_number=item.transaction.number,
            card_type=item.transaction.card_type,
            error_code=item.transaction.error_code,
            method=item.method,
            url=item.url,
            body=item.body,
            status_code=None,
            error="dropped (fault injection)",
            dropped=True,
        )
        sandbox.ipn_log.append(delivery)
        return delivery
    try:
        if item.method == "POST":
            response = await sandbox.http.post(
                item.url,
                content=(item.body or "").encode("utf-8"),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            response = await sandbox.http.get(item.url)
        status_code = response.status_code
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    delivery = IpnDelivery(
        transaction_number=item.transaction.number,
        card_type=item.transaction.card_type,
        error_code=item.transaction.error_code,
        method=item.method,
        url=item.url,
        body=item.body,
        status_code=status_code,
        error=error,
    )
    if not delivery.delivered:
        # Up2pay e-mails a "Warning e-Transactions" to the merchant here (protocol §3.2).
        log.warning(
            "sandbox.ipn_not_delivered",
            url=item.url.split("?", 1)[0],
            status_code=status_code,
            error=error,
        )
    sandbox.ipn_log.append(delivery)
    return delivery


async def resolve_pending(
    sandbox: Sandbox,
    transaction_number: int,
    *,
    accepted: bool,
    refusal_code: str = "00105",
    send_ipn: bool = True,
) -> tuple[Transaction, tuple[IpnDelivery, ...]]:
    """The issuer decides on a pending transaction; its final IPN (same ``S``) is sent.

    Raises :class:`OutcomeError` if the transaction is unknown or not pending.
    """
    async with sandbox.lock:
        found = next(
            (
                (session, t)
                for session in sandbox.sessions.values()
                for t in session.transactions
                if t.number == transaction_number
            ),
            None,
        )
        if found is None or found[1].error_code != PENDING_CODE:
            msg = "no pending transaction with that number"
            raise OutcomeError(msg)
        session, transaction = found
        request = session.request
        now = sandbox.clock.now()
        code = "00000" if accepted else refusal_code
        index = session.transactions.index(transaction) + 1
        values = _leg_values(
            session,
            now,
            card_type=transaction.card_type,
            amount=transaction.amount,
            error_code=code,
            transaction_number=transaction.number,
            index=index,
            count=len(session.transactions),
        )
        transaction.error_code = code
        transaction.authorization = values.get("A")
        if transaction.accepted and not request.authorize_only:
            transaction.captured_amount = transaction.amount
            transaction.captured_day = now.date()
        sandbox.record(transaction)
        choice = Choice(Outcome.VOUCHER, send_ipn=send_ipn)
        key = sandbox.keys.private_key(request.signature_bits)
        pending = _plan_ipns(session, choice, [(transaction, values)], key)
    deliveries = await _deliver(sandbox, pending, concurrent=False)
    log.info(
        "sandbox.pending_resolved",
        transaction_number=transaction_number,
        accepted=accepted,
        ipns_delivered=sum(d.delivered for d in deliveries),
    )
    return transaction, deliveries
