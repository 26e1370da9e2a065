"""Transaction keeping for the fake Saleor: checkouts, orders, transaction items and their events.

Plugged into :class:`tests.fakes.fake_saleor.FakeSaleor` as root-field resolvers, it answers the
app's mutations and queries the way Saleor 3.23 does (protocol §4–§7, ``saleor/recorded``):

- amounts of an item are recomputed from its events on every change (§5): events are grouped by
  family (authorization / charge / refund / cancel) and pspReference; a ``*_REQUEST`` counts as
  pending only while its group has no SUCCESS and no FAILURE; a SUCCESS counts unless a newer
  FAILURE is in its group; charge moves authorized → charged, refund charged → refunded;
- ``transactionEventReport`` dedupes on (item, pspReference, type): same amount ⇒
  ``alreadyProcessed: true`` and the metadata given is **not** kept (recorded fact 17); another
  amount ⇒ ``INCORRECT_DETAILS`` and a ``*_FAILURE`` event appended outside the calculations
  (fact 18); a second ``AUTHORIZATION_SUCCESS`` ⇒ ``ALREADY_EXISTS``;
- ``transactionCreate`` (items owned by the calling app), ``transactionUpdate``,
  ``updatePrivateMetadata``, ``transaction(id)``, ``checkout(id)``, ``order(id)`` and
  ``checkoutComplete`` (needs ``authorizeStatus`` FULL, pending amounts counting; moves the items
  to the new order; a completed checkout no longer exists but completing it again returns its
  order);
- storefront and staff calls that make Saleor send webhooks to the app —
  :meth:`SaleorTransactions.transaction_initialize`, :meth:`~SaleorTransactions.transaction_process`,
  :meth:`~SaleorTransactions.transaction_request_action` — sign and send the delivery through the
  fake and apply the app's answer as Saleor does (§4.2, §4.4), including its failure paths;
- granted refunds (§6.5): :meth:`~SaleorTransactions.grant_refund` plays staff's
  ``orderGrantRefundCreate``; ``order.grantedRefunds`` (status = the latest refund event linked to
  the grant) needs ``MANAGE_ORDERS`` (:attr:`~SaleorTransactions.app_permissions`), else
  ``PermissionDenied`` and ``order: null``; ``transactionRequestRefundForGrantedRefund`` refunds
  the whole grant on its item (``id`` only ties a grant that has none) with Saleor's error codes;
- ``down = True`` makes every GraphQL call it handles answer HTTP 503 (Saleor unavailable).

State is plain Python guarded by a lock: resolvers run on the fake's server thread while tests
call the helpers from their own event loop.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import httpx

from graphql import FieldNode, Visitor, parse, visit
from tests.fakes.fake_saleor import FakeSaleor, GraphQLCall, GraphQLErrors, permission_denied

CENT = Decimal("0.01")
ZERO = Decimal("0")
SALEOR_VERSION = "3.23.28"

FAMILY = {
    "AUTHORIZATION_REQUEST": "authorization",
    "AUTHORIZATION_SUCCESS": "authorization",
    "AUTHORIZATION_FAILURE": "authorization",
    "AUTHORIZATION_ADJUSTMENT": "authorization",
    "CHARGE_REQUEST": "charge",
    "CHARGE_SUCCESS": "charge",
    "CHARGE_FAILURE": "charge",
    "CHARGE_BACK": "charge",
    "REFUND_REQUEST": "refund",
    "REFUND_SUCCESS": "refund",
    "REFUND_FAILURE": "refund",
    "REFUND_REVERSE": "refund",
    "CANCEL_REQUEST": "cancel",
    "CANCEL_SUCCESS": "cancel",
    "CANCEL_FAILURE": "cancel",
}
FAILURE_OF_FAMILY = {
    "authorization": "AUTHORIZATION_FAILURE",
    "charge": "CHARGE_FAILURE",
    "refund": "REFUND_FAILURE",
    "cancel": "CANCEL_FAILURE",
}
NEVER_DEDUPED = {"AUTHORIZATION_ACTION_REQUIRED", "CHARGE_ACTION_REQUIRED", "INFO"}
AMOUNT_REQUIRED = {
    "AUTHORIZATION_REQUEST",
    "AUTHORIZATION_SUCCESS",
    "AUTHORIZATION_ADJUSTMENT",
    "AUTHORIZATION_ACTION_REQUIRED",
    "CHARGE_REQUEST",
    "CHARGE_SUCCESS",
    "CHARGE_ACTION_REQUIRED",
    "REFUND_REQUEST",
    "REFUND_SUCCESS",
    "CANCEL_REQUEST",
    "CANCEL_SUCCESS",
}
SESSION_RESULTS = {
    "CHARGE_SUCCESS",
    "AUTHORIZATION_SUCCESS",
    "CHARGE_REQUEST",
    "AUTHORIZATION_REQUEST",
    "CHARGE_ACTION_REQUIRED",
    "AUTHORIZATION_ACTION_REQUIRED",
    "CHARGE_FAILURE",
    "AUTHORIZATION_FAILURE",
    "CANCEL_SUCCESS",
}
FINAL_SESSION_EVENTS = {
    "AUTHORIZATION_SUCCESS",
    "AUTHORIZATION_FAILURE",
    "AUTHORIZATION_REQUEST",
    "CHARGE_SUCCESS",
    "CHARGE_FAILURE",
    "CHARGE_REQUEST",
}
ACTION_RESULTS = {
    "CHARGE": {"CHARGE_SUCCESS", "CHARGE_FAILURE"},
    "REFUND": {"REFUND_SUCCESS", "REFUND_FAILURE"},
    "CANCEL": {"CANCEL_SUCCESS", "CANCEL_FAILURE"},
}
ACTION_EVENT = {
    "CHARGE": "TRANSACTION_CHARGE_REQUESTED",
    "REFUND": "TRANSACTION_REFUND_REQUESTED",
    "CANCEL": "TRANSACTION_CANCELATION_REQUESTED",
}
DELIVERY_FAILED = "Failed to delivery request."
GRANTED_REFUND_NULL_ERROR = {
    "message": "Cannot return null for non-nullable field OrderGrantedRefund.amount.",
    "locations": [{"line": 6, "column": 22}],
    "path": ["event", "grantedRefund", "amount"],
    "extensions": {"exception": {"code": "GraphQLError"}},
}
DEDUPE_MESSAGE = (
    "The transaction with provided `pspReference` and `type` already exists with different amount."
)


def global_id(type_name: str, key: str) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def money(value: Any) -> Decimal:
    """A Decimal from a GraphQL amount (JSON numbers arrive as floats or Decimals)."""
    try:
        return Decimal(str(value)).quantize(CENT)
    except (InvalidOperation, ValueError) as exc:
        msg = f"not an amount: {value!r}"
        raise ValueError(msg) from exc


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Channel:
    slug: str
    currency: str = "EUR"
    default_flow: str = "CHARGE"
    allow_unpaid_orders: bool = False


@dataclass
class Event:
    id: str
    seq: int
    type: str
    psp_reference: str
    amount: Decimal
    message: str = ""
    include: bool = True
    created_by_app: str | None = None
    idempotency_key: str | None = None
    external_url: str = ""
    created_at: str = field(default_factory=now_iso)


@dataclass
class Item:
    id: str
    token: str
    currency: str
    app_id: str | None
    checkout_id: str | None = None
    order_id: str | None = None
    name: str = ""
    message: str = ""
    psp_reference: str = ""
    actions: list[str] = field(default_factory=list)
    actions_stored_raw: bool = False
    """Saleor 3.23.28 stored ``actions`` upper case, as an asynchronous answer sent them (fact 25):
    from then on every GraphQL read of this item's ``actions`` fails."""
    metadata: dict[str, str] = field(default_factory=dict)
    private_metadata: dict[str, str] = field(default_factory=dict)
    payment_method_details: dict[str, Any] | None = None
    idempotency_key: str | None = None
    events: list[Event] = field(default_factory=list)
    amounts: dict[str, Decimal] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)


