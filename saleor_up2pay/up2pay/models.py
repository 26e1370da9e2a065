"""Payment methods, legs, their capabilities, credentials and money conversion.

A shopper picks a :class:`Method` (what ``PBX_TYPECARTE`` asks for). Up2pay then creates one
transaction per means of payment actually used — a :class:`Leg`: the voucher leg and, when the
voucher balance does not cover the total, a card complement (``LIMOCB``) on a second VADS contract
(manual §3.3, protocol §3.7). Each leg has its own transaction number and its own GAE rules
(:data:`CAPABILITIES`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, NewType

from saleor_up2pay.up2pay.errors import InvalidAmount, UnsupportedCurrency

Numtrans = NewType("Numtrans", str)
"""Up2pay's transaction number of one leg (``S`` in an IPN, ``NUMTRANS`` in GAE): the key of
every leg record and the IPN's idempotency key. One name everywhere: ``numtrans``."""

Numappel = NewType("Numappel", str)
"""Up2pay's call number of one leg (``T`` in an IPN, ``NUMAPPEL`` in GAE)."""

__all__ = [
    "CAPABILITIES",
    "EUR_NUMERIC",
    "HMAC_KEY_FORMAT",
    "IDENTIFIANT_FORMAT",
    "RANG_FORMAT",
    "SITE_FORMAT",
    "Capabilities",
    "Credentials",
    "Leg",
    "Method",
    "from_minor_units",
    "to_minor_units",
]

EUR_NUMERIC = "978"
"""ISO 4217 numeric code of the euro, the only ``PBX_DEVISE``/``DEVISE`` we send."""

_CENT = Decimal("0.01")


class Method(StrEnum):
    """A method the shopper can pick: ``PBX_TYPECARTE`` with ``LIMONETIK`` (manual §3.1.5, §3.2.4).

    The codes did not change with the rebrands (Apetiz → Bimpli, a Swile company; Sodexo →
    Pluxee; Up Chèque Déjeuner → Up Déjeuner), protocol §2.3.
    """

    APETIZ = "APETIZ"
    SODEXO = "SODEXO"
    UPCHEQUDEJ = "UPCHEQUDEJ"
    CVCONNECT = "CVCONNECT"

    @property
    def leg(self) -> Leg:
        """The leg created for the voucher part of a payment with this method."""
        return Leg(self.value)

    @property
    def label(self) -> str:
        """Name shown to shoppers and staff."""
        return self.leg.label

    @property
    def kind(self) -> Literal["meal", "holiday"]:
        """Meal voucher (Conecs) or holiday voucher (ANCV Chèque-Vacances Connect)."""
        return "holiday" if self is Method.CVCONNECT else "meal"


class Leg(StrEnum):
    """One transaction of a payment, named after the IPN card type ``C``.

    ``CARD`` stands for any ordinary card brand (``CB``, ``VISA``, ...) paid outside LIMONETIK;
    the raw brand stays available in :attr:`Notification.card_type`.
    """

    APETIZ = "APETIZ"
    SODEXO = "SODEXO"
    UPCHEQUDEJ = "UPCHEQUDEJ"
    CVCONNECT = "CVCONNECT"
    LIMOCB = "LIMOCB"
    CARD = "CARD"

    @classmethod
    def from_card_type(cls, card_type: str) -> Leg:
        """The leg of an IPN card type ``C``; any value that is not a LIMONETIK leg is a card."""
        try:
            leg = cls(card_type.strip().upper())
        except ValueError:
            return cls.CARD
        return leg

    @property
    def acquirer(self) -> str | None:
        """``ACQUEREUR`` to send with GAE operations on this leg (manual §4.2), None for cards.

        Derived from the leg only — never from user input — because a wrong ACQUEREUR/NUMTRANS
        pairing is refused (manual §4.3.2).
        """
        return None if self is Leg.CARD else self.value

    @property
    def is_voucher(self) -> bool:
        """Whether this is the voucher part (Conecs or CV-Connect) of a LIMONETIK payment."""
        return self in _VOUCHER_LEGS

    @property
    def is_conecs(self) -> bool:
        """Whether this is a Conecs meal-voucher leg."""
        return self in {Leg.APETIZ, Leg.SODEXO, Leg.UPCHEQUDEJ}

    @property
    def label(self) -> str:
        """Readable name of the leg."""
        return _LABELS[self]

    @property
    def capabilities(self) -> Capabilities:
        """What GAE can do on a transaction of this leg (:data:`CAPABILITIES`)."""
        return CAPABILITIES[self]


_VOUCHER_LEGS = frozenset({Leg.APETIZ, Leg.SODEXO, Leg.UPCHEQUDEJ, Leg.CVCONNECT})

_LABELS: Mapping[Leg, str] = MappingProxyType(
    {
        Leg.APETIZ: "Bimpli (Apetiz)",
        Leg.SODEXO: "Pluxee (Sodexo)",
        Leg.UPCHEQUDEJ: "Up Déjeuner (Up Chèque Déjeuner)",
        Leg.CVCONNECT: "Chèque-Vacances Connect",
        Leg.LIMOCB: "Card complement",
        Leg.CARD: "Card",
    }
)


@dataclass(frozen=True)
class Capabilities:
    """GAE operations allowed on one leg, and the rules that come with them."""

    capture: bool
    cancel: bool
    refund: bool
    partial_capture_voids_rest: bool = False
    """A partial capture automatically cancels the remaining amount."""
    refund_from_next_day: bool = False
    """Refunds are refused on the day of the payment (allowed from D+1)."""
    several_partial_refunds: bool = False
    """Several partial refunds of the same transaction are allowed."""


