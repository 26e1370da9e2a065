"""IPN and browser-return notifications: verify the raw message, then read it into a typed value.

Signature first, parsing second: :func:`verify_ipn` and :func:`verify_return` only ever read the
parameters covered by the signature. The two differ in scope (protocol §3.3): an IPN signs only the
``PBX_RETOUR`` variables, so our own leading ``PBX_REPONDRE_A`` parameters are dropped; a browser
return signs everything after ``?``, our parameters included.

LIMONETIK specifics (protocol §3.7, manual §3.1.10–§3.3.4): every leg (voucher, card complement
``LIMOCB``) has its own IPN, transaction number ``S`` and amount ``M``; legs share the call number
``T`` and the reference ``R``; they may arrive in any order, and more than once. ``A`` is absent on
refusals and on the CV-Connect leg, so it is not required for LIMONETIK legs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from saleor_up2pay.up2pay.codes import Outcome, describe_error_code
from saleor_up2pay.up2pay.errors import MalformedMessage, SignatureInvalid
from saleor_up2pay.up2pay.hosted_page import RETOUR_NAMES
from saleor_up2pay.up2pay.models import Leg, Numappel, Numtrans, from_minor_units
from saleor_up2pay.up2pay.signature import PublicKeys, SignedMessage, split_signed

__all__ = [
    "Notification",
    "Outcome",
    "parse_notification",
    "verify_ipn",
    "verify_return",
    "verify_signed",
]

_DIGITS = re.compile(r"[0-9]{1,12}")
_CODE = re.compile(r"[0-9]{5}")
_MIXED = re.compile(r"([0-9]+)-([0-9]+)")


@dataclass(frozen=True)
class Notification:
    """One verified notification about one leg of a payment."""

    amount: int
    """``M``: amount of this leg in cents (not the order total for mixed payments)."""
    reference: str
    """``R``: our ``PBX_CMD``."""
    error_code: str
    """``E``: the five-digit result code."""
    outcome: Outcome
    bank_code: str | None
    """``xx`` of a ``001xx`` refusal."""
    message_fr: str
    message_en: str
    leg: Leg
    card_type: str | None
    """``C`` as received (``APETIZ``, ``LIMOCB``, ``CB``, ``Visa Electron``...)."""
    numappel: Numappel | None
    """``T`` (NUMAPPEL for GAE): shared by every leg and attempt of one payment session."""
    numtrans: Numtrans | None
    """``S`` (NUMTRANS for GAE): one per leg and attempt — the idempotency key."""
    authorization: str | None
    """``A``: absent on refusals and on the CV-Connect leg."""
    payment_type: str | None
    """``P``: ``LIMONETIK`` for every leg of a voucher payment, ``CARTE``..."""
    subscription: str | None
    processing_time: str | None
    processing_date: str | None
    country: str | None
    mixed_index: tuple[int, int] | None
    """``Z`` = (index of this payment, number of payments) of a mixed payment, when given."""
    params: tuple[tuple[str, str], ...]
    """Every signed parameter, decoded, in order."""

    @property
    def amount_decimal(self) -> Decimal:
        """``M`` in euros."""
        return from_minor_units(self.amount)

    @property
    def is_paid(self) -> bool:
        """Whether this leg is paid."""
        return self.outcome is Outcome.PAID

    @property
    def is_limonetik(self) -> bool:
        """Whether this leg belongs to a voucher (LIMONETIK) payment."""
        return self.payment_type == "LIMONETIK" or self.leg is not Leg.CARD


def parse_notification(
    params: Sequence[tuple[str, str]], *, names: Mapping[str, str] = RETOUR_NAMES
) -> Notification:
    """Read already-verified parameters; ``names`` maps returned names to PBX_RETOUR letters.

    Raises :class:`MalformedMessage` when ``M``, ``R`` or ``E`` is missing or ill-formed, or a
    parameter repeats. Never call it on parameters whose signature was not checked.
    """
    by_letter: dict[str, str] = {}
    for name, value in params:
        letter = names.get(name)
        if letter is None:
            continue
        if letter in by_letter:
            msg = f"parameter {name!r} appears twice"
            raise MalformedMessage(msg)
        by_letter[letter] = value

    def optional(letter: str) -> str | None:
        value = by_letter.get(letter)
        return value if value else None

    amount, reference, code = by_letter.get("M"), by_letter.get("R"), by_letter.get("E")
    if amount is None or not _DIGITS.fullmatch(amount):
        msg = "the amount (M) is missing or not a whole number of cents"
        raise MalformedMessage(msg)
    if reference is None:
        msg = "the reference (R) is missing"
        raise MalformedMessage(msg)
    if code is None or not _CODE.fullmatch(code):
        msg = "the result code (E) is missing or not five digits"
        raise MalformedMessage(msg)
    for letter in ("T", "S"):
        number = optional(letter)
        if number is not None and not _DIGITS.fullmatch(number):
            msg = f"{letter} must be digits"
            raise MalformedMessage(msg)

    card_type = optional("C")
    leg = Leg.from_card_type(card_type) if card_type else Leg.CARD
    authorization = optional("A")
    info, bank_code = describe_error_code(code)
    outcome, fr, en = info.outcome, info.fr, info.en
    if outcome is Outcome.PAID and leg is Leg.CARD and authorization is None:
        # For an ordinary card payment, paid also requires an authorization number (protocol
        # §3.5); LIMONETIK legs are exempt (no A on the CV-Connect leg, manual §3.1.11).
        outcome = Outcome.ERROR
        fr = "Paiement carte sans numéro d'autorisation : non validé."
        en = "Card payment without an authorization number: not validated."
    mixed = _MIXED.fullmatch(by_letter.get("Z", ""))
    return Notification(
        amount=int(amount),
        reference=reference,
        error_code=code,
        outcome=outcome,
        bank_code=bank_code,
        message_fr=fr,
        message_en=en,
        leg=leg,
        card_type=card_type,
        numappel=Numappel(t) if (t := optional("T")) else None,
        numtrans=Numtrans(n) if (n := optional("S")) else None,
        authorization=authorization,
        payment_type=optional("P"),
        subscription=optional("B"),
        processing_time=optional("Q"),
        processing_date=optional("W"),
        country=optional("Y"),
        mixed_index=(int(mixed.group(1)), int(mixed.group(2))) if mixed else None,
        params=tuple(params),
    )


def verify_signed(message: SignedMessage, keys: PublicKeys) -> None:
    """Raise :class:`SignatureInvalid` unless the message's signature holds."""
    if not keys.verify(message.data, message.signature):
        msg = "the Up2pay signature does not verify"
        raise SignatureInvalid(msg)


