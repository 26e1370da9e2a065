"""The burst the scale tests send to a :class:`~tests.scale.deployment.Deployment`, and what it left.

- :func:`prepare_payments`: payments made through the whole chain (``transactionInitialize`` →
  the app's form → the sandbox's page → its IPNs → the app's reports), each the target of one
  order action later: a capture of an authorized voucher, a cancel of an authorized card
  complement, a refund of a card complement paid today (a GAE cancel, executed at once);
- :func:`seed_ipn_sessions`: sessions and items for the burst's IPNs, stored directly (no page),
  and the IPNs, signed beforehand;
- :class:`IpnSender`: sends the IPNs spread over the servers, as Up2pay would: an IPN not
  answered 200 (connection refused or cut, 5xx) is sent again, to the next server;
- :func:`tally`: the figures, counted in Redis, at the fake Saleor and in the sandbox's ledger.

What counts as a duplicate at Saleor: Saleor dedupes ``transactionEventReport`` on (item,
pspReference, type). The same triple reported again **with the same amount** is an idempotent
re-report (``alreadyProcessed``, no new event: allowed, counted apart); with **another amount** it
is a conflicting duplicate (Saleor adds a ``*_FAILURE`` event): must be 0. A duplicate IPN (the
same signed notification again) must add no event at all.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from benchmarks.messages import IPN_PATH, Request
from saleor_up2pay.redis_store import Redis
from saleor_up2pay.transactions.legs import LegRepository
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from tests.fakes.fake_saleor_transactions import DEDUPE_MESSAGE, Item
from tests.scale.deployment import STOREFRONT, Deployment, PatientSaleor

IPN_AMOUNT = Decimal("15.10")
FIRST_NUMTRANS = 500_000_000
"""The burst's transaction numbers (9 digits; the sandbox's are 10)."""
COMPLEMENT = "Up2pay · card complement"
PENDING = ("authorizePending", "chargePending", "refundPending", "cancelPending")


@dataclass(frozen=True)
class Payment:
    """A paid checkout and the order action the burst will send for it."""

    action: str
    """``CHARGE``, ``CANCEL`` or ``REFUND``."""
    item_id: str
    numtrans: int
    amount: Decimal
    operation: str
    """What the sandbox's ledger must show once: ``capture`` or ``cancel``."""


# action → (channel, checkout total, sandbox outcome and options, leg acted on, ledger operation)
PLANS: dict[str, tuple[str, str, dict[str, Any], bool, str]] = {
    "CHARGE": ("channel-eur-auth", "20.00", {"outcome": "voucher"}, False, "capture"),
    "CANCEL": (
        "channel-eur-auth",
        "44.80",
        {"outcome": "split", "voucher_amount": 2000},
        True,
        "cancel",
    ),
    "REFUND": (
        "channel-eur",
        "44.80",
        {"outcome": "split", "voucher_amount": 2000},
        True,
        "cancel",
    ),
}


def _final_amount(item: Item) -> Decimal:
    return item.amounts.get("authorized", Decimal(0)) + item.amounts.get("charged", Decimal(0))


async def _pay(deployment: Deployment, http: httpx.AsyncClient, action: str) -> str:
    channel, total, options, _, _ = PLANS[action]
    saleor = deployment.saleor
    checkout = saleor.create_checkout(total, channel=channel)
    data = {"method": "APETIZ", "returnUrl": f"{STOREFRONT}/checkout"}
    answer = await saleor.transaction_initialize(deployment.app_url, checkout.id, data)
    form = answer["data"]["up2pay"]["form"]
    paid = await http.post(
        f"{deployment.sandbox_url}/sandbox/api/pay", json={"fields": form["fields"], **options}
    )
    paid.raise_for_status()
    for ipn in paid.json()["ipns"]:
        if not ipn["delivered"]:  # Up2pay sends it again
            await _deliver(http, deployment.app_url, ipn["body"].encode())
    return checkout.id


async def _deliver(http: httpx.AsyncClient, url: str, body: bytes) -> None:
    for _ in range(100):
        try:
            answer = await http.post(url + IPN_PATH, content=body, headers=_FORM)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    msg = "an IPN was never answered 200"
    raise AssertionError(msg)


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def prepare_payments(
    deployment: Deployment, counts: dict[str, int], *, seconds: float = 60.0
) -> list[Payment]:
    """Pay ``counts[action]`` checkouts for each action; wait until Saleor has every leg."""
    checkouts: list[tuple[str, str]] = []
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(action: str) -> None:
            async with gate:
                checkouts.append((action, await _pay(deployment, http, action)))

        await asyncio.gather(*(one(a) for a, n in counts.items() for _ in range(n)))
    saleor = deployment.saleor
    deadline = time.monotonic() + seconds
    while True:
        payments = []
        for action, checkout_id in checkouts:
            _, _, _, complement, operation = PLANS[action]
            items = [
                i for i in saleor.items_of(checkout_id) if (i.name == COMPLEMENT) == complement
            ]
            if items and items[0].psp_reference and _final_amount(items[0]) > 0:
                item = items[0]
                payments.append(
                    Payment(
                        action,
                        item.id,
                        int(item.psp_reference),
                        _final_amount(item),
                        operation,
                    )
                )
        if len(payments) == len(checkouts):
            return payments
        if time.monotonic() > deadline:
            msg = f"only {len(payments)} of {len(checkouts)} payments reached Saleor"
            raise AssertionError(msg)
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class BurstIpn:
    numtrans: str
    item_id: str
    request: Request
    saleor: PatientSaleor
    """The Saleor instance the payment belongs to."""

    def reported(self) -> bool:
        return reported(self.saleor.item(self.item_id), self.numtrans)


