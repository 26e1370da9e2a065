"""Sync webhook answers serialise the way Saleor's validators accept them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from saleor_up2pay.saleor.responses import (
    ActionResponse,
    CardDetails,
    GatewayInitResponse,
    OtherDetails,
    SessionResponse,
)


class TestSessionResponse:
    def test_dump_is_camel_case_with_string_amounts(self) -> None:
        """Keys are camelCase, amounts strings, nulls absent (no empty externalUrl)."""
        response = SessionResponse(
            result="CHARGE_SUCCESS",
            psp_reference="722487980",
            amount=Decimal("20.00"),
            actions=["REFUND"],
            payment_method_details=OtherDetails(name="Apetiz"),
        )
        assert response.dump() == {
            "result": "CHARGE_SUCCESS",
            "pspReference": "722487980",
            "amount": "20.00",
            "actions": ["REFUND"],
            "paymentMethodDetails": {"type": "OTHER", "name": "Apetiz"},
        }

    def test_action_required_keeps_data_and_time(self) -> None:
        """data is passed through verbatim (key order kept) and time is ISO-8601."""
        data = {"PBX_SITE": "1999888", "PBX_RANG": "043", "PBX_HMAC": "AB"}
        response = SessionResponse(
            result="CHARGE_ACTION_REQUIRED",
            data=data,
            time=datetime(2026, 11, 26, 15, 0, tzinfo=UTC),
        )
        dumped = response.dump()
        assert list(dumped["data"]) == ["PBX_SITE", "PBX_RANG", "PBX_HMAC"]
        assert dumped["time"] == "2026-11-26T15:00:00Z"
        assert "pspReference" not in dumped

    @pytest.mark.parametrize("result", ["CHARGE_SUCCESS", "AUTHORIZATION_REQUEST"])
    def test_success_and_request_need_a_psp_reference(self, result: str) -> None:
        """Saleor rejects these without pspReference, so the model does first."""
        with pytest.raises(ValidationError, match="pspReference"):
            SessionResponse(result=result)

    @pytest.mark.parametrize("result", ["charge_success", "REFUND_SUCCESS", "CANCEL"])
    def test_results_outside_saleors_list_are_refused(self, result: str) -> None:
        """Only the exact upper-case session results exist."""
        with pytest.raises(ValidationError):
            SessionResponse(result=result, psp_reference="1")

    def test_empty_external_url_is_refused(self) -> None:
        """An empty externalUrl would make Saleor discard the answer."""
        with pytest.raises(ValidationError):
            SessionResponse(result="CHARGE_FAILURE", external_url="")

    def test_card_details_limits(self) -> None:
        """Card details follow Saleor's limits (4 digits, month 1-12)."""
        card = CardDetails(
            name="Visa", brand="visa", last_digits="4242", exp_month=12, exp_year=2030
        )
        assert card.dump()["lastDigits"] == "4242"
        with pytest.raises(ValidationError):
            CardDetails(name="Visa", last_digits="42424")
        with pytest.raises(ValidationError):
            CardDetails(name="Visa", exp_month=13)


class TestActionResponse:
    def test_sync_success(self) -> None:
        """A sync refund success carries its own pspReference and the remaining actions."""
        response = ActionResponse(
            psp_reference="722488001", result="REFUND_SUCCESS", amount=Decimal("3.2"), actions=[]
        )
        assert response.dump() == {
            "pspReference": "722488001",
            "result": "REFUND_SUCCESS",
            "amount": "3.2",
            "actions": [],
        }

    def test_async_form_needs_a_psp_reference(self) -> None:
        """Without a result the answer is the async form, which requires pspReference."""
        assert ActionResponse(psp_reference="r1").dump() == {"pspReference": "r1"}
        with pytest.raises(ValidationError):
            ActionResponse()

    def test_async_form_never_carries_actions(self) -> None:
        """Saleor 3.23.28 stores an async answer's actions unnormalised (fact 25): refused."""
        with pytest.raises(ValidationError, match="asynchronous answer must not carry actions"):
            ActionResponse(psp_reference="r1", actions=["REFUND"])

    def test_failure_without_psp_reference(self) -> None:
        """A failure may omit pspReference and explain itself."""
        dumped = ActionResponse(result="CANCEL_FAILURE", message="already captured").dump()
        assert dumped == {"result": "CANCEL_FAILURE", "message": "already captured"}

    def test_message_over_512_characters_is_refused(self) -> None:
        """Saleor would truncate; the app fails loudly instead."""
        with pytest.raises(ValidationError):
            ActionResponse(result="CHARGE_FAILURE", message="x" * 513)


class TestGatewayInitResponse:
    def test_data_key_is_always_present(self) -> None:
        """PAYMENT_GATEWAY_INITIALIZE_SESSION needs the data key even when it is null."""
        assert GatewayInitResponse(data=None).dump() == {"data": None}
        assert GatewayInitResponse(data={"methods": ["APETIZ"]}).dump() == {
            "data": {"methods": ["APETIZ"]}
        }
