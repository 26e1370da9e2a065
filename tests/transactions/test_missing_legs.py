"""Fault injection: lost IPNs are found, pending legs settle, what cannot be resolved is shown.

Each scenario runs the app, the sandbox and the fake Saleor on loopback, loses something on
purpose (an IPN the sandbox drops, a Redis error in the middle of a reconcile, Saleor down while
reporting) and then counts, against the sandbox's ledger:

- **lost**: legs the sandbox accepted that have no ``*_SUCCESS`` in Saleor *and* no open
  problem telling the merchant about them;
- **duplicates**: ``*_SUCCESS`` events beyond one per transaction number;
- **disagreeing**: legs where Saleor's charged amount differs from the sandbox's (or a refused or
  pending leg counted as money).

The figures are printed at the end of the module and copied into ``docs/reliability.md``
("Missing and pending legs"). Time is moved by running jobs with a queue clock in the future
(``World.run_jobs(clock=...)``), never by sleeping.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from saleor_up2pay.transactions.leg_reporter import LegReporter
from saleor_up2pay.transactions.legs import LegRepository, LegStatus
from tests.support import figures as run_figures
from tests.transactions.payment_world import World, form_of

VOUCHER = {"method": "SODEXO", "returnUrl": "https://shop.example/checkout/payment"}


@dataclass(frozen=True)
class Figures:
    scenario: str
    legs: int
    found_by_inquiry: int
    problems: int
    lost: int
    duplicates: int
    disagreeing: int


def record_figures(figure: Figures) -> None:
    """Add one scenario's line to the run's figures (printed at the end of the run)."""
    f = figure
    run_figures.add_row(
        "Missing and pending legs (fault injection)",
        "| scenario | legs | found by inquiry | problems | lost | duplicates | disagreeing |",
        f"| {f.scenario} | {f.legs} | {f.found_by_inquiry} | {f.problems} | {f.lost} | "
        f"{f.duplicates} | {f.disagreeing} |",
    )


def later(seconds: float) -> Callable[[], float]:
    """A job-queue clock ``seconds`` ahead: jobs due by then run now."""
    return lambda: time.time() + seconds


async def started(world: World, total: str = "20.00") -> tuple[str, str, dict[str, Any]]:
    checkout = world.saleor.create_checkout(total)
    initialized = await world.initialize(checkout.id, VOUCHER)
    return checkout.id, initialized["transaction"]["id"], initialized


async def open_problems(world: World) -> dict[str, Any]:
    board = world.services.problems
    return {p.key: p for p in await board.open(world.fake.api_url)}


async def count(world: World, scenario: str, checkout_id: str, reference: str) -> Figures:
    """Compare the sandbox's ledger with Saleor's items and the app's problems."""
    ledger = await world.sandbox_transactions(reference)
    events = [e for item in world.saleor.items_of(checkout_id) for e in item.events]
    successes = [e for e in events if e.type.endswith("_SUCCESS") and e.psp_reference]
    per_psp = Counter(e.psp_reference for e in successes)
    charged: dict[str, Decimal] = {}
    for e in successes:
        charged[e.psp_reference] = charged.get(e.psp_reference, Decimal(0)) + e.amount
    problems = await open_problems(world)
    legs = LegRepository(world.services.redis)
    lost = disagreeing = found = 0
    for t in ledger:
        number = str(t["transaction_number"])
        amount = Decimal(t["amount"]) / 100
        record = await legs.get_by_numtrans(world.fake.api_url, number)
        if record is not None and "consultation GAE" in record.message:
            found += 1
        if t["error_code"] == "00000":
            shown = any(reference in key or number in key for key in problems)
            if per_psp[number] == 0 and not shown:
                lost += 1
            if per_psp[number] and charged[number] != amount:
                disagreeing += 1
        elif per_psp[number]:
            disagreeing += 1
    duplicates = sum(n - 1 for n in per_psp.values() if n > 1)
    figures = Figures(scenario, len(ledger), found, len(problems), lost, duplicates, disagreeing)
    record_figures(figures)
    return figures