async def seed_ipn_sessions(
    deployment: Deployment, redis: Redis, count: int, *, prefix: str = "K"
) -> list[BurstIpn]:
    """``count`` sessions, each with its own checkout and item, and one signed IPN for each;
    the Saleor instances take turns."""
    sessions = SessionRepository(redis)
    ipns = []
    for index in range(count):
        saleor = deployment.saleors[index % len(deployment.saleors)]
        checkout = saleor.create_checkout(IPN_AMOUNT)
        item = saleor.seed_initialized_item(checkout.id, IPN_AMOUNT)
        reference = f"{prefix}{index:012d}"
        numtrans = FIRST_NUMTRANS + index
        ipns.append(
            BurstIpn(
                str(numtrans),
                item.id,
                deployment.signer.ipn(reference, numtrans, int(IPN_AMOUNT * 100)),
                saleor,
            )
        )
        sessions_batch = PaymentSession(
            reference=reference,
            saleor_api_url=saleor.fake.api_url,
            transaction_id=item.id,
            source_type="Checkout",
            source_id=checkout.id,
            channel="channel-eur",
            method="APETIZ",
            amount=IPN_AMOUNT,
            currency="EUR",
            action_type="CHARGE",
            return_url=f"{STOREFRONT}/checkout",
            config_id="default",
            environment="sandbox",
            idempotency_key=f"scale-{prefix}-{index}",
        )
        await sessions.save(sessions_batch)
    return ipns


@dataclass
class IpnSender:
    """Sends IPNs over the servers in turn, each until it is answered 200 (as Up2pay retries)."""

    servers: list[str]
    concurrency: int = 32
    give_up_seconds: float = 60.0
    answered: set[str] = field(default_factory=set)
    """Transaction numbers (``S``) of IPNs answered 200."""
    statuses: Counter[int] = field(default_factory=Counter)
    """Every answer by HTTP status; 0 = no answer (connection refused, cut, timed out)."""
    sent: int = 0
    unanswered: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    _turn: int = 0
    _down: dict[str, float] = field(default_factory=dict)
    """Servers that refused a connection, until when they are skipped (a balancer's check)."""

    def _next(self) -> str:
        now = time.monotonic()
        live = [s for s in self.servers if self._down.get(s, 0.0) <= now] or self.servers
        self._turn += 1
        return live[self._turn % len(live)]

    async def send(self, ipns: list[BurstIpn]) -> None:
        queue: asyncio.Queue[BurstIpn] = asyncio.Queue()
        for ipn in ipns:
            queue.put_nowait(ipn)
        self.started = time.monotonic()
        limits = httpx.Limits(max_connections=self.concurrency * 2)
        async with httpx.AsyncClient(timeout=20, limits=limits) as http:

            async def worker() -> None:
                while not queue.empty():
                    await self._one(http, queue.get_nowait())

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        self.finished = time.monotonic()

    async def _one(self, http: httpx.AsyncClient, ipn: BurstIpn) -> None:
        deadline = time.monotonic() + self.give_up_seconds
        while time.monotonic() < deadline:
            server = self._next()
            self.sent += 1
            try:
                answer = await http.post(
                    server + ipn.request.path, content=ipn.request.body, headers=ipn.request.headers
                )
                status = answer.status_code
            except httpx.ConnectError:
                self._down[server] = time.monotonic() + 1.0  # down: skipped for a second
                status = 0
            except httpx.TransportError:
                status = 0
            self.statuses[status] += 1
            if status == 200:
                self.answered.add(ipn.numtrans)
                return
            await asyncio.sleep(0.05 if status == 0 else 0.2)
        self.unanswered.append(ipn.numtrans)

    @property
    def rate(self) -> float:
        """IPNs answered 200 per second of sending."""
        seconds = self.finished - self.started
        return len(self.answered) / seconds if seconds > 0 else 0.0


