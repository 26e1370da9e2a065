"""Answers to Saleor's payment sync webhooks, shaped the way Saleor's validators accept them.

``.dump()`` gives camelCase keys, omits nulls (an ``""`` or ``null`` ``externalUrl`` would make
Saleor turn the whole answer into a failure event) and writes amounts as strings. A model refuses
what Saleor would refuse (missing ``pspReference`` on a success, bad ``result``), so a use case
learns about it in tests rather than from a ``*_FAILURE`` event in production.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator
from pydantic.alias_generators import to_camel

Action = Literal["CHARGE", "REFUND", "CANCEL"]
SessionResult = Literal[
    "CHARGE_SUCCESS",
    "CHARGE_FAILURE",
    "CHARGE_REQUEST",
    "CHARGE_ACTION_REQUIRED",
    "AUTHORIZATION_SUCCESS",
    "AUTHORIZATION_FAILURE",
    "AUTHORIZATION_REQUEST",
    "AUTHORIZATION_ACTION_REQUIRED",
]
ActionResult = Literal[
    "CHARGE_SUCCESS",
    "CHARGE_FAILURE",
    "REFUND_SUCCESS",
    "REFUND_FAILURE",
    "CANCEL_SUCCESS",
    "CANCEL_FAILURE",
]


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def dump(self) -> dict[str, Any]:
        """The JSON object to answer with (camelCase, nulls omitted, amounts as strings)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class CardDetails(_Out):
    """``paymentMethodDetails`` for a card (Saleor 3.22+)."""

    type: Literal["CARD"] = "CARD"
    name: str = Field(max_length=256)
    brand: str | None = Field(None, max_length=40)
    first_digits: str | None = Field(None, max_length=4)
    last_digits: str | None = Field(None, max_length=4)
    exp_month: int | None = Field(None, ge=1, le=12)
    exp_year: int | None = Field(None, ge=2000)


class OtherDetails(_Out):
    """``paymentMethodDetails`` for anything that is not a card (a meal voucher, say)."""

    type: Literal["OTHER"] = "OTHER"
    name: str = Field(max_length=256)


class SessionResponse(_Out):
    """Answer to TRANSACTION_INITIALIZE_SESSION and TRANSACTION_PROCESS_SESSION."""

    result: SessionResult
    psp_reference: str | None = None
    amount: Decimal | None = Field(None, ge=0)
    data: Any = None
    time: datetime | None = None
    external_url: HttpUrl | None = None
    message: str | None = Field(None, max_length=512)
    actions: list[Action] | None = None
    payment_method_details: CardDetails | OtherDetails | None = None

    @model_validator(mode="after")
    def _psp_reference_when_required(self) -> SessionResponse:
        if self.result.endswith(("_SUCCESS", "_REQUEST")) and not self.psp_reference:
            msg = f"pspReference is required with {self.result}"
            raise ValueError(msg)
        return self


class ActionResponse(_Out):
    """Answer to TRANSACTION_{CHARGE,REFUND,CANCELATION}_REQUESTED; ``result=None`` = async form."""

    psp_reference: str | None = None
    result: ActionResult | None = None
    amount: Decimal | None = Field(None, ge=0)
    time: datetime | None = None
    external_url: HttpUrl | None = None
    message: str | None = Field(None, max_length=512)
    actions: list[Action] | None = None

    @model_validator(mode="after")
    def _psp_reference_when_required(self) -> ActionResponse:
        failure = self.result is not None and self.result.endswith("_FAILURE")
        if not failure and not self.psp_reference:
            msg = "pspReference is required unless the result is a failure"
            raise ValueError(msg)
        if self.result is None and self.actions is not None:
            # Saleor 3.23.28 stores the actions of an asynchronous answer as sent (upper case),
            # and every later read of the item's actions fails (recorded fact 25).
            msg = "an asynchronous answer must not carry actions; report them with an event"
            raise ValueError(msg)
        return self


class GatewayInitResponse(BaseModel):
    """Answer to PAYMENT_GATEWAY_INITIALIZE_SESSION: the ``data`` key is mandatory, even null."""

    model_config = ConfigDict(frozen=True)

    data: Any

    def dump(self) -> dict[str, Any]:
        return {"data": self.data}
