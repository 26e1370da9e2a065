"""Reading the parts of TRANSACTION_PROCESS_SESSION's payload it needs (the action, the item).

The other events read typed models (``saleor_up2pay.saleor.payloads``); these helpers go when
TRANSACTION_PROCESS_SESSION moves to one.

Payloads are parsed with ``parse_float=Decimal``; a whole amount may still arrive as an ``int``
(``20`` rather than ``20.0``), so every amount goes through :func:`to_decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


class PayloadError(ValueError):
    """A field the use case needs is missing or malformed in Saleor's payload."""


def to_decimal(value: Any) -> Decimal:
    """A JSON number (Decimal, int, or numeric string) as a Decimal; never through float."""
    if isinstance(value, bool) or value is None:
        msg = f"not an amount: {value!r}"
        raise PayloadError(msg)
    if isinstance(value, float):  # only if a caller parsed without parse_float=Decimal
        value = repr(value)
    try:
        result = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, TypeError, ValueError) as exc:
        msg = f"not an amount: {value!r}"
        raise PayloadError(msg) from exc
    if not result.is_finite():
        msg = f"not an amount: {value!r}"
        raise PayloadError(msg)
    return result


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"{name} is missing"
        raise PayloadError(msg)
    return value


@dataclass(frozen=True)
class RequestedAction:
    """``action`` of a payment webhook: what Saleor asks for and how much."""

    action_type: str
    amount: Decimal
    currency: str

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RequestedAction:
        action = _dict(payload.get("action"), "action")
        currency = action.get("currency")
        if not isinstance(currency, str):
            msg = "action.currency is missing"
            raise PayloadError(msg)
        return cls(
            action_type=str(action.get("actionType") or ""),
            amount=to_decimal(action.get("amount")),
            currency=currency.upper(),
        )


def transaction_id(payload: dict[str, Any]) -> str:
    """``transaction.id`` (the TransactionItem global id) of any transaction webhook."""
    transaction = _dict(payload.get("transaction"), "transaction")
    value = transaction.get("id")
    if not value:
        msg = "transaction.id is missing"
        raise PayloadError(msg)
    return str(value)