_CONECS = Capabilities(
    capture=True,
    cancel=False,
    # The manual contradicts itself: §4.2 says Conecs and CV-Connect payments can be neither
    # cancelled nor refunded, §4.3.1 says refunds are available "pour les paiements Conecs et les
    # compléments Carte bancaire". We follow §4.3 (the dedicated refund section, and what the
    # official WooCommerce plugin encodes: only CVCONNECT is not refundable, protocol §4.8).
    refund=True,
    partial_capture_voids_rest=True,  # manual §2.1.2.2
    refund_from_next_day=True,  # manual §4.3.1 "à J+1"
    several_partial_refunds=True,  # manual §4.3.1
)

CAPABILITIES: Mapping[Leg, Capabilities] = MappingProxyType(
    {
        # Conecs meal vouchers: capture yes, cancel no (manual §4.2), refund yes (manual §4.3.1).
        Leg.APETIZ: _CONECS,
        Leg.SODEXO: _CONECS,
        Leg.UPCHEQUDEJ: _CONECS,
        # Chèque-Vacances Connect: capture only (manual §2.2.2.1 table, §4.2; §4.3.1 excludes it).
        # One capture per authorization on every leg. The manual states the voided rest for Conecs
        # only (§2.1.2.2); for the other legs the notes are silent, and we take the safe reading
        # that a Débit (TYPE 00002) settles its authorization once and releases the rest (open
        # question for Up2pay support; the sandbox models the same). Offering a second capture
        # that Up2pay may refuse would show staff a button that does not work.
        Leg.CVCONNECT: Capabilities(
            capture=True, cancel=False, refund=False, partial_capture_voids_rest=True
        ),
        # Card complement: capture, cancel and refund (manual §3.3.2 table, §4.2, §4.3.1),
        # refunds from D+1 and several partial refunds (manual §4.3.1 covers "compléments CB").
        Leg.LIMOCB: Capabilities(
            capture=True,
            cancel=True,
            refund=True,
            partial_capture_voids_rest=True,
            refund_from_next_day=True,
            several_partial_refunds=True,
        ),
        # Ordinary card payment (not a LIMONETIK leg): the standard GAE operations, protocol §4.3.
        Leg.CARD: Capabilities(
            capture=True,
            cancel=True,
            refund=True,
            partial_capture_voids_rest=True,
            several_partial_refunds=True,
        ),
    }
)
"""The one table of what each leg allows, citing the manual; read it via ``leg.capabilities``."""


SITE_FORMAT = re.compile(r"[0-9]{7}")
RANG_FORMAT = re.compile(r"[0-9]{2,3}")
IDENTIFIANT_FORMAT = re.compile(r"[0-9]{1,9}")
HMAC_KEY_FORMAT = re.compile(r"[0-9A-Fa-f]{128}")
"""The formats of an Up2pay account (``fullmatch`` them), shared by :class:`Credentials`, the
settings and the stored configurations so all three accept exactly the same values. ASCII digits
only: ``\\d`` would also take other scripts' digits, which Up2pay does not."""


@dataclass(frozen=True)
class Credentials:
    """An Up2pay account: SITE (7 digits), RANG (2–3 digits), IDENTIFIANT (1–9 digits), HMAC key.

    The HMAC key is the 128-hex-character key generated in the Vision back office; it never
    appears in ``repr`` or error messages.
    """

    site: str
    rang: str
    identifiant: str
    hmac_key: str = field(repr=False)

    def __post_init__(self) -> None:
        problems = []
        if not SITE_FORMAT.fullmatch(self.site):
            problems.append("SITE must be 7 digits")
        if not RANG_FORMAT.fullmatch(self.rang):
            problems.append("RANG must be 2 or 3 digits")
        if not IDENTIFIANT_FORMAT.fullmatch(self.identifiant):
            problems.append("IDENTIFIANT must be 1 to 9 digits")
        if not HMAC_KEY_FORMAT.fullmatch(self.hmac_key):
            problems.append("the HMAC key must be 128 hexadecimal characters")
        if problems:
            raise ValueError("; ".join(problems))


def _euro_currency(currency: str) -> None:
    if currency.strip().upper() not in {"EUR", EUR_NUMERIC}:
        msg = (
            f"currency {currency!r} is not supported: Up2pay meal vouchers and Chèque-Vacances "
            "Connect take euros (EUR) only"
        )
        raise UnsupportedCurrency(msg)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Euros (Decimal) → cents; refuses other currencies, sub-cent and non-positive amounts."""
    _euro_currency(currency)
    if not isinstance(amount, Decimal):
        msg = f"amount must be a Decimal, got {type(amount).__name__}"
        raise InvalidAmount(msg)
    try:
        if not amount.is_finite() or amount <= 0:
            msg = f"amount must be a positive number of euros, got {amount}"
            raise InvalidAmount(msg)
        cents = amount / _CENT
        if cents != cents.to_integral_value():
            msg = f"amount {amount} EUR is not a whole number of cents"
            raise InvalidAmount(msg)
    except InvalidOperation as exc:
        msg = f"amount {amount} is not a usable number"
        raise InvalidAmount(msg) from exc
    return int(cents)


def from_minor_units(amount: int) -> Decimal:
    """Cents → euros as a Decimal with two places (``1510`` → ``Decimal("15.10")``)."""
    return (Decimal(amount) * _CENT).quantize(_CENT)