def _first_name(names: Mapping[str, str]) -> str:
    return next(name for name, letter in names.items() if letter != "K")


def verify_ipn(
    raw: str | bytes,
    keys: PublicKeys,
    *,
    first_param: str | None = None,
    signature_param: str | None = None,
    names: Mapping[str, str] = RETOUR_NAMES,
) -> Notification:
    """Verify a raw IPN (query string for GET, body for POST) and read it.

    Signed data starts at ``first_param`` (default: the first name of our PBX_RETOUR, ``M``);
    any of our own parameters before it are dropped. Raises :class:`MalformedMessage` or
    :class:`SignatureInvalid`.
    """
    message = split_signed(
        raw,
        signature_param=signature_param or _signature_name(names),
        first_param=first_param or _first_name(names),
    )
    verify_signed(message, keys)
    return parse_notification(message.params, names=names)


def verify_return(
    raw: str | bytes,
    keys: PublicKeys,
    *,
    signature_param: str | None = None,
    names: Mapping[str, str] = RETOUR_NAMES,
) -> Notification:
    """Verify a browser return's raw query string (all of it is signed) and read it."""
    message = split_signed(raw, signature_param=signature_param or _signature_name(names))
    verify_signed(message, keys)
    return parse_notification(message.params, names=names)


def _signature_name(names: Mapping[str, str]) -> str:
    return next(name for name, letter in names.items() if letter == "K")
