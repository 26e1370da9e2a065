"""The sandbox's state and collaborators, shared by its hosted page, GAE and admin routes."""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import StrEnum

import httpx

from saleor_up2pay.sandbox.config import SandboxAccount, SandboxConfig
from saleor_up2pay.sandbox.hosted_page import PaymentRequest
from saleor_up2pay.sandbox.keys import SigningKeys
from saleor_up2pay.sandbox.ledger import Clock, Numbers, Transaction

MAX_SESSIONS = 50_000
MAX_IPN_LOG = 1_000
HOSTS = ("main", "backup")


class Availability(StrEnum):
    """Health of one host: ``degraded`` = machine up, services down (protocol §1.3)."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass
class GaeFault:
    """The next ``remaining`` authenticated GAE calls on a host answer ``code``."""

    code: str
    remaining: int
    executed: bool
    """True: the operation is carried out before the failure is answered (a lost answer)."""


@dataclass
class PaymentSession:
    """One visit to the hosted page: a call number and up to three attempts."""

    id: str
    request: PaymentRequest
    call_number: int
    host: str
    attempts: int = 0
    finished: bool = False
    transactions: list[Transaction] = field(default_factory=list)


@dataclass(frozen=True)
class Execution:
    """One money-moving GAE operation the platform executed (capture, cancel or refund).

    The ledger tests count against: an operation the app asked for must appear here exactly
    once, whatever was lost on the way (answers, crashes, retries).
    """

    operation: str
    """``capture``, ``cancel`` or ``refund``."""
    site: str
    rang: int
    transaction_number: int
    """NUMTRANS of the payment the operation applies to."""
    amount: int
    question: int
    """NUMQUESTION of the request that executed it."""
    answer_lost: bool
    """True when the sandbox executed it but answered with an error (a simulated lost answer)."""

    def to_json(self) -> dict[str, object]:
        return {
            "operation": self.operation,
            "site": self.site,
            "rang": self.rang,
            "transaction_number": self.transaction_number,
            "amount": self.amount,
            "question": self.question,
            "answer_lost": self.answer_lost,
        }


@dataclass(frozen=True)
class IpnDelivery:
    """One IPN sent: where, how, and what the merchant answered (2xx is the only success)."""

    transaction_number: int
    card_type: str
    error_code: str
    method: str
    url: str
    body: str | None
    status_code: int | None
    error: str | None
    dropped: bool = False
    """Lost on purpose (fault injection, ``drop_ipn_card_types``): never sent; the signed
    ``url``/``body`` are kept so a test can deliver it late."""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_json(self) -> dict[str, object]:
        return {
            "transaction_number": self.transaction_number,
            "card_type": self.card_type,
            "error_code": self.error_code,
            "method": self.method,
            "url": self.url,
            "body": self.body,
            "status_code": self.status_code,
            "error": self.error,
            "delivered": self.delivered,
            "dropped": self.dropped,
        }


class Sandbox:
    """All of the sandbox's state. Mutations happen under :attr:`lock`, never across an await."""

    def __init__(self, config: SandboxConfig, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.accounts: dict[tuple[str, int], SandboxAccount] = {a.key: a for a in config.accounts}
        self.keys = SigningKeys(config.key_dir)
        self.lock = asyncio.Lock()
        self.clock = Clock()
        self.numbers = Numbers()
        self.sessions: OrderedDict[str, PaymentSession] = OrderedDict()
        self.transactions: dict[tuple[str, int, int], Transaction] = {}
        self.paid_references: set[tuple[str, int, str]] = set()
        self.questions: dict[str, set[tuple[str, int, int]]] = {}
        """NUMQUESTIONs used, per day (ISO date): uniqueness only holds within a day."""
        self.availability = dict.fromkeys(HOSTS, Availability.UP)
        self.faults: dict[str, GaeFault] = {}
        self.ipn_log: deque[IpnDelivery] = deque(maxlen=MAX_IPN_LOG)
        self.executions: list[Execution] = []
        """Every capture, cancel and refund executed, in order (see :class:`Execution`)."""
        self._http = http
        self._owns_http = http is None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            # Up2pay follows no redirect on an IPN and gives up after about 20 s (§3.2).
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.config.ipn_timeout_seconds),
                follow_redirects=False,
                headers={"User-Agent": "saleor-up2pay-sandbox"},
            )
        return self._http

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def new_session(self, request: PaymentRequest, host: str) -> PaymentSession:
        """Open a hosted-page session (caller holds the lock)."""
        session = PaymentSession(
            id=secrets.token_urlsafe(16),
            request=request,
            call_number=self.numbers.call(),
            host=host,
        )
        self.sessions[session.id] = session
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        return session

    def record(self, transaction: Transaction) -> None:
        """Make a transaction known to GAE (caller holds the lock)."""
        key = (transaction.site, transaction.rang, transaction.number)
        self.transactions[key] = transaction
        if transaction.accepted:
            self.paid_references.add((transaction.site, transaction.rang, transaction.reference))

    def reset(self) -> None:
        """Forget every payment, question number, fault and clock move (keys are kept)."""
        self.sessions.clear()
        self.transactions.clear()
        self.paid_references.clear()
        self.questions.clear()
        self.faults.clear()
        self.ipn_log.clear()
        self.executions.clear()
        self.availability = dict.fromkeys(HOSTS, Availability.UP)
        self.clock.offset_days = 0
