"""IPN ingest: verified first, persisted keyed by S, queued for reporting, duplicates ignored."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_up2pay.redis_store import Redis
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.ipn_received import REPORT_JOB, receive_ipn
from saleor_up2pay.transactions.legs import LegRepository, LegStatus
from saleor_up2pay.transactions.unknown_ipns import UnknownIpns
from saleor_up2pay.up2pay.errors import MalformedMessage, SignatureInvalid
from saleor_up2pay.up2pay.models import Leg
from tests.transactions.ipn_support import (
    SaleorWorld,
    ipn,
    new_session,
)


async def all_keys(redis: Redis) -> set[str]:
    return {str(k) async for k in redis.scan_iter("*")}


class TestReceiveIpn:
    async def test_accepted_leg_is_stored_and_queued(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """A paid voucher IPN becomes an accepted leg on the session's item and a report job."""
        session = await new_session(services, installed)
        receipt = await receive_ipn(services, ipn(session.reference, amount_cents=2000))
        assert receipt.status == "accepted"
        leg = await LegRepository(services.redis).get_by_numtrans(installed.api_url, "722487980")
        assert leg is not None
        assert (leg.leg, leg.status, leg.amount) == (Leg.APETIZ, LegStatus.ACCEPTED, Decimal("20"))
        assert leg.transaction_id == session.transaction_id
        assert leg.numappel == "0014123450"
        assert leg.captured_amount == Decimal("20.00")
        assert not leg.reported
        job = (await services.job_queue.claim())[0]
        assert job.kind == REPORT_JOB
        assert job.payload["leg"]["numtrans"] == "722487980"

    async def test_same_transaction_number_five_times_is_one_leg_one_job(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """Four repeats of an IPN (same S) change nothing."""
        session = await new_session(services, installed)
        raw = ipn(session.reference, amount_cents=2000)
        statuses = [(await receive_ipn(services, raw)).status for _ in range(5)]
        assert statuses == ["accepted"] + ["duplicate"] * 4
        legs = await LegRepository(services.redis).legs_for_reference(
            installed.api_url, session.reference
        )
        assert len(legs) == 1
        assert await services.job_queue.pending_count() == 1

    async def test_bad_signature_changes_nothing(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """A tampered amount fails verification and leaves Redis as it was."""
        session = await new_session(services, installed)
        before = await all_keys(services.redis)
        tampered = ipn(session.reference, amount_cents=2000).replace(b"M=2000", b"M=9000")
        with pytest.raises(SignatureInvalid):
            await receive_ipn(services, tampered)
        assert await all_keys(services.redis) == before

    async def test_unsigned_message_changes_nothing(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """An IPN without its signature is refused before anything is read."""
        session = await new_session(services, installed)
        before = await all_keys(services.redis)
        raw = ipn(session.reference, amount_cents=2000).split(b"&K=")[0]
        with pytest.raises((MalformedMessage, SignatureInvalid)):
            await receive_ipn(services, raw)
        assert await all_keys(services.redis) == before

    async def test_unknown_reference_is_kept_not_reported(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """An IPN for a reference no session knows is kept for investigation, not queued."""
        receipt = await receive_ipn(services, ipn("UNKNOWN0001", amount_cents=1500))
        assert receipt.status == "unknown_reference"
        kept = await UnknownIpns(services.redis).latest()
        assert [(k.reference, k.numtrans, k.amount_cents) for k in kept] == [
            ("UNKNOWN0001", "722487980", 1500)
        ]
        assert "K=" in kept[0].raw
        assert await services.job_queue.pending_count() == 0

    async def test_complement_leg_waits_for_its_own_item(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """A LIMOCB leg is stored without a transaction item (one is created when reporting)."""
        session = await new_session(services, installed)
        await receive_ipn(
            services, ipn(session.reference, amount_cents=2480, card="LIMOCB", numtrans="7224879")
        )
        leg = await LegRepository(services.redis).get_by_numtrans(installed.api_url, "7224879")
        assert leg is not None
        assert (leg.leg, leg.transaction_id) == (Leg.LIMOCB, None)

    async def test_refused_attempt_is_a_refused_leg(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """A refusal code gives a refused leg with the readable French message."""
        session = await new_session(services, installed)
        await receive_ipn(services, ipn(session.reference, amount_cents=2000, error="00105"))
        leg = await LegRepository(services.redis).get_by_numtrans(installed.api_url, "722487980")
        assert leg is not None
        assert leg.status is LegStatus.REFUSED
        assert leg.captured_amount == 0
        assert leg.message

    async def test_pending_then_final_with_same_number_upgrades(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """A pending IPN (99999) followed by the paid one with the same S is reported twice.

        The pending one also queued its settle-by-inquiry job (a no-op once the leg is final).
        """
        session = await new_session(services, installed)
        first = await receive_ipn(
            services, ipn(session.reference, amount_cents=2000, error="99999")
        )
        second = await receive_ipn(services, ipn(session.reference, amount_cents=2000))
        third = await receive_ipn(
            services, ipn(session.reference, amount_cents=2000, error="99999")
        )
        assert (first.status, second.status, third.status) == ("accepted", "upgraded", "duplicate")
        leg = await LegRepository(services.redis).get_by_numtrans(installed.api_url, "722487980")
        assert leg is not None
        assert leg.status is LegStatus.ACCEPTED
        assert await services.job_queue.pending_count() == 3

    async def test_authorization_flow_leg_is_not_captured(
        self, services: Services, installed: SaleorWorld
    ) -> None:
        """In the AUTHORIZATION flow an accepted leg waits for a capture."""
        session = await new_session(services, installed, action_type="AUTHORIZATION")
        await receive_ipn(services, ipn(session.reference, amount_cents=2000))
        leg = await LegRepository(services.redis).get_by_numtrans(installed.api_url, "722487980")
        assert leg is not None
        assert (leg.captured_amount, leg.capturable_amount) == (Decimal(0), Decimal("20.00"))
