"""Exactly-once captures and refunds under injected faults, counted at the sandbox's ledger.

Each scenario runs many operations against the sandbox and the fake Saleor (which redelivers an
action request on 5xx or a lost connection, as Saleor does) with one fault per operation, then
counts: executions per operation at the sandbox's ledger (must be 1), legs lost (0) and Saleor
items whose amounts disagree with the ledger (0). The figures are printed at the end of the run
(``tests/reliability/conftest.py``) and copied into ``docs/reliability.md``.

Faults: crash points in the use case (the injected :attr:`Services.faults` hook raising, which
stands for the process dying there: Saleor gets a 5xx and redelivers; a job is rerun), a Redis
error while the outcome is written, lost GAE answers (the sandbox executes and answers an
error), and plain redeliveries of an answered request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from saleor_up2pay.transactions.legs import LegRepository
from tests.fakes.fake_saleor_transactions import Item
from tests.reliability.conftest import Figure
from tests.transactions.payment_world import World, form_of, leg_item, paid_checkout

OPERATIONS = 6
"""Operations per scenario (each is a payment on the sandbox, then the faulty action)."""
DAY = 86_400


class SimulatedCrash(Exception):
    """The process dies here (nothing after the crash point runs)."""


@dataclass
class Faults:
    """The injected fault hook: the next ``armed[point]`` passes through ``point`` fail."""

    armed: dict[str, int] = field(default_factory=dict)
    fired: int = 0

    def arm(self, point: str, times: int = 1) -> None:
        self.armed[point] = self.armed.get(point, 0) + times

    async def __call__(self, point: str) -> None:
        if self.armed.get(point, 0) <= 0:
            return
        self.armed[point] -= 1
        self.fired += 1
        if point == "before_outcome":
            msg = "simulated Redis blip"
            raise RedisConnectionError(msg)
        raise SimulatedCrash(point)


@dataclass
class Paid:
    item: Item
    numtrans: int
    reference: str


async def pay(world: World, channel: str) -> Paid:
    checkout = world.saleor.create_checkout("30.00", channel=channel)
    data = {"method": "APETIZ", "returnUrl": "https://shop.example/checkout"}
    paid = await world.pay(form_of(await world.initialize(checkout.id, data)), "voucher")
    item = world.saleor.items_of(checkout.id)[0]
    legs = await world.sandbox_transactions(paid["reference"])
    accepted = next(t for t in legs if t["error_code"] == "00000")
    return Paid(item, int(accepted["transaction_number"]), paid["reference"])


def install(world: World) -> Faults:
    faults = Faults()
    world.app_services.faults = faults  # the webhook routes
    world.services.faults = faults  # the jobs the test runs
    return faults


def past_the_leases(world: World, seconds: int = 120) -> None:
    """Move the app's clocks past every intent's lease (a crashed call is over by then)."""
    shift = timedelta(seconds=seconds)
    world.app_services.clock = lambda: datetime.now(UTC) + shift
    world.services.clock = lambda: datetime.now(UTC) + shift


async def count(world: World, scenario: str, payments: list[Paid], kind: str) -> Figure:
    """Executions at the ledger, lost legs and Saleor items disagreeing with the ledger."""
    executions = not_once = lost = disagreeing = 0
    legs = LegRepository(world.services.redis)
    for paid in payments:
        ran = [e for e in await world.executions(paid.numtrans) if e["operation"] == kind]
        executions += len(ran)
        not_once += len(ran) != 1
        if await legs.get_by_numtrans(world.fake.api_url, str(paid.numtrans)) is None:
            lost += 1
        ledger = next(
            t
            for t in await world.sandbox_transactions(paid.reference)
            if t["transaction_number"] == paid.numtrans
        )
        amounts = paid.item.amounts
        captured = Decimal(ledger["captured_amount"] or 0) / 100
        refunded = Decimal(ledger["refunded_amount"] or 0) / 100
        pending = amounts["chargePending"] + amounts["refundPending"] + amounts["cancelPending"]
        if amounts["charged"] != captured - refunded or amounts["refunded"] != refunded or pending:
            disagreeing += 1
    figure = Figure(scenario, len(payments), executions, not_once, lost, disagreeing)
    figure.record()
    return figure


def assert_exactly_once(figure: Figure) -> None:
    assert figure.executions == figure.operations, figure
    assert (figure.not_exactly_once, figure.legs_lost, figure.saleor_disagreeing) == (0, 0, 0)


async def lose_next_answer(world: World) -> None:
    """The sandbox executes the next GAE call on the main host and loses its answer."""
    response = await world.http.post(
        f"{world.sandbox_url}/sandbox/api/gae-faults",
        json={"code": "00001", "count": 1, "executed": True},
    )
    response.raise_for_status()


class TestCaptures:
    @pytest.mark.parametrize(
        ("point", "scenario"),
        [
            ("before_gae", "capture: crash before GAE"),
            ("after_gae", "capture: crash after GAE, before the journal"),
            ("after_journal", "capture: crash after the journal, before Saleor"),
            ("before_outcome", "capture: Redis blip writing the outcome"),
        ],
    )
    async def test_a_crash_point_never_captures_twice(
        self, world: World, point: str, scenario: str
    ) -> None:
        faults = install(world)
        payments = []
        for _ in range(OPERATIONS):
            paid = await pay(world, "channel-eur-auth")
            faults.arm(point)
            await world.request_action(paid.item.id, "CHARGE", "30.00")
            payments.append(paid)
        assert faults.fired == OPERATIONS
        past_the_leases(world)
        await world.run_jobs(clock=lambda: time.time() + 120)

        assert_exactly_once(await count(world, scenario, payments, "capture"))

    async def test_lost_gae_answers_are_settled(self, world: World) -> None:
        payments = []
        for _ in range(OPERATIONS):
            paid = await pay(world, "channel-eur-auth")
            await lose_next_answer(world)
            await world.request_action(paid.item.id, "CHARGE", "30.00")
            payments.append(paid)
        await world.run_jobs()

        assert_exactly_once(await count(world, "capture: GAE answer lost", payments, "capture"))

    async def test_redeliveries_of_answered_requests_replay_the_answer(self, world: World) -> None:
        payments = []
        for _ in range(OPERATIONS):
            paid = await pay(world, "channel-eur-auth")
            await world.request_action(paid.item.id, "CHARGE", "30.00")
            first = world.saleor.webhook_responses[-1][2]
            status, again = await world.saleor.redeliver(world.app_url)
            assert status == 200
            assert again["pspReference"] == first["pspReference"]
            assert again["result"] == "CHARGE_SUCCESS"
            payments.append(paid)

        assert_exactly_once(
            await count(
                world, "capture: Saleor redelivers an answered request", payments, "capture"
            )
        )


class TestRefunds:
    @pytest.mark.parametrize(
        ("point", "scenario"),
        [
            ("before_gae", "refund: crash before GAE"),
            ("after_gae", "refund: crash after GAE, before the journal"),
            ("after_journal", "refund: crash after the journal, before Saleor"),
            ("before_outcome", "refund: Redis blip writing the outcome"),
        ],
    )
    async def test_a_crash_point_never_refunds_twice(
        self, world: World, point: str, scenario: str
    ) -> None:
        faults = install(world)
        payments = [await pay(world, "channel-eur") for _ in range(OPERATIONS)]
        await world.move_sandbox_clock(1)
        world.move_clock(1)
        for paid in payments:
            faults.arm(point)
            await world.request_action(paid.item.id, "REFUND", "12.00")
        assert faults.fired == OPERATIONS
        past_the_leases(world, seconds=DAY + 120)
        await world.run_jobs(clock=lambda: time.time() + DAY + 120)

        assert_exactly_once(await count(world, scenario, payments, "refund"))

    async def test_lost_gae_answers_are_settled(self, world: World) -> None:
        payments = [await pay(world, "channel-eur") for _ in range(OPERATIONS)]
        await world.move_sandbox_clock(1)
        world.move_clock(1)
        for paid in payments:
            await lose_next_answer(world)
            await world.request_action(paid.item.id, "REFUND", "12.00")
        await world.run_jobs()

        assert_exactly_once(await count(world, "refund: GAE answer lost", payments, "refund"))

    async def test_a_deferred_refund_job_that_crashes_is_rerun_without_refunding_twice(
        self, world: World
    ) -> None:
        faults = install(world)
        payments = [await pay(world, "channel-eur") for _ in range(OPERATIONS)]
        for paid in payments:
            await world.request_action(paid.item.id, "REFUND", "12.00")  # deferred to D+1
        await world.run_jobs()  # the INFO events
        await world.move_sandbox_clock(1)
        world.move_clock(1)
        faults.arm("after_gae", OPERATIONS)
        # A deferred refund runs at 00:05 Paris time the day after: a day and ten minutes on
        # is past it whatever the time of day the test runs at.
        await world.run_jobs(clock=lambda: time.time() + DAY + 600)
        assert faults.fired == OPERATIONS

        assert_exactly_once(
            await count(world, "deferred refund: job crashes after GAE", payments, "refund")
        )


async def pay_with_complement(world: World) -> Paid:
    """An authorization: 20.00 of voucher and a 24.80 card complement; the complement's leg."""
    _, items, paid = await paid_checkout(
        world, "44.80", channel="channel-eur-auth", outcome="split", voucher_amount=2000
    )
    legs = await world.sandbox_transactions(paid["reference"])
    complement = next(t for t in legs if t["card_type"] == "LIMOCB")
    return Paid(
        leg_item(items, complement=True), int(complement["transaction_number"]), paid["reference"]
    )


class TestCancels:
    @pytest.mark.parametrize(
        ("point", "scenario"),
        [
            ("before_gae", "cancel: crash before GAE"),
            ("after_gae", "cancel: crash after GAE, before the journal"),
            ("after_journal", "cancel: crash after the journal, before Saleor"),
        ],
    )
    async def test_a_crash_point_never_cancels_twice(
        self, world: World, point: str, scenario: str
    ) -> None:
        faults = install(world)
        payments = []
        for _ in range(OPERATIONS):
            paid = await pay_with_complement(world)
            faults.arm(point)
            await world.request_action(paid.item.id, "CANCEL")
            payments.append(paid)
        assert faults.fired == OPERATIONS
        past_the_leases(world)
        await world.run_jobs(clock=lambda: time.time() + 120)

        figure = await count(world, scenario, payments, "cancel")
        assert_exactly_once(figure)
        assert all(p.item.amounts["canceled"] == Decimal("24.80") for p in payments)
