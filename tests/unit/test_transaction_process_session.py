"""TRANSACTION_PROCESS_SESSION use case with in-memory legs and sessions (no server, no sandbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from saleor_up2pay.services import Services
from saleor_up2pay.transactions.legs import LegRecord, LegRepository, LegStatus
from saleor_up2pay.transactions.results import (
    SessionActionRequired,
    SessionFailure,
    SessionSuccess,
)
from saleor_up2pay.transactions.sessions import SessionRepository
from saleor_up2pay.transactions.transaction_process_session import ProcessSession
from saleor_up2pay.up2pay.models import Leg, Numappel, Numtrans
from tests.support.sessions import session_of

URL = "https://shop.example/graphql/"
ITEM = "VHJhbnNhY3Rpb25JdGVtOjE="
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def payload(item: str = ITEM, action_type: str = "CHARGE") -> dict[str, Any]:
    return {
        "action": {"amount": Decimal("20.00"), "currency": "EUR", "actionType": action_type},
        "transaction": {"id": item, "pspReference": ""},
        "data": None,
    }


async def use_case(services: Services, *, minutes_after_start: int = 1) -> ProcessSession:
    session = session_of(URL, "UREF0001").model_copy(update={"method": "SODEXO", "created_at": NOW})
    await SessionRepository(services.redis).save(session)
    return ProcessSession(
        sessions=SessionRepository(services.redis),
        legs=LegRepository(services.redis),
        app_url="https://app.example",
        clock=lambda: NOW + timedelta(minutes=minutes_after_start),
    )


async def leg(services: Services, status: LegStatus, numtrans: str = "1000000001") -> None:
    code = {"ACCEPTED": "00000", "PENDING": "99999", "REFUSED": "00105"}[status.value]
    await LegRepository(services.redis).create(
        LegRecord(
            saleor_api_url=URL,
            reference="UREF0001",
            leg=Leg.SODEXO,
            numtrans=Numtrans(numtrans),
            numappel=Numappel("200000001"),
            amount=Decimal("20.00"),
            status=status,
            transaction_id=ITEM,
            error_code=code,
            message="msg",
            captured_amount=Decimal("20.00") if status is LegStatus.ACCEPTED else Decimal(0),
            paid_at=NOW,
        )
    )


class TestProcessSession:
    async def test_nothing_known_asks_to_call_again(self, services: Services) -> None:
        outcome = await (await use_case(services)).execute(URL, payload())
        assert isinstance(outcome, SessionActionRequired)
        assert outcome.data["up2pay"]["status"] == "waiting"

    async def test_accepted_leg_is_a_success_with_its_number(self, services: Services) -> None:
        case = await use_case(services)
        await leg(services, LegStatus.ACCEPTED)
        outcome = await case.execute(URL, payload())
        assert isinstance(outcome, SessionSuccess)
        assert (outcome.psp_reference, outcome.amount) == ("1000000001", Decimal("20.00"))
        assert outcome.actions == ["REFUND"]

    async def test_pending_leg_moves_no_money_and_says_pending(self, services: Services) -> None:
        """E=99999: ACTION_REQUIRED (no amount counted), status pending, never a *_REQUEST."""
        case = await use_case(services)
        await leg(services, LegStatus.PENDING)
        outcome = await case.execute(URL, payload())
        assert isinstance(outcome, SessionActionRequired)
        assert outcome.data["up2pay"]["status"] == "pending"
        assert "issuer" in outcome.message
        assert outcome.dump()["result"] == "CHARGE_ACTION_REQUIRED"

    async def test_refusal_is_held_while_the_shopper_may_retry(self, services: Services) -> None:
        case = await use_case(services)
        await leg(services, LegStatus.REFUSED)
        outcome = await case.execute(URL, payload())
        assert isinstance(outcome, SessionActionRequired)
        assert outcome.data["up2pay"]["refusedAttempts"] == 1

    async def test_refusal_after_the_hold_is_a_failure(self, services: Services) -> None:
        case = await use_case(services, minutes_after_start=11)
        await leg(services, LegStatus.REFUSED)
        outcome = await case.execute(URL, payload())
        assert isinstance(outcome, SessionFailure)
        assert outcome.errors[0].code == "PAYMENT_REFUSED"

    async def test_pending_return_ends_the_refusal_hold(self, services: Services) -> None:
        """A verified ``pending`` return means the shopper left the page: a refusal is final."""
        case = await use_case(services)
        await leg(services, LegStatus.REFUSED)
        await SessionRepository(services.redis).record_return(URL, "UREF0001", "pending")
        outcome = await case.execute(URL, payload())
        assert isinstance(outcome, SessionFailure)

    async def test_unknown_item_is_a_failure(self, services: Services) -> None:
        outcome = await (await use_case(services)).execute(URL, payload(item="other"))
        assert isinstance(outcome, SessionFailure)
        assert outcome.errors[0].code == "UNKNOWN_TRANSACTION"

    async def test_malformed_payload_names_the_field(self, services: Services) -> None:
        """Parsed at the edge: a missing transaction id is INVALID_PAYLOAD in the asked flow."""
        bad = payload(action_type="AUTHORIZATION")
        bad["transaction"] = {}
        outcome = await (await use_case(services)).execute(URL, bad)
        assert isinstance(outcome, SessionFailure)
        assert outcome.flow == "AUTHORIZATION"
        assert outcome.errors[0].code == "INVALID_PAYLOAD"
        assert "transaction.id" in outcome.errors[0].message