@dataclass
class Line:
    """A checkout line: its product type and category slugs, quantity and gross total."""

    product_type: str
    category: str
    quantity: int
    total: Decimal
    name: str = "Product"


@dataclass
class Checkout:
    id: str
    channel: str
    total: Decimal
    currency: str
    email: str = "camille.martin@example.fr"
    lines: list[Line] = field(default_factory=list)
    shipping: Decimal = ZERO
    language: str = "FR"
    items: list[str] = field(default_factory=list)
    order_id: str | None = None
    """Set once completed (the checkout then no longer exists for queries)."""


@dataclass
class Order:
    id: str
    number: str
    channel: str
    total: Decimal
    currency: str
    email: str = "camille.martin@example.fr"
    items: list[str] = field(default_factory=list)
    granted_refunds: Decimal = ZERO


AMOUNT_NAMES = (
    "authorized",
    "authorizePending",
    "charged",
    "chargePending",
    "refunded",
    "refundPending",
    "canceled",
    "cancelPending",
)


def recalculate(item: Item) -> None:
    """Recompute the item's amounts from its events (§5)."""
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    pending: dict[str, Decimal] = defaultdict(lambda: ZERO)
    chargeback = reverse = ZERO
    adjustment: Decimal | None = None
    groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in item.events:
        family = FAMILY.get(event.type)
        if event.include and family:
            groups[(family, event.psp_reference)].append(event)
    for (family, psp), events in groups.items():
        if not psp:
            # Events without pspReference (transactionCreate/Update amounts) are plain deltas.
            for event in events:
                if event.type.endswith("_SUCCESS"):
                    totals[family] += event.amount
            continue
        successes = [e for e in events if e.type.endswith("_SUCCESS")]
        failures = [e for e in events if e.type.endswith("_FAILURE")]
        if not successes and not failures:
            pending[family] += sum((e.amount for e in events if e.type.endswith("_REQUEST")), ZERO)
        last_failure = max((e.seq for e in failures), default=-1)
        for success in successes:
            if success.seq > last_failure:
                totals[family] += success.amount
        for event in events:
            if event.type == "CHARGE_BACK":
                chargeback += event.amount
            elif event.type == "REFUND_REVERSE":
                reverse += event.amount
            elif event.type == "AUTHORIZATION_ADJUSTMENT":
                adjustment = event.amount
    authorized_base = adjustment if adjustment is not None else totals["authorization"]
    item.amounts = {
        "authorized": max(ZERO, authorized_base - totals["charge"] - totals["cancel"]),
        "authorizePending": pending["authorization"],
        "charged": totals["charge"] - totals["refund"] - chargeback + reverse,
        "chargePending": pending["charge"],
        "refunded": totals["refund"] - reverse,
        "refundPending": pending["refund"],
        "canceled": totals["cancel"],
        "cancelPending": pending["cancel"],
    }


def _status(value: Decimal, total: Decimal) -> str:
    if value <= 0:
        return "NONE"
    if value < total:
        return "PARTIAL"
    return "FULL" if value == total else "OVERCHARGED"


