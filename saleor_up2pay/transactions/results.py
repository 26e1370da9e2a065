"""Outcomes of the payment use cases, as values, and how each is answered to Saleor.

A use case returns one of these; the webhook route renders it with ``.dump()`` (which is
``.to_response().dump()``: the Saleor response model, camelCase, nulls omitted).
A declined voucher or a refused refund is an outcome like any other (HTTP 200 with a
``*_FAILURE``); only app faults are exceptions.

Session outcomes (TRANSACTION_INITIALIZE_SESSION / TRANSACTION_PROCESS_SESSION) carry the flow
(``CHARGE`` or ``AUTHORIZATION``) so the result name always matches the action Saleor asked for.
Action outcomes (TRANSACTION_{CHARGE,REFUND,CANCELATION}_REQUESTED) carry the operation; Saleor
only accepts ``<OPERATION>_SUCCESS`` / ``<OPERATION>_FAILURE`` or the asynchronous form
(``pspReference`` only, result reported later) for each event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from saleor_up2pay.saleor.responses import (
    Action,
    ActionResponse,
    OtherDetails,
    SessionResponse,
)

Flow = Literal["CHARGE", "AUTHORIZATION"]
Operation = Literal["CHARGE", "REFUND", "CANCEL"]

MESSAGE_LIMIT = 512
"""Saleor truncates event messages at 512 characters; we cut them ourselves."""


def _message(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


@dataclass(frozen=True)
class ErrorEntry:
    """An error the storefront can show: a stable ``code`` and an English ``message``."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


# --- sessions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionActionRequired:
    """The shopper must act (go to the Up2pay page); no amount changes in Saleor."""

    flow: Flow
    amount: Decimal
    data: dict[str, Any]
    message: str

    def dump(self) -> dict[str, Any]:
        return self.to_response().dump()

    def to_response(self) -> SessionResponse:
        return SessionResponse(
            result=f"{self.flow}_ACTION_REQUIRED",
            amount=self.amount,
            data=self.data,
            message=_message(self.message),
        )


@dataclass(frozen=True)
class SessionSuccess:
    """The voucher leg is paid (CHARGE) or authorized (AUTHORIZATION)."""

    flow: Flow
    psp_reference: str
    amount: Decimal
    actions: Sequence[Action]
    message: str
    data: dict[str, Any]
    method_name: str | None = None

    def dump(self) -> dict[str, Any]:
        return self.to_response().dump()

    def to_response(self) -> SessionResponse:
        return SessionResponse(
            result=f"{self.flow}_SUCCESS",
            psp_reference=self.psp_reference,
            amount=self.amount,
            actions=list(self.actions),
            message=_message(self.message),
            data=self.data,
            payment_method_details=OtherDetails(name=self.method_name)
            if self.method_name
            else None,
        )


@dataclass(frozen=True)
class SessionFailure:
    """Nothing was (or will be) paid on this item; ``errors`` tell the storefront why."""

    flow: Flow
    message: str
    errors: Sequence[ErrorEntry] = ()
    psp_reference: str | None = None
    amount: Decimal | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return self.to_response().dump()

    def to_response(self) -> SessionResponse:
        data: dict[str, Any] = {
            "up2pay": {**self.extra, "errors": [e.to_json() for e in self.errors]}
        }
        return SessionResponse(
            result=f"{self.flow}_FAILURE",
            psp_reference=self.psp_reference,
            amount=self.amount,
            message=_message(self.message),
            data=data,
        )


SessionOutcome = SessionActionRequired | SessionSuccess | SessionFailure


# --- order-page actions ----------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSuccess:
    """Up2pay executed the operation."""

    operation: Operation
    psp_reference: str
    amount: Decimal
    actions: Sequence[Action]
    message: str

    def dump(self) -> dict[str, Any]:
        return self.to_response().dump()

    def to_response(self) -> ActionResponse:
        return ActionResponse(
            result=f"{self.operation}_SUCCESS",
            psp_reference=self.psp_reference,
            amount=self.amount,
            actions=list(self.actions),
            message=_message(self.message),
        )


@dataclass(frozen=True)
class ActionFailure:
    """The operation was not executed; ``message`` says why in words a merchant understands."""

    operation: Operation
    message: str
    psp_reference: str | None = None
    actions: Sequence[Action] | None = None

    def dump(self) -> dict[str, Any]:
        return self.to_response().dump()

    def to_response(self) -> ActionResponse:
        return ActionResponse(
            result=f"{self.operation}_FAILURE",
            psp_reference=self.psp_reference,
            actions=list(self.actions) if self.actions is not None else None,
            message=_message(self.message),
        )


@dataclass(frozen=True)
class ActionAccepted:
    """Accepted, executed later: Saleor keeps the amount pending under ``psp_reference`` until
    the app reports ``<OPERATION>_SUCCESS`` or ``_FAILURE`` with that same reference.

    The answer carries no ``actions`` (Saleor 3.23.28 would store them unnormalised and break
    every read of the item, recorded fact 25); the use case reports the item's new actions with
    ``transactionEventReport`` instead.
    """

    operation: Operation
    psp_reference: str

    def dump(self) -> dict[str, Any]:
        return self.to_response().dump()

    def to_response(self) -> ActionResponse:
        return ActionResponse(psp_reference=self.psp_reference)


ActionOutcome = ActionSuccess | ActionFailure | ActionAccepted


@dataclass(frozen=True)
class RecordedAnswer:
    """An answer built earlier and stored, replayed as is (a repeated initialize session)."""

    body: dict[str, Any]

    def dump(self) -> dict[str, Any]:
        return self.body
