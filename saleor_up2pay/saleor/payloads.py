"""Typed webhook payloads, one model per ``graphql/subscriptions`` document.

The verified body (parsed with ``parse_float=Decimal``) is read once into the event's model by
:meth:`ActionRequest.parse`; use cases then read attributes, never ``dict.get`` chains. Only the
fields the app uses are declared (the documents ask for more, for the logs and the Dashboard);
unknown fields are ignored. A payload that does not fit raises :class:`PayloadError` with the
path of the first bad field, which the use case answers as ``<OPERATION>_FAILURE``.

Money is ``Decimal`` (a whole amount may arrive as an ``int``; never a float).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from saleor_up2pay.saleor.ids import TransactionItemId


class PayloadError(ValueError):
    """A field the use case needs is missing or malformed in Saleor's payload."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


def _amount(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        msg = f"not an amount: {value!r}"
        raise ValueError(msg)
    if isinstance(value, float):  # only if a caller parsed without parse_float=Decimal
        return repr(value)
    return value


class Money(_Model):
    amount: Decimal
    currency: str


class _Parsed(_Model):
    """A whole event payload: :meth:`parse` names the first bad field."""

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> Self:
        """The event's model; raises :class:`PayloadError` naming the first bad field."""
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "payload"
            msg = f"{where}: {first['msg']}"
            raise PayloadError(msg) from None


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
        return _amount(value)

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


class ActionRequest(_Parsed):
    """What the three order-action events share: ``action`` and ``transaction``."""

    action: RequestedAction
    transaction: ActionTransaction


class TransactionChargeRequested(ActionRequest):
    """``transaction_charge_requested.graphql``."""


class TransactionCancelationRequested(ActionRequest):
    """``transaction_cancelation_requested.graphql``."""


class TransactionRefundRequested(ActionRequest):
    """``transaction_refund_requested.graphql`` (``grantedRefund`` when refunding a grant)."""

    granted_refund: GrantedRefund | None = Field(default=None, alias="grantedRefund")


# --- session events: the checkout or order being paid ---------------------------------------------


class Amount(_Model):
    """``{amount}`` of a ``Money`` the documents ask for without its currency."""

    amount: Decimal

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float_or_bool(cls, value: Any) -> Any:
        return _amount(value)


class GrossAmount(_Model):
    gross: Amount


class GrossMoney(_Model):
    gross: Money

    @field_validator("gross", mode="before")
    @classmethod
    def _checked(cls, value: Any) -> Any:
        if isinstance(value, dict):
            _amount(value.get("amount"))
        return value


class SourceChannel(_Model):
    slug: str = ""
    currency_code: str | None = Field(default=None, alias="currencyCode")


class Slug(_Model):
    slug: str


class Product(_Model):
    product_type: Slug | None = Field(default=None, alias="productType")
    category: Slug | None = None


class Variant(_Model):
    product: Product | None = None


class SessionLine(_Model):
    """A checkout or order line: what it is (type, category) and what it costs (gross total)."""

    quantity: int = Field(ge=0)
    total_price: GrossAmount = Field(alias="totalPrice")
    variant: Variant | None = Field(
        default=None, validation_alias=AliasChoices("variant", "orderVariant")
    )

    @property
    def total(self) -> Decimal:
        return self.total_price.gross.amount

    @property
    def product_type(self) -> str | None:
        product = self.variant.product if self.variant else None
        return product.product_type.slug if product and product.product_type else None

    @property
    def category(self) -> str | None:
        product = self.variant.product if self.variant else None
        return product.category.slug if product and product.category else None


class Country(_Model):
    code: str = ""


class Address(_Model):
    first_name: str = Field(default="", alias="firstName")
    last_name: str = Field(default="", alias="lastName")
    street_address_1: str = Field(default="", alias="streetAddress1")
    street_address_2: str = Field(default="", alias="streetAddress2")
    city: str = ""
    postal_code: str = Field(default="", alias="postalCode")
    phone: str | None = None
    country: Country = Country()


class SessionSource(_Model):
    """``sourceObject``: the checkout or the order a session is for (one shape for both)."""

    typename: Literal["Checkout", "Order"] = Field(alias="__typename")
    id: str = Field(min_length=1)
    channel: SourceChannel
    checkout_total: GrossMoney | None = Field(default=None, alias="totalPrice")
    order_total: GrossMoney | None = Field(default=None, alias="total")
    shipping_price: GrossAmount | None = Field(default=None, alias="shippingPrice")
    checkout_email: str | None = Field(default=None, alias="email")
    order_email: str | None = Field(default=None, alias="userEmail")
    checkout_language: str | None = Field(default=None, alias="languageCode")
    order_language: str | None = Field(default=None, alias="languageCodeEnum")
    billing_address: Address | None = Field(default=None, alias="billingAddress")
    lines: list[SessionLine] = []

    @model_validator(mode="after")
    def _has_its_total(self) -> Self:
        if self._money is None:
            field_ = "totalPrice" if self.typename == "Checkout" else "total"
            msg = f"{field_} is missing"
            raise ValueError(msg)
        return self

    @property
    def _money(self) -> Money | None:
        holder = self.checkout_total if self.typename == "Checkout" else self.order_total
        return holder.gross if holder else None

    @property
    def total(self) -> Decimal:
        money = self._money
        return money.amount if money else Decimal(0)

    @property
    def currency(self) -> str:
        money = self._money
        currency = (money.currency if money else "") or self.channel.currency_code or ""
        return currency.upper()

    @property
    def email(self) -> str | None:
        value = self.checkout_email if self.typename == "Checkout" else self.order_email
        return value or None

    @property
    def language_code(self) -> str | None:
        return self.checkout_language if self.typename == "Checkout" else self.order_language

    @property
    def shipping(self) -> Decimal:
        return self.shipping_price.gross.amount if self.shipping_price else Decimal(0)


class SessionTransaction(_Model):
    """``transaction`` of a session event: the item the storefront created."""

    id: TransactionItemId = Field(min_length=1)
    psp_reference: str | None = Field(default=None, alias="pspReference")


class PaymentGatewayInitializeSession(_Parsed):
    """``payment_gateway_initialize_session.graphql``: ``amount`` may be absent (then the total)."""

    amount: Decimal | None = None
    data: Any = None
    source_object: SessionSource = Field(alias="sourceObject")

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float_or_bool(cls, value: Any) -> Any:
        return None if value is None else _amount(value)


class TransactionInitializeSession(_Parsed):
    """``transaction_initialize_session.graphql``."""

    idempotency_key: str = Field(default="", alias="idempotencyKey")
    data: Any = None
    action: RequestedAction
    transaction: SessionTransaction
    source_object: SessionSource = Field(alias="sourceObject")

    @field_validator("idempotency_key", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class TransactionProcessSession(_Parsed):
    """``transaction_process_session.graphql``: the storefront calls ``transactionProcess``.

    Only what the use case reads: the item (to find its payment session) and the requested
    ``action`` (the flow a failure is answered in when the item is unknown). ``data`` is the
    storefront's, passed through untouched.
    """

    action: RequestedAction
    transaction: SessionTransaction
    data: Any = None