class TestLostIpn:
    async def test_lost_ipn_with_browser_return_is_found_by_inquiry(self, world: World) -> None:
        """No IPN, a verified return: after the delay GAE is asked and the leg is reported."""
        checkout_id, item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "voucher", drop_ipn_card_types=["SODEXO"])
        assert [ipn["dropped"] for ipn in paid["ipns"]] == [True]
        await world.http.get(paid["return_url"])
        await world.run_jobs()
        assert world.saleor.item(item_id).amounts["charged"] == 0  # not before the delay

        await world.run_jobs(clock=later(60))

        assert world.saleor.item(item_id).amounts["charged"] == Decimal("20.00")
        assert world.saleor.checkout_status(checkout_id)["authorizeStatus"] == "FULL"
        process = await world.process(item_id)
        assert process["transactionEvent"]["type"] == "CHARGE_SUCCESS"
        figures = await count(world, "IPN lost + browser return", checkout_id, paid["reference"])
        assert (figures.lost, figures.duplicates, figures.disagreeing) == (0, 0, 0)
        assert figures.found_by_inquiry == 1

    async def test_late_ipn_after_reconciliation_is_a_duplicate(self, world: World) -> None:
        """The IPN that was lost arrives after the inquiry found its leg: nothing new."""
        checkout_id, item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "voucher", drop_ipn_card_types=["SODEXO"])
        await world.http.get(paid["return_url"])
        await world.run_jobs(clock=later(60))
        (dropped,) = paid["ipns"]

        late = await world.http.post(
            dropped["url"],
            content=dropped["body"].encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        await world.run_jobs(clock=later(2000))

        assert late.status_code == 200
        assert world.saleor.item(item_id).amounts["charged"] == Decimal("20.00")
        figures = await count(
            world, "late IPN after reconciliation", checkout_id, paid["reference"]
        )
        assert (figures.lost, figures.duplicates, figures.disagreeing) == (0, 0, 0)

    async def test_ipn_arriving_in_time_makes_the_reconcile_a_no_op(self, world: World) -> None:
        """IPN and return both arrive: the reconcile asks GAE nothing and changes nothing."""
        checkout_id, item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "voucher")
        await world.http.get(paid["return_url"])
        await world.run_jobs(clock=later(2000))

        assert world.saleor.item(item_id).amounts["charged"] == Decimal("20.00")
        figures = await count(world, "IPN delivered (control)", checkout_id, paid["reference"])
        assert (figures.found_by_inquiry, figures.problems) == (0, 0)
        assert (figures.lost, figures.duplicates, figures.disagreeing) == (0, 0, 0)

    async def test_lost_ipn_and_no_return_becomes_a_problem_at_expiry(self, world: World) -> None:
        """No IPN, no return: GAE cannot be asked without S, so the merchant is told."""
        checkout_id, item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "voucher", drop_ipn_card_types=["SODEXO"])
        await world.run_jobs(clock=later(60))
        assert await open_problems(world) == {}

        await world.run_jobs(clock=later(16 * 60 + 5))

        problems = await open_problems(world)
        key = f"payment-unconfirmed:{paid['reference']}"
        assert list(problems) == [key]
        assert key in world.fake.open_problems()
        assert world.saleor.item(item_id).amounts["charged"] == 0
        figures = await count(
            world, "IPN lost + no return (expiry)", checkout_id, paid["reference"]
        )
        assert (figures.lost, figures.duplicates, figures.disagreeing) == (0, 0, 0)
        assert figures.problems == 1

    async def test_lost_complement_ipn_is_a_problem_at_expiry(self, world: World) -> None:
        """The return describes the voucher leg only: a lost complement is shown, not guessed."""
        checkout_id, _, initialized = await started(world, total="44.80")
        paid = await world.pay(
            form_of(initialized), "split", voucher_amount=2000, drop_ipn_card_types=["LIMOCB"]
        )
        await world.http.get(paid["return_url"])
        await world.run_jobs(clock=later(16 * 60 + 5))

        assert list(await open_problems(world)) == [f"leg-missing:{paid['reference']}"]
        figures = await count(world, "complement IPN lost + return", checkout_id, paid["reference"])
        assert (figures.lost, figures.duplicates, figures.disagreeing) == (0, 0, 0)

    async def test_redis_blip_during_reconcile_is_retried(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Redis fails between queueing the report and storing the leg: the retry finishes it."""
        checkout_id, item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "voucher", drop_ipn_card_types=["SODEXO"])
        await world.http.get(paid["return_url"])
        real_begin = LegReporter.begin
        blips = {"left": 2}

        async def flaky_begin(self: LegReporter, record: Any, *args: Any) -> Any:
            # The report job's first script stores the leg (if lost) and starts the report.
            if blips["left"] > 0 and "consultation GAE" in record.message:
                blips["left"] -= 1
                msg = "simulated Redis blip"
                raise RedisConnectionError(msg)
            return await real_begin(self, record, *args)

        monkeypatch.setattr(LegReporter, "begin", flaky_begin)

        await world.run_jobs(clock=later(60))
        await world.run_jobs(clock=later(120))

        assert blips["left"] == 0
        assert world.saleor.item(item_id).amounts["charged"] == Decimal("20.00")
        figures = await count(world, "Redis blips during reconcile", checkout_id, paid["reference"])
        assert (figures.lost, figures.duplicates, figures.disagreeing) == (0, 0, 0)

    async def test_saleor_down_while_reporting_shows_then_dismisses_a_problem(
        self, world: World
    ) -> None:
        """A leg Saleor cannot take for a while becomes ``leg-unreported:<S>``, then is reported."""
        checkout_id, item_id, initialized = await started(world)
        world.saleor.down = True
        paid = await world.pay(form_of(initialized), "voucher", drop_ipn_card_types=["SODEXO"])
        await world.http.get(paid["return_url"])
        for _ in range(8):
            await world.run_jobs(clock=later(60), max_seconds=1)
        numtrans = str(paid["transactions"][0]["transaction_number"])
        assert f"leg-unreported:{numtrans}" in await open_problems(world)
        down_figures = await count(
            world, "Saleor down (while down)", checkout_id, paid["reference"]
        )
        assert down_figures.lost == 0  # not in Saleor, but shown on the page

        world.saleor.down = False
        await world.run_jobs(clock=later(400))

        assert world.saleor.item(item_id).amounts["charged"] == Decimal("20.00")
        assert await open_problems(world) == {}
        figures = await count(world, "Saleor down while reporting", checkout_id, paid["reference"])
        assert (figures.lost, figures.duplicates, figures.disagreeing) == (0, 0, 0)


class TestPendingLeg:
    async def test_pending_leg_counts_nothing_then_settles_by_inquiry(self, world: World) -> None:
        """99999: INFO only, process keeps waiting; the final IPN is lost, the inquiry settles it."""
        checkout_id, item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "pending")
        numtrans = str(paid["transactions"][0]["transaction_number"])
        assert paid["return_kind"] == "pending"

        process = await world.process(item_id)
        item = world.saleor.item(item_id)
        assert process["transactionEvent"]["type"] == "CHARGE_ACTION_REQUIRED"
        assert process["data"]["up2pay"]["status"] == "pending"
        assert [e.type for e in item.events if e.psp_reference == numtrans] == ["INFO"]
        assert world.saleor.checkout_status(checkout_id)["authorizeStatus"] == "NONE"

        resolved = await world.http.post(
            f"{world.sandbox_url}/sandbox/api/pending/resolve",
            json={"transaction_number": int(numtrans), "result": "accepted", "send_ipn": False},
        )
        assert resolved.status_code == 200
        await world.run_jobs(clock=later(90))

        leg = await LegRepository(world.services.redis).get_by_numtrans(
            world.fake.api_url, numtrans
        )
        assert leg is not None
        assert leg.status is LegStatus.ACCEPTED
        assert world.saleor.item(item_id).amounts["charged"] == Decimal("20.00")
        assert world.saleor.checkout_status(checkout_id)["authorizeStatus"] == "FULL"
        figures = await count(world, "pending, final IPN lost", checkout_id, paid["reference"])
        assert (figures.lost, figures.duplicates, figures.disagreeing) == (0, 0, 0)

    async def test_final_ipn_first_wins_and_the_settle_job_stops(self, world: World) -> None:
        """The issuer refuses and its IPN arrives: a failure, and the inquiry changes nothing."""
        checkout_id, item_id, initialized = await started(world)
        paid = await world.pay(form_of(initialized), "pending")
        numtrans = str(paid["transactions"][0]["transaction_number"])
        await world.http.get(paid["return_url"])
        resolved = await world.http.post(
            f"{world.sandbox_url}/sandbox/api/pending/resolve",
            json={"transaction_number": int(numtrans), "result": "refused"},
        )
        assert resolved.json()["ipns"][0]["delivered"]
        await world.run_jobs(clock=later(11 * 60))

        process = await world.process(item_id)
        assert process["transactionEvent"]["type"] == "CHARGE_FAILURE"
        assert world.saleor.item(item_id).amounts["charged"] == 0
        figures = await count(world, "pending, refused by its IPN", checkout_id, paid["reference"])
        assert (figures.lost, figures.duplicates, figures.disagreeing) == (0, 0, 0)
