"""Reading the parts of Saleor payloads the session use cases need (checkout or order, money).

Payloads are parsed with ``parse_float=Decimal``; a whole amount may still arrive as an ``int``
(``20`` rather than ``20.0``), so every amount goes through :func:`to_decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal


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
class SourceObject:
    """The checkout or order a payment webhook is about."""

    type: Literal["Checkout", "Order"]
    id: str
    channel: str
    currency: str
    total: Decimal
    email: str | None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SourceObject:
        """Read ``sourceObject`` of PAYMENT_GATEWAY_INITIALIZE / TRANSACTION_*_SESSION."""
        source = _dict(payload.get("sourceObject"), "sourceObject")
        kind = source.get("__typename")
        channel = _dict(source.get("channel"), "sourceObject.channel")
        if kind == "Checkout":
            money = _dict(_dict(source.get("totalPrice"), "totalPrice").get("gross"), "gross")
            email = source.get("email")
            typed: Literal["Checkout", "Order"] = "Checkout"
        elif kind == "Order":
            money = _dict(_dict(source.get("total"), "total").get("gross"), "gross")
            email = source.get("userEmail")
            typed = "Order"
        else:
            msg = f"sourceObject is a {kind!r}, not a Checkout or an Order"
            raise PayloadError(msg)
        currency = money.get("currency") or channel.get("currencyCode")
        if not isinstance(currency, str) or not source.get("id"):
            msg = "sourceObject has no id or currency"
            raise PayloadError(msg)
        return cls(
            type=typed,
            id=str(source["id"]),
            channel=str(channel.get("slug") or ""),
            currency=currency.upper(),
            total=to_decimal(money.get("amount")),
            email=str(email) if email else None,
        )


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
