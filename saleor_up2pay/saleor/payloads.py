"""Typed payloads of the webhooks, one model per ``graphql/subscriptions`` document.

The verified body (parsed with ``parse_float=Decimal``) is read once into the event's model by
:meth:`ActionRequest.parse`; use cases then read attributes, never ``dict.get`` chains. Only the
fields the app uses are declared (the documents ask for more, for the logs and the Dashboard);
unknown fields are ignored. A payload that does not fit raises :class:`PayloadError` with the
path of the first bad field, which the use case answers as ``<OPERATION>_FAILURE``.

Money is ``Decimal`` (a whole amount may arrive as an ``int``; never a float).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from saleor_up2pay.saleor.ids import TransactionItemId


class PayloadError(ValueError):
    """A field the use case needs is missing or malformed in Saleor's payload."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], payload: dict[str, Any]) -> M:
    """``payload`` read into ``model``; raises :class:`PayloadError` naming the first bad field."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        msg = f"{where}: {first['msg']}"
        raise PayloadError(msg) from None


class Money(_Model):
    amount: Decimal
    currency: str


class ChannelRef(_Model):
    slug: str | None = None


class ActionHolder(_Model):
    """The checkout or order the transaction item belongs to."""

    id: str | None = None
    channel: ChannelRef | None = None


class RequestedAction(_Model):
    """``action``: what Saleor asks for and how much."""

    action_type: str = Field(default="", alias="actionType")
    amount: Decimal
    currency: str

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float_or_bool(cls, value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            msg = f"not an amount: {value!r}"
            raise ValueError(msg)
        if isinstance(value, float):  # only if a caller parsed without parse_float=Decimal
            return repr(value)
        return value

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class ActionTransaction(_Model):
    """``transaction``: the item the action is about."""

    id: TransactionItemId = Field(min_length=1)
    psp_reference: str | None = Field(default=None, alias="pspReference")
    checkout: ActionHolder | None = None
    order: ActionHolder | None = None

    @property
    def channel(self) -> str | None:
        """Channel slug (from the order, else the checkout)."""
        holder = self.order or self.checkout
        slug = holder.channel.slug if holder and holder.channel else None
        return slug or None


class GrantedRefund(_Model):
    id: str
    amount: Money | None = None
    reason: str | None = None


class ActionRequest(_Model):
    """What the three order-action events share: ``action`` and ``transaction``."""

    action: RequestedAction
    transaction: ActionTransaction

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> Self:
        """The event's model; raises :class:`PayloadError` naming the first bad field."""
        return _validated(cls, payload)


class TransactionChargeRequested(ActionRequest):
    """``transaction_charge_requested.graphql``."""


class TransactionCancelationRequested(ActionRequest):
    """``transaction_cancelation_requested.graphql``."""


class TransactionRefundRequested(ActionRequest):
    """``transaction_refund_requested.graphql`` (``grantedRefund`` when refunding a grant)."""

    granted_refund: GrantedRefund | None = Field(default=None, alias="grantedRefund")


class SessionTransaction(_Model):
    """``transaction`` of a session event: the item the storefront created."""

    id: TransactionItemId = Field(min_length=1)
    psp_reference: str | None = Field(default=None, alias="pspReference")


class TransactionProcessSession(_Model):
    """``transaction_process_session.graphql``: the storefront calls ``transactionProcess``.

    Only what the use case reads: the item (to find its payment session) and the requested
    ``action`` (the flow a failure is answered in when the item is unknown). ``data`` is the
    storefront's, passed through untouched.
    """

    action: RequestedAction
    transaction: SessionTransaction
    data: Any = None

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> Self:
        """The event's model; raises :class:`PayloadError` naming the first bad field."""
        return _validated(cls, payload)