class SaleorTransactions:
    """The transaction side of a fake Saleor (see the module docstring)."""

    def __init__(self, fake: FakeSaleor, *, app_identifier: str = "saleor.app.up2pay") -> None:
        self.fake = fake
        self.app_identifier = app_identifier
        self.channels: dict[str, Channel] = {
            "channel-eur": Channel("channel-eur", "EUR", "CHARGE"),
            "channel-eur-auth": Channel("channel-eur-auth", "EUR", "AUTHORIZATION"),
            "default-channel": Channel("default-channel", "USD", "AUTHORIZATION"),
        }
        self.grants: dict[str, dict[str, Any]] = {}
        """Granted refunds by id (``orderGrantRefundCreate``, :meth:`grant_refund`)."""
        self.grant_requests: dict[str, Event | None] = {}
        """Grant id → its latest ``REFUND_REQUEST`` (``None`` until the request event exists)."""
        self.requested_grant_refunds: list[dict[str, Any]] = []
        """Variables of every ``transactionRequestRefundForGrantedRefund`` mutation received."""
        self.app_permissions: set[str] = {"HANDLE_PAYMENTS"}
        """What the installed app holds. ``order.grantedRefunds`` needs ``MANAGE_ORDERS``: add it
        to play staff granting it to the app in the Dashboard."""
        self.checkouts: dict[str, Checkout] = {}
        self.orders: dict[str, Order] = {}
        self.items: dict[str, Item] = {}
        self.down = False
        """When True, every call handled here answers HTTP 503."""
        self.webhook_responses: list[tuple[str, int, Any]] = []
        """(event, HTTP status, JSON answer or None) of every webhook sent to the app."""
        self.requested_actions: list[dict[str, Any]] = []
        """Variables of every ``transactionRequestAction`` mutation received (reasons included)."""
        self._action_tasks: set[asyncio.Task[Any]] = set()
        self.action_redeliveries = 5
        """Like Saleor's ``handle_transaction_request_task``: a charge/refund/cancel request
        whose delivery failed (5xx, no answer) is sent again, the same bytes, up to this many
        more times; only then does the item get ``<ACTION>_FAILURE``."""
        self.action_deliveries: list[tuple[str, dict[str, Any]]] = []
        """(event, payload) of every charge/refund/cancel request sent (see :meth:`redeliver`)."""
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._event_ids = itertools.count(230)
        self._order_numbers = itertools.count(38)
        for name in (
            "transactionEventReport",
            "transactionCreate",
            "transactionUpdate",
            "updatePrivateMetadata",
            "transaction",
            "checkout",
            "order",
            "checkoutComplete",
            "transactionRequestAction",
            "transactionRequestRefundForGrantedRefund",
        ):
            fake.resolvers[name] = getattr(self, f"_resolve_{name}")

    # -- setting the scene ----------------------------------------------------------------------

    def create_checkout(
        self,
        total: Decimal | str | None = None,
        *,
        channel: str = "channel-eur",
        email: str | None = None,
        lines: list[tuple[str, str, int, str]] | None = None,
        shipping: Decimal | str = ZERO,
        language: str = "FR",
    ) -> Checkout:
        """A checkout of ``total`` in ``channel``'s currency, ready to pay.

        ``lines`` are ``(product type slug, category slug, quantity, gross total)``; without
        ``total`` the checkout's total is the lines' plus ``shipping``.
        """
        with self._lock:
            ch = self.channels[channel]
            items = [Line(pt, cat, qty, money(amount)) for pt, cat, qty, amount in lines or []]
            if total is None:
                total = sum((line.total for line in items), ZERO) + money(shipping)
            checkout = Checkout(
                id=global_id("Checkout", str(uuid.uuid4())),
                channel=channel,
                total=money(total),
                currency=ch.currency,
                lines=items,
                shipping=money(shipping),
                language=language,
            )
            if email:
                checkout.email = email
            self.checkouts[checkout.id] = checkout
            return checkout

    def create_order(self, total: Decimal | str, *, channel: str = "channel-eur") -> Order:
        """An unpaid order (as after ``draftOrderComplete``)."""
        with self._lock:
            ch = self.channels[channel]
            order = Order(
                id=global_id("Order", str(uuid.uuid4())),
                number=str(next(self._order_numbers)),
                channel=channel,
                total=money(total),
                currency=ch.currency,
            )
            self.orders[order.id] = order
            return order

    def seed_initialized_item(
        self, source_id: str, amount: Decimal | str, *, flow: str = "CHARGE"
    ) -> Item:
        """An item as ``transactionInitialize`` leaves it when the app answered ACTION_REQUIRED.

        For tests of the reporting side that do not drive the initialize webhook.
        """
        with self._lock:
            key = str(uuid.uuid4())
            item = self._new_item(source_id, self.fake.app_id, idempotency_key=key)
            wanted = money(amount)
            self._new_event(item, f"{flow}_REQUEST", "", wanted, include=False, idempotency_key=key)
            self._new_event(
                item, f"{flow}_ACTION_REQUIRED", "", wanted, created_by_app=self.fake.app_id
            )
            recalculate(item)
            return item

    def seed_other_gateway_charge(
        self, source_id: str, amount: Decimal | str, *, app_id: str = "QXBwOjk5"
    ) -> Item:
        """An item another payment app (a "dummy" card gateway) charged ``amount`` on.

        As Saleor keeps it after that app answered ``CHARGE_SUCCESS``: for split payments, where
        the voucher pays part of the checkout and another gateway the rest.
        """
        with self._lock:
            key = str(uuid.uuid4())
            item = self._new_item(source_id, app_id, idempotency_key=key, name="Dummy card")
            psp = f"dummy-{key[:8]}"
            wanted = money(amount)
            self._new_event(item, "CHARGE_REQUEST", psp, wanted, include=False)
            self._new_event(item, "CHARGE_SUCCESS", psp, wanted, created_by_app=app_id)
            item.psp_reference = psp
            recalculate(item)
            return item

    async def payment_gateway_initialize(
        self, app_url: str, source_id: str, *, amount: Decimal | str | None = None
    ) -> dict[str, Any]:
        """``paymentGatewayInitialize`` for the app: its ``gatewayConfigs[].data``."""
        with self._lock:
            source = self.checkouts.get(source_id) or self.orders.get(source_id)
            if source is None:
                msg = f"no checkout or order {source_id}"
                raise KeyError(msg)
            payload = {
                "version": SALEOR_VERSION,
                "issuedAt": now_iso(),
                "amount": money(amount) if amount is not None else self._remaining(source),
                "data": None,
                "sourceObject": self._source_json(source_id),
            }
        status, answer = await self._send("PAYMENT_GATEWAY_INITIALIZE_SESSION", app_url, payload)
        if status != 200 or not isinstance(answer, dict) or "data" not in answer:
            msg = f"the app answered {status}: {answer!r}"
            raise AssertionError(msg)
        data: dict[str, Any] = answer["data"]
        return data

    # -- reading state (for assertions) ---------------------------------------------------------

    def delete_checkout(self, checkout_id: str) -> None:
        """Saleor deleting a checkout (e.g. expired): its items stay, detached (FK SET_NULL)."""
        with self._lock:
            checkout = self.checkouts.pop(checkout_id)
            for item_id in checkout.items:
                self.items[item_id].checkout_id = None

    def item(self, item_id: str) -> Item:
        with self._lock:
            return self.items[item_id]

    def items_of(self, source_id: str) -> list[Item]:
        """Items of a checkout or order, in creation order."""
        with self._lock:
            source = self.checkouts.get(source_id) or self.orders.get(source_id)
            if source is None:
                return []
            return [self.items[i] for i in source.items]

    def checkout_status(self, checkout_id: str) -> dict[str, str]:
        """``authorizeStatus`` and ``chargeStatus`` of a checkout (pending amounts count)."""
        with self._lock:
            checkout = self.checkouts[checkout_id]
            items = [self.items[i] for i in checkout.items]
            covered = sum(
                (
                    i.amounts["authorized"]
                    + i.amounts["authorizePending"]
                    + i.amounts["charged"]
                    + i.amounts["chargePending"]
                    for i in items
                ),
                ZERO,
            )
            charged = sum((i.amounts["charged"] + i.amounts["chargePending"] for i in items), ZERO)
            authorize = "FULL" if covered >= checkout.total else _status(covered, checkout.total)
            return {"authorizeStatus": authorize, "chargeStatus": _status(charged, checkout.total)}

    def order_status(self, order_id: str) -> dict[str, str]:
        """``authorizeStatus`` and ``chargeStatus`` of an order (pending amounts do not count)."""
        with self._lock:
            order = self.orders[order_id]
            items = [self.items[i] for i in order.items]
            for item in items:  # the Dashboard's order page reads every item's actions
                self.check_actions_readable(item)
            expected = order.total - order.granted_refunds
            charged = sum((i.amounts["charged"] for i in items), ZERO)
            authorized = sum((i.amounts["authorized"] for i in items), ZERO)
            covered = authorized + charged
            authorize = "FULL" if covered >= expected else _status(covered, expected)
            return {"authorizeStatus": authorize, "chargeStatus": _status(charged, expected)}

    # -- internals ------------------------------------------------------------------------------

    def _check_up(self) -> None:
        if self.down:
            raise GraphQLErrors("Service Unavailable", status=503)

    def _require_app(self, call: GraphQLCall, path: str) -> str:
        if call.app_id is None:
            raise GraphQLErrors([permission_denied(path)], data={path: None})
        return call.app_id

    def _new_event(self, item: Item, type_: str, psp: str, amount: Decimal, **kw: Any) -> Event:
        event = Event(
            id=global_id("TransactionEvent", str(next(self._event_ids))),
            seq=next(self._seq),
            type=type_,
            psp_reference=psp,
            amount=amount,
            **kw,
        )
        item.events.append(event)
        return event

    def _new_item(self, source_id: str, app_id: str | None, **kw: Any) -> Item:
        source: Checkout | Order | None = self.checkouts.get(source_id) or self.orders.get(
            source_id
        )
        if source is None:
            msg = f"no checkout or order {source_id}"
            raise KeyError(msg)
        token = str(uuid.uuid4())
        item = Item(
            id=global_id("TransactionItem", token),
            token=token,
            currency=source.currency,
            app_id=app_id,
            checkout_id=source_id if isinstance(source, Checkout) else None,
            order_id=source_id if isinstance(source, Order) else None,
            **kw,
        )
        recalculate(item)
        self.items[item.id] = item
        source.items.append(item.id)
        return item

    def _source_of(self, item: Item) -> Checkout | Order:
        if item.order_id:
            return self.orders[item.order_id]
        assert item.checkout_id is not None
        return self.checkouts[item.checkout_id]

    def _money(self, value: Decimal, currency: str) -> dict[str, Any]:
        return {"amount": value, "currency": currency}

    def event_json(self, event: Event, currency: str) -> dict[str, Any]:
        return {
            "id": event.id,
            "type": event.type,
            "pspReference": event.psp_reference,
            "amount": self._money(event.amount, currency),
            "message": event.message,
            "createdAt": event.created_at,
            "idempotencyKey": event.idempotency_key,
            "externalUrl": event.external_url,
            "createdBy": {"__typename": "App", "id": event.created_by_app}
            if event.created_by_app
            else None,
        }

    def item_json(
        self, item: Item, *, depth: int = 0, private_metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """An item as the app's documents select it (every field they may ask for)."""
        self.check_actions_readable(item)
        data: dict[str, Any] = {
            "__typename": "TransactionItem",
            "id": item.id,
            "token": item.token,
            "name": item.name,
            "message": item.message,
            "pspReference": item.psp_reference,
            "actions": list(item.actions),
            "createdAt": item.created_at,
            "metadata": [{"key": k, "value": v} for k, v in sorted(item.metadata.items())],
            "privateMetadata": [
                {"key": k, "value": v}
                for k, v in sorted((private_metadata or item.private_metadata).items())
            ],
            "paymentMethodDetails": item.payment_method_details,
            "events": [self.event_json(e, item.currency) for e in reversed(item.events)],
        }
        for name in AMOUNT_NAMES:
            data[f"{name}Amount"] = self._money(item.amounts[name], item.currency)
        if depth == 0:
            data["checkout"] = (
                self.checkout_json(self.checkouts[item.checkout_id], depth=1)
                if item.checkout_id
                else None
            )
            data["order"] = (
                self.order_json(self.orders[item.order_id], depth=1) if item.order_id else None
            )
        return data

    @staticmethod
    def check_actions_readable(item: Item) -> None:
        """Fail like Saleor 3.23.28 reading an item whose ``actions`` were stored upper case.

        Recorded fact 25: an asynchronous action answer (``pspReference`` without ``result``)
        that carries ``actions`` is stored as sent, and every later read of that item's
        ``actions`` fails with this error, which breaks the Dashboard's order page.
        """
        if item.actions_stored_raw and item.actions:
            message = (
                f'Expected a value of type "TransactionActionEnum" but received: {item.actions[0]}'
            )
            raise GraphQLErrors([{"message": message, "path": ["transactions", "actions"]}])

    def checkout_json(self, checkout: Checkout, *, depth: int = 0) -> dict[str, Any]:
        data: dict[str, Any] = {
            "__typename": "Checkout",
            "id": checkout.id,
            "email": checkout.email,
            "channel": {"slug": checkout.channel, "currencyCode": checkout.currency},
            "languageCode": checkout.language,
            "totalPrice": {"gross": self._money(checkout.total, checkout.currency)},
            "shippingPrice": {"gross": self._money(checkout.shipping, checkout.currency)},
            "billingAddress": {
                "firstName": "Camille",
                "lastName": "Martin",
                "streetAddress1": "10 rue de Rivoli",
                "streetAddress2": "",
                "city": "PARIS",
                "postalCode": "75004",
                "phone": "+33612345678",
                "country": {"code": "FR"},
            },
            "lines": [
                {
                    "id": global_id("CheckoutLine", f"{checkout.id}-{n}"),
                    "quantity": line.quantity,
                    "totalPrice": {"gross": self._money(line.total, checkout.currency)},
                    "variant": {
                        "id": global_id("ProductVariant", str(n)),
                        "sku": f"SKU-{n}",
                        "name": line.name,
                        "product": {
                            "name": line.name,
                            "productType": {"slug": line.product_type},
                            "category": {"slug": line.category},
                        },
                    },
                }
                for n, line in enumerate(checkout.lines)
            ],
        }
        if depth <= 1:
            data["transactions"] = [
                self.item_json(self.items[i], depth=depth + 1) for i in checkout.items
            ]
            data.update(self.checkout_status(checkout.id))
        return data

    def order_json(self, order: Order, *, depth: int = 0) -> dict[str, Any]:
        data: dict[str, Any] = {
            "__typename": "Order",
            "id": order.id,
            "number": order.number,
            "userEmail": order.email,
            "channel": {"slug": order.channel, "currencyCode": order.currency},
            "total": {"gross": self._money(order.total, order.currency)},
            "lines": [],
            "grantedRefunds": [
                self.grant_json(g) for g in self.grants.values() if g["order"] == order.id
            ],
        }
        if depth <= 1:
            data["transactions"] = [
                self.item_json(self.items[i], depth=depth + 1) for i in order.items
            ]
            status = self.order_status(order.id)
            data.update(status)
            data["isPaid"] = status["chargeStatus"] in {"FULL", "OVERCHARGED"}
        return data

    def _find_item(self, variables: dict[str, Any]) -> Item | None:
        if variables.get("id"):
            return self.items.get(str(variables["id"]))
        token = variables.get("token")
        return next((i for i in self.items.values() if i.token == token), None)

    def _related_amount(self, item: Item, psp: str) -> Decimal | None:
        related = [e for e in item.events if e.psp_reference == psp and e.type in FAMILY]
        return related[-1].amount if related else None

    # -- GraphQL resolvers ----------------------------------------------------------------------

    def _resolve_transactionEventReport(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any]:
        self._check_up()
        app_id = self._require_app(call, "transactionEventReport")

        def error(field_: str | None, code: str, message: str) -> dict[str, Any]:
            return {
                "alreadyProcessed": None,
                "transaction": None,
                "transactionEvent": None,
                "errors": [{"field": field_, "code": code, "message": message}],
            }

        with self._lock:
            item = self._find_item(variables)
            if item is None or item.app_id not in {app_id, None}:
                return error("id", "NOT_FOUND", "Couldn't resolve to a node.")
            type_ = str(variables["type"])
            psp = str(variables.get("pspReference") or variables.get("psp") or "")
            raw_amount = variables.get("amount")
            if raw_amount is None:
                if type_ in AMOUNT_REQUIRED:
                    return error("amount", "REQUIRED", "The `amount` field is required.")
                amount = ZERO if type_ == "INFO" else self._related_amount(item, psp)
                if amount is None:
                    return error("amount", "REQUIRED", "The `amount` field is required.")
            else:
                amount = money(raw_amount)
            actions = variables.get("availableActions", variables.get("actions"))
            private = variables.get("transactionPrivateMetadata", variables.get("privateMetadata"))
            public = variables.get("transactionMetadata")
            if type_ not in NEVER_DEDUPED:
                existing = next(
                    (e for e in item.events if e.psp_reference == psp and e.type == type_), None
                )
                if existing is not None:
                    if existing.amount != amount:
                        family = FAMILY.get(type_, "charge")
                        self._new_event(
                            item,
                            FAILURE_OF_FAMILY[family],
                            psp,
                            amount,
                            message=DEDUPE_MESSAGE,
                            include=False,
                        )
                        return error("pspReference", "INCORRECT_DETAILS", DEDUPE_MESSAGE)
                    if actions is not None:
                        item.actions = sorted(set(actions))
                    # Saleor shows the metadata in this answer but never saves it (fact 17).
                    shown = {**item.private_metadata, **_metadata(private)}
                    return {
                        "alreadyProcessed": True,
                        "transaction": self.item_json(item, private_metadata=shown),
                        "transactionEvent": self.event_json(existing, item.currency),
                        "errors": [],
                    }
            if type_ == "AUTHORIZATION_SUCCESS" and any(
                e.type == "AUTHORIZATION_SUCCESS" and e.include for e in item.events
            ):
                return error(
                    "type",
                    "ALREADY_EXISTS",
                    "Event with `AUTHORIZATION_SUCCESS` already reported for the transaction. "
                    "Use `AUTHORIZATION_ADJUSTMENT` to change the authorization amount.",
                )
            event = self._new_event(
                item,
                type_,
                psp,
                amount,
                message=str(variables.get("message") or "")[:512],
                created_by_app=app_id,
                external_url=str(variables.get("externalUrl") or ""),
            )
            if not item.psp_reference and type_ in {
                "AUTHORIZATION_REQUEST",
                "AUTHORIZATION_SUCCESS",
                "CHARGE_REQUEST",
                "CHARGE_SUCCESS",
            }:
                item.psp_reference = psp
            if actions is not None:
                item.actions = sorted(set(actions))
            item.private_metadata.update(_metadata(private))
            item.metadata.update(_metadata(public))
            if variables.get("paymentMethodDetails"):
                item.payment_method_details = _details(variables["paymentMethodDetails"])
            recalculate(item)
            return {
                "alreadyProcessed": False,
                "transaction": self.item_json(item),
                "transactionEvent": self.event_json(event, item.currency),
                "errors": [],
            }

    def _resolve_transactionCreate(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any]:
        self._check_up()
        app_id = self._require_app(call, "transactionCreate")
        with self._lock:
            source_id = str(variables["id"])
            source = self.checkouts.get(source_id) or self.orders.get(source_id)
            if source is None or (isinstance(source, Checkout) and source.order_id):
                return {
                    "transaction": None,
                    "errors": [
                        {"field": "id", "code": "NOT_FOUND", "message": "Couldn't resolve id."}
                    ],
                }
            data = variables["transaction"]
            for name in ("amountAuthorized", "amountCharged", "amountRefunded", "amountCanceled"):
                given = data.get(name)
                if given and given.get("currency") != source.currency:
                    return {
                        "transaction": None,
                        "errors": [
                            {
                                "field": name,
                                "code": "INCORRECT_CURRENCY",
                                "message": "Currency needs to be the same as the source object.",
                            }
                        ],
                    }
            item = self._new_item(
                source_id,
                app_id,
                name=str(data.get("name") or ""),
                message=str(data.get("message") or ""),
                psp_reference=str(data.get("pspReference") or ""),
                actions=sorted(set(data.get("availableActions") or [])),
                metadata=_metadata(data.get("metadata")),
                private_metadata=_metadata(data.get("privateMetadata")),
                payment_method_details=_details(data.get("paymentMethodDetails")),
            )
            for name, type_ in (
                ("amountAuthorized", "AUTHORIZATION_SUCCESS"),
                ("amountCharged", "CHARGE_SUCCESS"),
                ("amountRefunded", "REFUND_SUCCESS"),
                ("amountCanceled", "CANCEL_SUCCESS"),
            ):
                given = data.get(name)
                if given:
                    self._new_event(item, type_, "", money(given["amount"]), created_by_app=app_id)
            event_input = variables.get("transactionEvent") or variables.get("event")
            if event_input:
                self._new_event(
                    item,
                    "INFO",
                    str(event_input.get("pspReference") or ""),
                    ZERO,
                    message=str(event_input.get("message") or ""),
                    created_by_app=app_id,
                )
            recalculate(item)
            return {"transaction": self.item_json(item), "errors": []}

    def _resolve_transactionUpdate(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any]:
        self._check_up()
        app_id = self._require_app(call, "transactionUpdate")
        with self._lock:
            item = self._find_item(variables)
            if item is None or item.app_id not in {app_id, None}:
                return {
                    "transaction": None,
                    "errors": [{"field": "id", "code": "NOT_FOUND", "message": "Not found."}],
                }
            data = variables.get("transaction") or {}
            if "name" in data:
                item.name = str(data["name"] or "")
            if "message" in data:
                item.message = str(data["message"] or "")
            if data.get("pspReference"):
                psp = str(data["pspReference"])
                if any(o.psp_reference == psp for o in self.items.values() if o is not item):
                    return {
                        "transaction": None,
                        "errors": [
                            {"field": "pspReference", "code": "UNIQUE", "message": "Not unique."}
                        ],
                    }
                item.psp_reference = psp
            if data.get("availableActions") is not None:
                item.actions = sorted(set(data["availableActions"]))
            item.metadata.update(_metadata(data.get("metadata")))
            item.private_metadata.update(_metadata(data.get("privateMetadata")))
            if data.get("paymentMethodDetails"):
                item.payment_method_details = _details(data["paymentMethodDetails"])
            recalculate(item)
            return {"transaction": self.item_json(item), "errors": []}

    def _resolve_updatePrivateMetadata(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any]:
        self._check_up()
        app_id = self._require_app(call, "updatePrivateMetadata")
        with self._lock:
            item = self.items.get(str(variables["id"]))
            if item is None or item.app_id not in {app_id, None}:
                return {
                    "item": None,
                    "errors": [{"field": "id", "code": "NOT_FOUND", "message": "Not found."}],
                }
            for entry in variables.get("input") or []:
                if not entry.get("key"):
                    return {
                        "item": None,
                        "errors": [
                            {"field": "input", "code": "REQUIRED", "message": "Key is required."}
                        ],
                    }
            item.private_metadata.update(_metadata(variables.get("input")))
            return {"item": self.item_json(item), "errors": []}

    def _resolve_transaction(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any] | None:
        self._check_up()
        self._require_app(call, "transaction")
        with self._lock:
            item = self._find_item(variables)
            return self.item_json(item) if item else None

    def _resolve_checkout(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any] | None:
        self._check_up()
        with self._lock:
            checkout = self.checkouts.get(str(variables.get("id")))
            if checkout is None or checkout.order_id:
                return None
            return self.checkout_json(checkout)

    def _resolve_order(self, variables: dict[str, Any], call: GraphQLCall) -> dict[str, Any] | None:
        self._check_up()
        self._require_app(call, "order")
        if "MANAGE_ORDERS" not in self.app_permissions and _selects(call.query, "grantedRefunds"):
            # A non-null field the app may not read: Saleor nulls the order (protocol §6.5).
            raise GraphQLErrors(
                [
                    {
                        "message": "To access this path, you need one of the following "
                        "permissions: MANAGE_ORDERS",
                        "locations": [{"line": 1, "column": 1}],
                        "path": ["order", "grantedRefunds"],
                        "extensions": {"exception": {"code": "PermissionDenied"}},
                    }
                ],
                data={"order": None},
            )
        with self._lock:
            order = self.orders.get(str(variables.get("id")))
            return self.order_json(order) if order else None

    def _resolve_checkoutComplete(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any]:
        self._check_up()
        return self.checkout_complete(str(variables["id"]))

    # -- storefront / staff calls ---------------------------------------------------------------

    def checkout_complete(self, checkout_id: str) -> dict[str, Any]:
        """``checkoutComplete``: an order if the checkout is fully authorized (pending counts)."""
        with self._lock:
            checkout = self.checkouts.get(checkout_id)
            if checkout is None:
                return {
                    "order": None,
                    "errors": [{"field": "id", "code": "NOT_FOUND", "message": "Not found."}],
                }
            if checkout.order_id:
                return {"order": self.order_json(self.orders[checkout.order_id]), "errors": []}
            status = self.checkout_status(checkout_id)
            channel = self.channels[checkout.channel]
            if status["authorizeStatus"] != "FULL" and not channel.allow_unpaid_orders:
                return {
                    "order": None,
                    "errors": [
                        {
                            "field": None,
                            "code": "CHECKOUT_NOT_FULLY_PAID",
                            "message": "The authorized amount doesn't cover the checkout's "
                            "total amount.",
                        }
                    ],
                }
            order = Order(
                id=global_id("Order", str(uuid.uuid4())),
                number=str(next(self._order_numbers)),
                channel=checkout.channel,
                total=checkout.total,
                currency=checkout.currency,
                email=checkout.email,
                items=list(checkout.items),
            )
            self.orders[order.id] = order
            for item_id in checkout.items:
                self.items[item_id].order_id = order.id
                self.items[item_id].checkout_id = None
            checkout.order_id = order.id
            return {"order": self.order_json(order), "errors": []}

    def _source_json(self, source_id: str) -> dict[str, Any]:
        source = self.checkouts.get(source_id) or self.orders.get(source_id)
        if isinstance(source, Checkout):
            data = self.checkout_json(source, depth=2)
        else:
            assert source is not None
            data = self.order_json(source, depth=2)
        data.pop("transactions", None)
        return data

    def _remaining(self, source: Checkout | Order) -> Decimal:
        used = ZERO
        for item_id in source.items:
            amounts = self.items[item_id].amounts
            used += (
                max(amounts["authorized"], amounts["charged"])
                + amounts["authorizePending"]
                + amounts["chargePending"]
            )
        return max(ZERO, source.total - used)

    async def transaction_initialize(
        self,
        app_url: str,
        source_id: str,
        data: Any,
        *,
        amount: Decimal | str | None = None,
        idempotency_key: str | None = None,
        action: str | None = None,
    ) -> dict[str, Any]:
        """``transactionInitialize`` from the storefront: item + request event, then the webhook."""
        with self._lock:
            source = self.checkouts.get(source_id) or self.orders.get(source_id)
            if source is None or (isinstance(source, Checkout) and source.order_id):
                return {
                    "transaction": None,
                    "transactionEvent": None,
                    "data": None,
                    "errors": [{"field": "id", "code": "NOT_FOUND", "message": "Not found."}],
                }
            channel = self.channels[source.channel]
            flow = action or channel.default_flow
            wanted = money(amount) if amount is not None else self._remaining(source)
            key = idempotency_key or str(uuid.uuid4())
            item = next(
                (self.items[i] for i in source.items if self.items[i].idempotency_key == key),
                None,
            )
            if item is None:
                item = self._new_item(source_id, self.fake.app_id, idempotency_key=key)
                request = self._new_event(
                    item, f"{flow}_REQUEST", "", wanted, include=False, idempotency_key=key
                )
            else:
                request = next(e for e in item.events if e.type.endswith("_REQUEST"))
                if request.amount != wanted or request.type != f"{flow}_REQUEST":
                    return {
                        "transaction": None,
                        "transactionEvent": None,
                        "data": None,
                        "errors": [
                            {
                                "field": "idempotencyKey",
                                "code": "UNIQUE",
                                "message": "Different transaction with provided idempotency key "
                                "already exists.",
                            }
                        ],
                    }
            payload = {
                "version": SALEOR_VERSION,
                "issuingPrincipal": None,
                "idempotencyKey": key,
                "merchantReference": item.id,
                "customerIpAddress": "127.0.0.1",
                "data": data,
                "action": {"amount": wanted, "currency": item.currency, "actionType": flow},
                "transaction": {
                    "id": item.id,
                    "token": item.token,
                    "pspReference": item.psp_reference,
                    "createdAt": item.created_at,
                },
                "sourceObject": self._source_json(source_id),
            }
        status, answer = await self._send("TRANSACTION_INITIALIZE_SESSION", app_url, payload)
        with self._lock:
            event, out_data = self._apply_session_answer(item, request, flow, status, answer)
            return {
                "transaction": self.item_json(item),
                "transactionEvent": self.event_json(event, item.currency),
                "data": out_data,
                "errors": [],
            }

    async def transaction_process(
        self, app_url: str, item_id: str, data: Any = None
    ) -> dict[str, Any]:
        """``transactionProcess``: the item's *first* included final event if there is one
        (Saleor walks the events in primary-key order and returns the first match, without
        asking the app and with ``data: null``), else the app is asked."""
        with self._lock:
            item = self.items[item_id]
            finals = [e for e in item.events if e.include and e.type in FINAL_SESSION_EVENTS]
            if finals:
                return {
                    "transaction": self.item_json(item),
                    "transactionEvent": self.event_json(finals[0], item.currency),
                    "data": None,
                    "errors": [],
                }
            request = next((e for e in item.events if e.type.endswith("_REQUEST")), None)
            if request is None or request.include:
                return {
                    "transaction": None,
                    "transactionEvent": None,
                    "data": None,
                    "errors": [
                        {
                            "field": None,
                            "code": "INVALID",
                            "message": "Missing call of `transactionInitialize` mutation.",
                        }
                    ],
                }
            flow = request.type.removesuffix("_REQUEST")
            source_id = item.order_id or item.checkout_id
            assert source_id is not None
            payload = {
                "version": SALEOR_VERSION,
                "merchantReference": item.id,
                "customerIpAddress": "127.0.0.1",
                "data": data,
                "action": {"amount": request.amount, "currency": item.currency, "actionType": flow},
                "transaction": {
                    "id": item.id,
                    "token": item.token,
                    "pspReference": item.psp_reference,
                    "metadata": [{"key": k, "value": v} for k, v in item.metadata.items()],
                    "privateMetadata": [
                        {"key": k, "value": v} for k, v in item.private_metadata.items()
                    ],
                },
                "sourceObject": self._source_json(source_id),
            }
        status, answer = await self._send("TRANSACTION_PROCESS_SESSION", app_url, payload)
        with self._lock:
            event, out_data = self._apply_session_answer(item, request, flow, status, answer)
            return {
                "transaction": self.item_json(item),
                "transactionEvent": self.event_json(event, item.currency),
                "data": out_data,
                "errors": [],
            }

    async def redeliver(self, app_url: str, index: int = -1) -> tuple[int, Any]:
        """Send an earlier action request again, unchanged (a redelivery); the answer is
        returned, not applied."""
        event, payload = self.action_deliveries[index]
        return await self._send(event, app_url, payload)

    async def _send_action(
        self, event: str, app_url: str, payload: dict[str, Any]
    ) -> tuple[int, Any]:
        """One action request, redelivered (same payload) on 5xx or a lost connection."""
        self.action_deliveries.append((event, payload))
        for attempt in range(self.action_redeliveries + 1):
            try:
                status, answer = await self._send(event, app_url, payload)
            except httpx.TransportError:
                self.webhook_responses.append((event, 0, None))
                status, answer = 0, None
            if 200 <= status < 500 or attempt == self.action_redeliveries:
                return (status or 502), answer
        raise AssertionError("unreachable")

    async def _send(self, event: str, app_url: str, payload: dict[str, Any]) -> tuple[int, Any]:
        response = await self.fake.send_webhook(app_url, event, payload=payload)
        try:
            answer = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            answer = None
        self.webhook_responses.append((event, response.status_code, answer))
        return response.status_code, answer

    def _apply_session_answer(
        self, item: Item, request: Event, flow: str, status: int, answer: Any
    ) -> tuple[Event, Any]:
        """Saleor's processing of a TRANSACTION_INITIALIZE/PROCESS_SESSION answer (§4.2)."""
        failure = f"{flow}_FAILURE"
        if not 200 <= status < 300 or not isinstance(answer, dict):
            event = self._new_event(
                item, failure, "", request.amount, message=DELIVERY_FAILED, include=False
            )
            return event, None
        out_data = answer.get("data")
        result: str = str(answer.get("result") or "")
        psp = answer.get("pspReference")
        problem = None
        if result not in SESSION_RESULTS:
            problem = "Missing or invalid value for `result`."
        elif result.endswith(("_SUCCESS", "_REQUEST")) and not psp and result != "CANCEL_SUCCESS":
            problem = "Providing `pspReference` is required for SUCCESS and REQUEST results."
        elif answer.get("externalUrl") == "":
            problem = "externalUrl: Input should be a valid URL."
        if problem:
            event = self._new_event(item, failure, str(psp or ""), request.amount, message=problem)
            recalculate(item)
            return event, out_data
        amount = money(answer["amount"]) if answer.get("amount") is not None else request.amount
        message = str(answer.get("message") or "")[:512]
        app_id = item.app_id
        if result.endswith("_REQUEST"):
            request.type, request.amount, request.psp_reference = result, amount, str(psp)
            request.include = True
            event = request
        elif result.endswith("_ACTION_REQUIRED"):
            event = self._new_event(
                item, result, str(psp or ""), amount, message=message, created_by_app=app_id
            )
        else:
            existing = next(
                (e for e in item.events if psp and e.psp_reference == psp and e.type == result),
                None,
            )
            if existing is not None and existing.amount == amount:
                event = existing
            elif existing is not None:
                event = self._new_event(
                    item, failure, str(psp), amount, message=DEDUPE_MESSAGE, include=False
                )
                recalculate(item)
                return event, out_data
            else:
                event = self._new_event(
                    item, result, str(psp or ""), amount, message=message, created_by_app=app_id
                )
            if result.endswith(("_SUCCESS", "_FAILURE")) and psp:
                # Saleor re-labels the request event with the pspReference (recorded fact 15)
                # and nothing else: it stays out of the calculations.
                request.psp_reference = str(psp)
            if result.endswith("_SUCCESS") and psp and not item.psp_reference:
                item.psp_reference = str(psp)
        if answer.get("actions") is not None:
            item.actions = sorted(
                {a for a in answer["actions"] if a in {"CHARGE", "REFUND", "CANCEL"}}
            )
        if answer.get("paymentMethodDetails"):
            item.payment_method_details = dict(answer["paymentMethodDetails"])
        recalculate(item)
        return event, out_data

    def grant_refund(
        self,
        order_id: str,
        item_id: str | None,
        amount: Decimal | str,
        *,
        reason: str = "Damaged item",
        lines: list[tuple[int, str]] | None = None,
    ) -> dict[str, Any]:
        """``orderGrantRefundCreate`` by staff: lowers the order's expected total; returns the
        grant. ``item_id=None`` is a grant with no transaction (created before Saleor 3.21)."""
        with self._lock:
            order = self.orders[order_id]
            wanted = money(amount)
            if item_id is not None and wanted > self.items[item_id].amounts["charged"]:
                msg = "amount greater than the transaction's charged amount"
                raise ValueError(msg)
            grant: dict[str, Any] = {
                "id": global_id("OrderGrantedRefund", str(next(self._seq))),
                "order": order_id,
                "amount": {"amount": wanted, "currency": order.currency},
                "reason": reason,
                "lines": [
                    {"quantity": quantity, "orderLine": {"productName": name}}
                    for quantity, name in lines or []
                ],
                "transaction": item_id,
                "createdAt": now_iso(),
            }
            order.granted_refunds += wanted
            self.grants[grant["id"]] = grant
            return grant

    def grant_status(self, grant_id: str) -> str:
        """Saleor's ``calculate_order_granted_refund_status``: the type of the latest refund
        event linked to the grant (its request, then the result with the request's pspReference)."""
        if grant_id not in self.grant_requests:
            return "NONE"
        request = self.grant_requests[grant_id]
        if request is None:
            return "PENDING"
        item = self.items[str(self.grants[grant_id]["transaction"])]
        results = [
            e
            for e in item.events
            if e.seq > request.seq
            and e.type in {"REFUND_SUCCESS", "REFUND_FAILURE"}
            and e.psp_reference == request.psp_reference
        ]
        if not results:
            return "PENDING"
        return "SUCCESS" if results[-1].type == "REFUND_SUCCESS" else "FAILURE"

    def grant_json(self, grant: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": grant["id"],
            "createdAt": grant["createdAt"],
            "updatedAt": grant["createdAt"],
            "amount": grant["amount"],
            "reason": grant["reason"],
            "status": self.grant_status(grant["id"]),
            "shippingCostsIncluded": False,
            "lines": grant["lines"],
            "transaction": {"id": grant["transaction"]} if grant["transaction"] else None,
        }

    async def transaction_request_refund_for_granted_refund(
        self, app_url: str, grant_id: str, item_id: str | None = None
    ) -> dict[str, Any]:
        """``transactionRequestRefundForGrantedRefund``: a REFUND request for the granted amount,
        on the grant's item (``item_id`` only ties a grant that has none)."""
        with self._lock:
            grant = self.grants[grant_id]
            if grant["transaction"] is None:
                grant["transaction"] = item_id
            self.grant_requests[grant_id] = None
        payload_grant = {
            "id": grant["id"],
            "amount": grant["amount"],
            "reason": grant["reason"],
            "lines": [],
        }
        return await self.transaction_request_action(
            app_url,
            grant["transaction"],
            "REFUND",
            grant["amount"]["amount"],
            granted_refund=payload_grant,
            grant_id=grant_id,
        )

    def _resolve_transactionRequestRefundForGrantedRefund(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any]:
        """The mutation (HANDLE_PAYMENTS): checks as Saleor's ``clean_input``, answers at once;
        the webhook follows as for ``transactionRequestAction``."""
        self._check_up()
        self._require_app(call, "transactionRequestRefundForGrantedRefund")

        def error(field_: str | None, code: str, message: str) -> dict[str, Any]:
            return {
                "transaction": None,
                "errors": [{"field": field_, "code": code, "message": message}],
            }

        installation = self.fake.installation
        with self._lock:
            grant = self.grants.get(str(variables.get("grantedRefundId")))
            if grant is None:
                return error("grantedRefundId", "NOT_FOUND", "Granted refund not found.")
            item = (
                self.items.get(str(grant["transaction"]))
                if grant["transaction"]
                else self._find_item(variables)
            )
            if item is None or item.order_id != grant["order"]:
                return error("id", "NOT_FOUND", "Transaction not found.")
            status = self.grant_status(grant["id"])
            if status == "PENDING":
                return error(None, "REFUND_IS_PENDING", "Refund is pending.")
            if status == "SUCCESS":
                return error(None, "REFUND_ALREADY_PROCESSED", "Refund already processed.")
            if money(grant["amount"]["amount"]) > item.amounts["charged"]:
                return error(
                    "amount",
                    "AMOUNT_GREATER_THAN_AVAILABLE",
                    "Amount greater than the transaction's charged amount.",
                )
            if installation is None or "TRANSACTION_REFUND_REQUESTED" not in installation.webhooks:
                return error(
                    None,
                    "MISSING_TRANSACTION_ACTION_REQUEST_WEBHOOK",
                    "No app or plugin is configured to handle the action.",
                )
            self.requested_grant_refunds.append(dict(variables))
            target = urlsplit(installation.webhooks["TRANSACTION_REFUND_REQUESTED"])
            app_url = f"{target.scheme}://{target.netloc}"
            self.grant_requests[grant["id"]] = None
            task = asyncio.get_running_loop().create_task(
                self.transaction_request_refund_for_granted_refund(app_url, grant["id"], item.id)
            )
            self._action_tasks.add(task)
            task.add_done_callback(self._action_tasks.discard)
            return {"transaction": self.item_json(item), "errors": []}

    async def transaction_request_action(
        self,
        app_url: str,
        item_id: str,
        action_type: str,
        amount: Decimal | str | None = None,
        *,
        granted_refund: dict[str, Any] | None = None,
        grant_id: str | None = None,
    ) -> dict[str, Any]:
        """``transactionRequestAction`` by staff: request event, webhook, answer applied (§4.4).

        A REFUND not tied to a granted refund carries Saleor's top-level ``errors`` array next to
        ``grantedRefund: null``, as every such delivery recorded from 3.23 does (fact 11).
        """
        with self._lock:
            item = self.items[item_id]
            maximum = item.amounts["charged" if action_type == "REFUND" else "authorized"]
            wanted = maximum if amount is None else min(money(amount), maximum)
            request = self._new_event(
                item,
                f"{action_type}_REQUEST",
                "",
                wanted,
                include=False,
                idempotency_key=str(uuid.uuid4()),
            )
            if grant_id is not None:
                self.grant_requests[grant_id] = request
            transaction: dict[str, Any] = {
                "id": item.id,
                "token": item.token,
                "pspReference": item.psp_reference,
                "authorizedAmount": self._money(item.amounts["authorized"], item.currency),
                "chargedAmount": self._money(item.amounts["charged"], item.currency),
                "refundedAmount": self._money(item.amounts["refunded"], item.currency),
                "privateMetadata": [
                    {"key": k, "value": v} for k, v in sorted(item.private_metadata.items())
                ],
                "checkout": {"id": item.checkout_id, "channel": {"slug": self._channel(item)}}
                if item.checkout_id
                else None,
                "order": {
                    "id": item.order_id,
                    "number": self.orders[item.order_id].number,
                    "channel": {"slug": self._channel(item)},
                }
                if item.order_id
                else None,
            }
            # Only what each subscription selects (graphql/subscriptions): a cancelation has no
            # metadata, no charged/refunded amounts and no issuing principal.
            if action_type == "CANCEL":
                for name in ("chargedAmount", "refundedAmount", "privateMetadata"):
                    transaction.pop(name)
            elif action_type == "CHARGE":
                transaction.pop("refundedAmount")
            else:
                transaction.pop("authorizedAmount")
            payload: dict[str, Any] = {
                "version": SALEOR_VERSION,
                "action": {"actionType": action_type, "amount": wanted, "currency": item.currency},
                "transaction": transaction,
            }
            if action_type == "REFUND":
                payload["issuingPrincipal"] = None
            if action_type == "REFUND":
                payload["grantedRefund"] = granted_refund
                if granted_refund is None:
                    payload["errors"] = [GRANTED_REFUND_NULL_ERROR]
        status, answer = await self._send_action(ACTION_EVENT[action_type], app_url, payload)
        with self._lock:
            self._apply_action_answer(item, request, action_type, status, answer)
            return {"transaction": self.item_json(item), "errors": []}

    def _resolve_transactionRequestAction(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any]:
        """The mutation (app token or staff): answers at once, the webhook follows (fact 22).

        Saleor returns the item with its new ``*_REQUEST`` event and unchanged amounts, then its
        worker sends the action webhook; here the delivery runs as a task on the fake's loop
        (:meth:`transaction_request_action`), and tests wait for its answer
        (:attr:`webhook_responses`).
        """
        self._check_up()
        self._require_app(call, "transactionRequestAction")
        installation = self.fake.installation
        with self._lock:
            item = self._find_item(variables)
            if item is None:
                return {
                    "transaction": None,
                    "errors": [
                        {"field": "id", "code": "NOT_FOUND", "message": "Transaction not found."}
                    ],
                }
            action_type = str(variables.get("actionType", "REFUND"))
            if installation is None or ACTION_EVENT[action_type] not in installation.webhooks:
                return {
                    "transaction": None,
                    "errors": [
                        {
                            "field": None,
                            "code": "MISSING_TRANSACTION_ACTION_REQUEST_WEBHOOK",
                            "message": "No app or plugin is configured to handle the action.",
                        }
                    ],
                }
            self.requested_actions.append(dict(variables))
            target = urlsplit(installation.webhooks[ACTION_EVENT[action_type]])
            app_url = f"{target.scheme}://{target.netloc}"
            amount = variables.get("amount")
            task = asyncio.get_running_loop().create_task(
                self.transaction_request_action(
                    app_url, item.id, action_type, None if amount is None else money(amount)
                )
            )
            self._action_tasks.add(task)
            task.add_done_callback(self._action_tasks.discard)
            return {"transaction": self.item_json(item), "errors": []}

    async def release_funds(self, app_url: str, checkout_id: str) -> list[str]:
        """Saleor releasing the funds of an abandoned checkout (§7.5, ``transactions_to_release_funds``).

        For every item of the checkout owned by the app: REFUND of what is charged, else CANCEL of
        what is authorized — ordinary action requests with ``order: null`` and no principal.
        Returns the action type requested per item (``""`` when nothing was requested).
        """
        with self._lock:
            checkout = self.checkouts[checkout_id]
            assert checkout.order_id is None, "a completed checkout has no funds to release"
            plan: list[tuple[str, str]] = []
            for item_id in checkout.items:
                item = self.items[item_id]
                if item.amounts["charged"] > 0:
                    plan.append((item_id, "REFUND"))
                elif item.amounts["authorized"] > 0:
                    plan.append((item_id, "CANCEL"))
                else:
                    plan.append((item_id, ""))
        for item_id, action_type in plan:
            if action_type:
                await self.transaction_request_action(app_url, item_id, action_type)
        return [action_type for _, action_type in plan]

    def _channel(self, item: Item) -> str:
        return self._source_of(item).channel

    def _apply_action_answer(
        self, item: Item, request: Event, action_type: str, status: int, answer: Any
    ) -> None:
        failure = f"{action_type}_FAILURE"
        # A 4xx with a JSON body is processed like a 200 (§4.4); 5xx and non-JSON fail.
        if status >= 500 or not isinstance(answer, dict):
            self._new_event(
                item, failure, "", request.amount, message=DELIVERY_FAILED, include=False
            )
            recalculate(item)
            return
        psp = answer.get("pspReference")
        result = answer.get("result")
        if result is not None and result not in ACTION_RESULTS[action_type]:
            self._new_event(
                item, failure, "", request.amount, message="Missing or invalid value for `result`."
            )
            recalculate(item)
            return
        if result is None and not psp:
            self._new_event(
                item, failure, "", request.amount, message="Providing `pspReference` is required."
            )
            recalculate(item)
            return
        if psp:
            request.psp_reference = str(psp)
            request.include = True
        if result is not None:
            amount = money(answer["amount"]) if answer.get("amount") is not None else request.amount
            existing = next(
                (e for e in item.events if psp and e.psp_reference == psp and e.type == result),
                None,
            )
            if existing is not None and existing.amount != amount:
                self._new_event(
                    item, failure, str(psp), amount, message=DEDUPE_MESSAGE, include=False
                )
            elif existing is None:
                self._new_event(
                    item,
                    result,
                    str(psp or ""),
                    amount,
                    message=str(answer.get("message") or "")[:512],
                    created_by_app=item.app_id,
                )
        if answer.get("actions") is not None:
            if result is None:
                # Saleor 3.23.28 bug (fact 25): the asynchronous schema does not lower-case
                # ``actions``; they are stored as sent and every later read fails.
                item.actions = [str(a) for a in answer["actions"]]
                item.actions_stored_raw = bool(item.actions)
            else:
                item.actions = sorted(
                    {a for a in answer["actions"] if a in {"CHARGE", "REFUND", "CANCEL"}}
                )
                item.actions_stored_raw = False
        recalculate(item)


def _selects(query: str, field_name: str) -> bool:
    """Whether the document selects ``field_name`` anywhere (comments do not count)."""
    found = False

    class Finder(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            nonlocal found
            found = found or node.name.value == field_name

    visit(parse(query), Finder())
    return found


def _metadata(entries: Any) -> dict[str, str]:
    return {str(e["key"]): str(e.get("value") or "") for e in entries or []}


def _details(details: Any) -> dict[str, Any] | None:
    if not details:
        return None
    if details.get("card"):
        return {"__typename": "CardPaymentMethodDetails", **details["card"]}
    if details.get("other"):
        return {"__typename": "OtherPaymentMethodDetails", **details["other"]}
    if details.get("type") == "CARD":
        return {"__typename": "CardPaymentMethodDetails", **details}
    return {"__typename": "OtherPaymentMethodDetails", "name": details.get("name")}
