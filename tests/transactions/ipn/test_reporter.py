"""Reporting IPN legs to a (fake, schema-validating) Saleor over loopback: items, events, statuses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from saleor_up2pay.jobs import Worker
from saleor_up2pay.redis_store import purge_instance
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.ipn_received import REFUSAL_HOLD, receive_ipn
from saleor_up2pay.transactions.leg_reporter import LegReporter
from saleor_up2pay.transactions.legs import LegRepository
from saleor_up2pay.transactions.sessions import SessionRepository
from saleor_up2pay.transactions.unknown_ipns import UnknownIpns
from saleor_up2pay.wiring import job_handlers
from tests.fakes.fake_saleor_transactions import Item
from tests.transactions.ipn_support import (
    SaleorWorld,
    ipn,
    new_session,
)

VOUCHER_S = "722487980"
COMPLEMENT_S = "722487985"


@pytest.fixture
def worker(services: Services) -> Worker:
    return Worker(services.job_queue, job_handlers(services), base_backoff=0.05, max_backoff=0.2)


def events(item: Item) -> list[tuple[str, str, Decimal]]:
    return [(e.type, e.psp_reference, e.amount) for e in item.events if e.include]


async def deliver(services: Services, worker: Worker, raw: bytes) -> None:
    await receive_ipn(services, raw)
    await worker.drain()


def outcomes(item: Item) -> list[tuple[str, str, Decimal]]:
    """The item's included result events (no request / action-required events)."""
    return [e for e in events(item) if e[0].endswith(("_SUCCESS", "_FAILURE"))]


async def make_due(services: Services) -> None:
    """Time passes: every waiting job is due now."""
    for job_id in await services.job_queue.pending_ids():
        await services.job_queue.set_due(job_id, 0)