@dataclass
class ActionSender:
    """Sends the order actions through Saleor (fake), which redelivers a failed request."""

    app_url: str
    concurrency: int = 8

    async def send(self, deployment: Deployment, payments: list[Payment]) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(payment: Payment) -> None:
            async with gate:
                await deployment.saleor.transaction_request_action(
                    self.app_url, payment.item_id, payment.action, payment.amount
                )

        await asyncio.gather(*(one(p) for p in payments))


def settled(item: Item, action: str) -> bool:
    """Saleor shows the action done: its SUCCESS event, nothing pending."""
    return any(e.type == f"{action}_SUCCESS" for e in item.events) and not any(
        item.amounts.get(name) for name in PENDING
    )


def reported(item: Item, numtrans: str) -> bool:
    return any(e.type == "CHARGE_SUCCESS" and e.psp_reference == numtrans for e in item.events)


async def wait_until_reported(
    deployment: Deployment,
    ipns: list[BurstIpn],
    answered: set[str],
    payments: list[Payment],
    *,
    seconds: float = 90.0,
) -> float:
    """Wait until Saleor has every answered IPN's leg and every action settled; when it did
    (``time.monotonic()``), or the time of giving up."""
    saleor = deployment.saleor
    wanted = [i for i in ipns if i.numtrans in answered]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [i for i in wanted if not i.reported()]
        unsettled = [p for p in payments if not settled(saleor.item(p.item_id), p.action)]
        if not left and not unsettled:
            return time.monotonic()
        wanted = left
        await asyncio.sleep(0.1)
    return time.monotonic()


@dataclass(frozen=True)
class Figures:
    """What one run counted (see the module docstring for duplicates)."""

    ipns_sent: int
    ipns_answered: int
    """Distinct IPNs answered 200."""
    answers_200: int
    """Every IPN request answered 200, duplicates included."""
    legs_persisted: int
    legs_reported: int
    duplicate_events: int
    """Events beyond the first for one (item, pspReference, type): must be 0."""
    conflicting_reports: int
    """Re-reports with another amount (Saleor's dedupe failure events): must be 0."""
    idempotent_rereports: int
    """Reports Saleor answered ``alreadyProcessed`` (a triple it had, same amount): allowed."""
    losses: int
    """IPNs answered 200 whose leg is not in Redis or not at Saleor: must be 0."""
    unanswered: int
    """IPNs the sender gave up on (never answered 200): must be 0."""
    actions: int
    actions_settled: int
    executions: int
    not_exactly_once: int
    """Order actions the sandbox's ledger shows executed other than once: must be 0."""


async def tally(
    deployment: Deployment,
    redis: Redis,
    ipns: list[BurstIpn],
    sender: IpnSender,
    payments: list[Payment],
) -> Figures:
    saleor = deployment.saleor
    legs = LegRepository(redis)
    # One at a time: a fresh Cluster client hit with concurrent first commands right after a
    # failover failed inside redis-py 8.1 (a connection's writer gone during its handshake).
    persisted = {
        ipn.numtrans
        for ipn in ipns
        if await legs.get_by_numtrans(ipn.saleor.fake.api_url, ipn.numtrans) is not None
    }
    reported_legs = {i.numtrans for i in ipns if i.reported()}
    losses = {n for n in sender.answered if n not in persisted or n not in reported_legs}

    triples: Counter[tuple[str, str, str]] = Counter()
    conflicting = 0
    for item in (item for each in deployment.saleors for item in each.items.values()):
        for event in item.events:
            if event.message == DEDUPE_MESSAGE:
                conflicting += 1
            elif event.psp_reference and not event.type.endswith(("_REQUEST", "ACTION_REQUIRED")):
                triples[(item.id, event.psp_reference, event.type)] += 1
    duplicate_events = sum(n - 1 for n in triples.values() if n > 1)
    idempotent = sum(each.already_processed for each in deployment.saleors)
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{deployment.sandbox_url}/sandbox/api/executions")
        response.raise_for_status()
        ledger = response.json()["executions"]
    by_numtrans: Counter[tuple[int, str]] = Counter(
        (int(e["transaction_number"]), str(e["operation"])) for e in ledger
    )
    not_once = sum(1 for p in payments if by_numtrans[(p.numtrans, p.operation)] != 1)
    executions = sum(by_numtrans[(p.numtrans, p.operation)] for p in payments)
    return Figures(
        ipns_sent=sender.sent,
        ipns_answered=len(sender.answered),
        answers_200=sender.statuses[200],
        legs_persisted=len(persisted),
        legs_reported=len(reported_legs),
        duplicate_events=duplicate_events,
        conflicting_reports=conflicting,
        idempotent_rereports=idempotent,
        losses=len(losses),
        unanswered=len(sender.unanswered),
        actions=len(payments),
        actions_settled=sum(1 for p in payments if settled(saleor.item(p.item_id), p.action)),
        executions=executions,
        not_exactly_once=not_once,
    )