class TestVoucherLeg:
    async def test_voucher_covering_the_total_makes_the_checkout_fully_paid(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """A paid voucher IPN for the whole total is a CHARGE_SUCCESS and the checkout completes."""
        session = await new_session(services, installed, total="15.10")
        await deliver(services, worker, ipn(session.reference, amount_cents=1510))
        item = installed.saleor.item(session.transaction_id)
        assert ("CHARGE_SUCCESS", VOUCHER_S, Decimal("15.10")) in events(item)
        assert item.amounts["charged"] == Decimal("15.10")
        assert item.name == "Up2pay · Bimpli (Apetiz)"
        assert item.actions == ["REFUND"]
        assert item.private_metadata == {
            "up2pay.reference": session.reference,
            "up2pay.leg": "APETIZ",
            "up2pay.numtrans": VOUCHER_S,
            "up2pay.numappel": "0014123450",
            "up2pay.authorization": "XXXXXX",
        }
        assert installed.saleor.checkout_status(session.source_id) == {
            "authorizeStatus": "FULL",
            "chargeStatus": "FULL",
        }
        completed = installed.saleor.checkout_complete(session.source_id)
        assert completed["errors"] == []
        leg = await LegRepository(services.redis).get_by_numtrans(installed.api_url, VOUCHER_S)
        assert leg is not None
        assert leg.reported

    async def test_partial_voucher_leaves_the_checkout_partial(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """A voucher paying part of the total leaves the checkout PARTIAL and not completable."""
        session = await new_session(services, installed, total="44.80")
        await deliver(services, worker, ipn(session.reference, amount_cents=2000))
        assert installed.saleor.checkout_status(session.source_id) == {
            "authorizeStatus": "PARTIAL",
            "chargeStatus": "PARTIAL",
        }
        completed = installed.saleor.checkout_complete(session.source_id)
        assert completed["errors"][0]["code"] == "CHECKOUT_NOT_FULLY_PAID"

    async def test_report_already_made_by_process_session_still_writes_metadata(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """When Saleor already has the event (alreadyProcessed), metadata is still persisted."""
        session = await new_session(services, installed, total="20.00")
        item = installed.saleor.item(session.transaction_id)
        installed.saleor._new_event(item, "CHARGE_SUCCESS", VOUCHER_S, Decimal("20.00"))
        await deliver(services, worker, ipn(session.reference, amount_cents=2000))
        item = installed.saleor.item(session.transaction_id)
        assert [e for e in events(item) if e[0] == "CHARGE_SUCCESS"] == [
            ("CHARGE_SUCCESS", VOUCHER_S, Decimal("20.00"))
        ]
        assert item.private_metadata["up2pay.numtrans"] == VOUCHER_S
        assert item.actions == ["REFUND"]

    async def test_conflicting_amount_is_logged_and_not_retried_forever(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """Saleor holding S with another amount is an error log, and the job ends."""
        session = await new_session(services, installed, total="20.00")
        item = installed.saleor.item(session.transaction_id)
        installed.saleor._new_event(item, "CHARGE_SUCCESS", VOUCHER_S, Decimal("19.00"))
        with capture_logs() as logs:
            await deliver(services, worker, ipn(session.reference, amount_cents=2000))
        assert any(entry["event"] == "ipn.report_conflict" for entry in logs)
        assert await services.job_queue.pending_count() == 0, logs
        assert installed.saleor.item(session.transaction_id).amounts["charged"] == Decimal("19")

    async def test_holiday_voucher_offers_no_refund_button(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """A Chèque-Vacances Connect leg cannot be refunded: no REFUND action is offered."""
        session = await new_session(services, installed, total="15.10", method="CVCONNECT")
        await deliver(
            services,
            worker,
            ipn(session.reference, amount_cents=1510, card="CVCONNECT", authorization=None),
        )
        item = installed.saleor.item(session.transaction_id)
        assert item.amounts["charged"] == Decimal("15.10")
        assert item.actions == []
        assert item.name == "Up2pay · Chèque-Vacances Connect"

    async def test_authorization_flow_reports_an_authorization(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """In the AUTHORIZATION flow a paid leg is an AUTHORIZATION_SUCCESS offering a capture."""
        session = await new_session(services, installed, total="20.00", action_type="AUTHORIZATION")
        await deliver(services, worker, ipn(session.reference, amount_cents=2000))
        item = installed.saleor.item(session.transaction_id)
        assert ("AUTHORIZATION_SUCCESS", VOUCHER_S, Decimal("20.00")) in events(item)
        assert item.amounts["authorized"] == Decimal("20.00")
        assert item.actions == ["CHARGE"]


class TestAttempts:
    async def test_refused_then_accepted_on_the_same_page(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """A refusal waits while the shopper may retry; the success is reported first, then it."""
        session = await new_session(services, installed, total="20.00")
        await deliver(
            services, worker, ipn(session.reference, amount_cents=2000, error="00105", numtrans="1")
        )
        item = installed.saleor.item(session.transaction_id)
        assert outcomes(item) == []
        assert await services.job_queue.pending_count() == 1
        await deliver(services, worker, ipn(session.reference, amount_cents=2000, numtrans="2"))
        await make_due(services)
        await worker.drain()
        item = installed.saleor.item(session.transaction_id)
        assert [(t, psp) for t, psp, _ in outcomes(item)] == [
            ("CHARGE_SUCCESS", "2"),
            ("CHARGE_FAILURE", "1"),
        ]
        failure = next(e for e in item.events if e.type == "CHARGE_FAILURE")
        assert "E=00105" in failure.message
        assert item.amounts["charged"] == Decimal("20.00")
        assert item.private_metadata["up2pay.numtrans"] == "2"
        assert installed.saleor.checkout_status(session.source_id)["chargeStatus"] == "FULL"

    async def test_refusal_is_reported_once_the_shopper_has_left_the_page(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """After a verified 'refused' browser return the held refusal is a CHARGE_FAILURE."""
        session = await new_session(services, installed, total="20.00")
        await deliver(
            services, worker, ipn(session.reference, amount_cents=2000, error="00105", numtrans="1")
        )
        assert outcomes(installed.saleor.item(session.transaction_id)) == []
        await SessionRepository(services.redis).record_return(
            installed.api_url, session.reference, "refused"
        )
        await make_due(services)
        await worker.drain()
        item = installed.saleor.item(session.transaction_id)
        assert outcomes(item) == [("CHARGE_FAILURE", "1", Decimal("20.00"))]
        assert item.amounts["charged"] == 0

    async def test_refusal_is_reported_at_the_latest_after_the_hold(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """Without any browser return, a refusal is reported once the hold is over."""
        started = datetime.now(UTC) - REFUSAL_HOLD - timedelta(seconds=1)
        session = await new_session(services, installed, total="20.00", created_at=started)
        await deliver(
            services, worker, ipn(session.reference, amount_cents=2000, error="00105", numtrans="1")
        )
        item = installed.saleor.item(session.transaction_id)
        assert outcomes(item) == [("CHARGE_FAILURE", "1", Decimal("20.00"))]

    async def test_later_failure_never_downgrades_a_success(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """A refusal arriving after a success is only an INFO event; amounts and buttons stay."""
        session = await new_session(services, installed, total="20.00")
        await deliver(services, worker, ipn(session.reference, amount_cents=2000, numtrans="2"))
        await deliver(
            services, worker, ipn(session.reference, amount_cents=2000, error="00105", numtrans="3")
        )
        item = installed.saleor.item(session.transaction_id)
        assert not [e for e in item.events if e.type == "CHARGE_FAILURE"]
        assert [e.psp_reference for e in item.events if e.type == "INFO"] == ["3"]
        assert item.amounts["charged"] == Decimal("20.00")
        assert item.actions == ["REFUND"]
        assert item.private_metadata["up2pay.numtrans"] == "2"

    async def test_pending_leg_counts_nothing_until_settled(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """A pending IPN (99999) is only an INFO event: no amount counts until the paid one."""
        session = await new_session(services, installed, total="20.00")
        await deliver(services, worker, ipn(session.reference, amount_cents=2000, error="99999"))
        item = installed.saleor.item(session.transaction_id)
        pending = [e for e in item.events if e.psp_reference == "722487980"]
        assert [(e.type, e.amount) for e in pending] == [("INFO", Decimal(0))]
        assert (item.amounts["chargePending"], item.amounts["charged"]) == (Decimal(0), Decimal(0))
        assert installed.saleor.checkout_status(session.source_id)["authorizeStatus"] == "NONE"
        await deliver(services, worker, ipn(session.reference, amount_cents=2000))
        item = installed.saleor.item(session.transaction_id)
        assert (item.amounts["chargePending"], item.amounts["charged"]) == (
            Decimal(0),
            Decimal("20.00"),
        )


class TestComplement:
    async def test_complement_first_then_voucher(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """The complement IPN first creates its own item; with the voucher the total is paid."""
        session = await new_session(services, installed, total="44.80")
        await deliver(
            services,
            worker,
            ipn(session.reference, amount_cents=2480, card="LIMOCB", numtrans=COMPLEMENT_S),
        )
        items = installed.saleor.items_of(session.source_id)
        assert len(items) == 2
        complement = items[1]
        assert complement.name == "Up2pay · card complement"
        assert complement.amounts["charged"] == Decimal("24.80")
        assert complement.actions == ["REFUND"]
        assert complement.private_metadata["up2pay.leg"] == "LIMOCB"
        assert complement.private_metadata["up2pay.reference"] == session.reference
        assert installed.saleor.checkout_status(session.source_id)["authorizeStatus"] == "PARTIAL"

        await deliver(services, worker, ipn(session.reference, amount_cents=2000))
        assert installed.saleor.checkout_status(session.source_id) == {
            "authorizeStatus": "FULL",
            "chargeStatus": "FULL",
        }
        order = installed.saleor.checkout_complete(session.source_id)["order"]
        assert order is not None
        assert installed.saleor.order_status(order["id"]) == {
            "authorizeStatus": "FULL",
            "chargeStatus": "FULL",
        }
        legs = LegRepository(services.redis)
        leg = await legs.get_by_transaction(installed.api_url, complement.id)
        assert leg is not None
        assert leg.numtrans == COMPLEMENT_S

    async def test_second_complement_attempt_reuses_the_item(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """A refused then accepted complement gives one complement item with both events."""
        session = await new_session(services, installed, total="44.80")
        await deliver(
            services,
            worker,
            ipn(session.reference, amount_cents=2480, card="LIMOCB", numtrans="5", error="00105"),
        )
        await deliver(
            services,
            worker,
            ipn(session.reference, amount_cents=2480, card="LIMOCB", numtrans="6"),
        )
        items = installed.saleor.items_of(session.source_id)
        assert len(items) == 2
        assert [(e[0], e[1]) for e in events(items[1])] == [
            ("CHARGE_FAILURE", "5"),
            ("CHARGE_SUCCESS", "6"),
        ]

    async def test_complement_after_checkout_completion_goes_on_the_order(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """If the checkout became an order meanwhile, the complement item is created on it."""
        session = await new_session(services, installed, total="44.80")
        installed.saleor.channels["channel-eur"].allow_unpaid_orders = True
        await deliver(services, worker, ipn(session.reference, amount_cents=2000))
        order = installed.saleor.checkout_complete(session.source_id)["order"]
        await deliver(
            services,
            worker,
            ipn(session.reference, amount_cents=2480, card="LIMOCB", numtrans=COMPLEMENT_S),
        )
        items = installed.saleor.items_of(order["id"])
        assert [i.name for i in items] == ["Up2pay · Bimpli (Apetiz)", "Up2pay · card complement"]
        assert installed.saleor.order_status(order["id"])["chargeStatus"] == "FULL"

    async def test_lost_complement_id_finds_the_item_again(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """A complement item created before a crash is found by its metadata, not duplicated."""
        session = await new_session(services, installed, total="44.80")
        await deliver(
            services,
            worker,
            ipn(session.reference, amount_cents=2480, card="LIMOCB", numtrans="5", error="00105"),
        )
        keys = [k async for k in services.redis.scan_iter("*complement-tx*")]
        await services.redis.delete(*keys)
        await deliver(
            services, worker, ipn(session.reference, amount_cents=2480, card="LIMOCB", numtrans="6")
        )
        assert len(installed.saleor.items_of(session.source_id)) == 2


class TestRetries:
    async def test_saleor_down_then_back(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """While Saleor answers 503 the report waits; once it is back, the leg is reported."""
        session = await new_session(services, installed, total="20.00")
        installed.saleor.down = True
        await receive_ipn(services, ipn(session.reference, amount_cents=2000))
        await worker.drain()
        await make_due(services)  # the retry's backoff has passed: no sleeping
        await worker.drain()
        queue = services.job_queue
        assert await queue.pending_count() == 1
        assert installed.saleor.item(session.transaction_id).amounts["charged"] == 0
        installed.saleor.down = False
        await make_due(services)
        await worker.drain()
        assert await queue.pending_count() == 0
        assert installed.saleor.item(session.transaction_id).amounts["charged"] == Decimal("20")

    async def test_not_installed_is_retried_not_dropped(
        self, services: Services, world: SaleorWorld, worker: Worker
    ) -> None:
        """Without the app's token the job stays queued."""
        session = await new_session(services, world, total="20.00")
        await receive_ipn(services, ipn(session.reference, amount_cents=2000))
        await worker.drain()
        queue = services.job_queue
        (job_id,) = await queue.pending_ids()
        job = await queue.get(str(job_id))
        assert job is not None
        assert "not installed" in job.last_error

    async def test_job_recreates_a_leg_lost_in_a_crash(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """If the process died after queueing but before storing the leg, the job stores it."""
        session = await new_session(services, installed, total="20.00")
        await receive_ipn(services, ipn(session.reference, amount_cents=2000))
        keys = [k async for k in services.redis.scan_iter("*:leg:*")]
        await services.redis.delete(*keys)
        await worker.drain()
        leg = await LegRepository(services.redis).get_by_numtrans(installed.api_url, VOUCHER_S)
        assert leg is not None
        assert leg.reported
        assert installed.saleor.item(session.transaction_id).amounts["charged"] == Decimal("20")

    async def test_job_of_an_uninstalled_instance_is_dropped(
        self, services: Services, installed: SaleorWorld, worker: Worker
    ) -> None:
        """After APP_DELETED purged the instance, a pending report neither retries nor recreates."""
        session = await new_session(services, installed, total="20.00")
        installed.saleor.down = True
        await receive_ipn(services, ipn(session.reference, amount_cents=2000))
        await worker.drain()
        await purge_instance(services.redis, installed.api_url)
        installed.saleor.down = False
        await make_due(services)
        await worker.drain()
        assert await services.job_queue.pending_count() == 0
        assert [k async for k in services.redis.scan_iter("*:leg:*")] == []
        assert installed.saleor.item(session.transaction_id).amounts["charged"] == 0


class TestUnreportable:
    async def test_complement_of_a_deleted_checkout_is_kept_for_investigation(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """When Saleor keeps answering NOT_FOUND the job stops and the leg is kept, not lost."""
        worker = Worker(
            services.job_queue, job_handlers(services), base_backoff=0.01, max_backoff=0.02
        )
        session = await new_session(services, installed, total="44.80")
        installed.saleor.delete_checkout(session.source_id)
        await receive_ipn(
            services,
            ipn(session.reference, amount_cents=2480, card="LIMOCB", numtrans=COMPLEMENT_S),
        )
        await worker.run_once()
        assert await services.job_queue.pending_count() == 1  # retried at first
        assert await UnknownIpns(services.redis).latest() == []
        deadline = asyncio.get_running_loop().time() + 10
        while await services.job_queue.pending_count():
            assert asyncio.get_running_loop().time() < deadline, "the job never gave up"
            await worker.run_once()
            await asyncio.sleep(0.01)
        (kept,) = await UnknownIpns(services.redis).latest()
        assert kept.reason.startswith("not reportable to Saleor")
        assert (kept.reference, kept.numtrans, kept.amount_cents) == (
            session.reference,
            COMPLEMENT_S,
            2480,
        )
        assert kept.saleor_api_url == installed.api_url
        leg = await LegRepository(services.redis).get_by_numtrans(installed.api_url, COMPLEMENT_S)
        assert leg is not None
        assert not leg.reported
        assert list(installed.saleor.items) == [session.transaction_id]  # no complement item


class TestReferenceLock:
    async def test_lock_outlives_its_lifetime_while_the_report_runs(
        self, services: Services
    ) -> None:
        """A report slower than the lock's lifetime keeps the sibling leg out until it ends."""
        holder, sibling = LegReporter(services), LegReporter(services)
        url = "https://shop.example/graphql/"

        async with holder.reference_lock(url, "REF1", seconds=0.3) as locked:
            assert locked
            await asyncio.sleep(1.0)  # more than three lifetimes
            async with sibling.reference_lock(url, "REF1", seconds=0.3) as other:
                assert not other
        async with sibling.reference_lock(url, "REF1", seconds=0.3) as other:
            assert other

    async def test_lock_of_a_crashed_holder_expires(self, services: Services) -> None:
        """Nobody renews a lock whose holder is gone: it frees itself after its lifetime."""
        reporter = LegReporter(services)
        url = "https://shop.example/graphql/"
        lock = reporter.reference_lock(url, "REF2", seconds=0.2)
        assert await lock.__aenter__()
        # The process dies: its renewal task is gone and the lock is never released.
        [renewal] = [t for t in asyncio.all_tasks() if t.get_name().startswith("lock:")]
        renewal.cancel()
        await asyncio.wait({renewal})
        await asyncio.sleep(0.4)

        async with reporter.reference_lock(url, "REF2", seconds=0.2) as locked:
            assert locked
        await lock.__aexit__(None, None, None)
