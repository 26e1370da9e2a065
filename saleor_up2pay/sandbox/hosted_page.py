"""Checks of a hosted-page request (``/php/``), as Up2pay makes them before showing its page.

Rules and codes from the protocol notes §2.2 (field dictionary), §2.5 (HMAC), §3.5 (error codes)
and the manual §3.1.6-§3.1.7 (PBX_CMD 1-20 characters, no ``U`` in PBX_RETOUR). Where the notes
give no error code for a check, the sandbox answers 00002 ("Erreur de paramètres").
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from saleor_up2pay.sandbox.config import SandboxAccount
from saleor_up2pay.sandbox.protocol import (
    EUR,
    HASH_ALGORITHMS,
    VOUCHER_CARD_TYPES,
    RetourVariable,
    compute_hmac,
    hmac_matches,
    parse_retour,
)

LANGUAGES = frozenset({"FRA", "GBR", "ESP", "ITA", "DEU", "NLD", "SWE", "PRT"})
# Kept to what the notes advise for Conecs/CV-Connect (protocol §2.2, pitfall 7).
ORDER_REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,20}")


class HostedPageError(Exception):
    """A request the hosted page refuses: ``code`` is Up2pay's, ``message`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ReturnUrls:
    accepted: str | None
    refused: str | None
    cancelled: str | None
    pending: str | None
    ipn: str | None


@dataclass(frozen=True)
class PaymentRequest:
    """A hosted-page request that passed every check."""

    account: SandboxAccount
    fields: tuple[tuple[str, str], ...]
    total: int
    reference: str
    email: str
    card_type: str
    retour: tuple[RetourVariable, ...]
    urls: ReturnUrls
    ipn_method: str
    authorize_only: bool
    deferred_days: int
    signature_bits: int
    language: str


def _refuse(code: str, message: str) -> HostedPageError:
    return HostedPageError(code, message)


def _find_account(
    fields: Mapping[str, str], accounts: Mapping[tuple[str, int], SandboxAccount]
) -> SandboxAccount:
    site = fields.get("PBX_SITE", "")
    rang = fields.get("PBX_RANG", "")
    identifiant = fields.get("PBX_IDENTIFIANT", "")
    if not (
        re.fullmatch(r"\d{7}", site)
        and re.fullmatch(r"\d{2,3}", rang)
        and re.fullmatch(r"\d{1,9}", identifiant)
    ):
        raise _refuse("00006", "PBX_SITE (7 digits), PBX_RANG (2-3) or PBX_IDENTIFIANT (1-9) bad")
    account = accounts.get((site, int(rang)))
    if account is None or int(account.identifiant) != int(identifiant):
        raise _refuse("00006", "unknown SITE/RANG/IDENTIFIANT")
    return account


def _check_hmac(pairs: list[tuple[str, str]], fields: Mapping[str, str], key: str) -> None:
    algorithm = fields.get("PBX_HASH", "")
    if algorithm not in HASH_ALGORITHMS:
        raise _refuse("00006", f"PBX_HASH must be one of {', '.join(HASH_ALGORITHMS)}")
    received = fields.get("PBX_HMAC", "")
    signed = [(name, value) for name, value in pairs if name != "PBX_HMAC"]
    if not received or not hmac_matches(received, compute_hmac(signed, key, algorithm)):
        raise _refuse("00006", "PBX_HMAC does not match the fields in the order received")


def _absolute_url(fields: Mapping[str, str], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise _refuse("00002", f"{name} must be an absolute http(s) URL")
    return value


def _check_order_fields(fields: Mapping[str, str]) -> tuple[int, str, tuple[RetourVariable, ...]]:
    """Mandatory fields: amount, currency, reference, e-mail, PBX_RETOUR, time."""
    for mandatory in (
        "PBX_TOTAL",
        "PBX_DEVISE",
        "PBX_CMD",
        "PBX_PORTEUR",
        "PBX_RETOUR",
        "PBX_TIME",
    ):
        if not fields.get(mandatory):
            raise _refuse("00002", f"{mandatory} is mandatory")
    total_text = fields["PBX_TOTAL"]
    if not re.fullmatch(r"\d{1,10}", total_text) or int(total_text) <= 0:
        raise _refuse("00011", "PBX_TOTAL must be a positive amount in cents, digits only")
    if not re.fullmatch(r"\d{3}", fields["PBX_DEVISE"]):
        raise _refuse("00010", "PBX_DEVISE must be an ISO 4217 numeric code")
    if fields["PBX_DEVISE"] != EUR:
        raise _refuse("00010", "Conecs and CV-Connect take euros only (PBX_DEVISE=978)")
    if not ORDER_REFERENCE.fullmatch(fields["PBX_CMD"]):
        raise _refuse(
            "00012", "PBX_CMD must have 1 to 20 characters (A-Z, a-z, 0-9, '-', '_') for Conecs"
        )
    email = fields["PBX_PORTEUR"]
    if not (6 <= len(email) <= 120 and "@" in email and "." in email):
        raise _refuse("00002", "PBX_PORTEUR must be an e-mail address of 6 to 120 characters")
    try:
        retour = parse_retour(fields["PBX_RETOUR"])
    except ValueError as exc:
        raise _refuse("00002", str(exc)) from None
    if any(v.letter == "U" for v in retour):
        raise _refuse(
            "00009", "Conecs / CV-Connect: PBX_RETOUR must not ask for a subscriber token (U)"
        )
    try:
        moment = datetime.fromisoformat(fields["PBX_TIME"])
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _refuse(
            "00002", "PBX_TIME must be ISO 8601 with an offset, e.g. 2015-06-08T16:21:16+02:00"
        )
    return int(total_text), email, retour


def _check_card_type(fields: Mapping[str, str]) -> str:
    payment_type = fields.get("PBX_TYPEPAIEMENT")
    card_type = fields.get("PBX_TYPECARTE")
    if (payment_type is None) != (card_type is None):
        raise _refuse("00002", "PBX_TYPEPAIEMENT and PBX_TYPECARTE go together")
    if payment_type != "LIMONETIK" or card_type not in VOUCHER_CARD_TYPES:
        raise _refuse(
            "00021",
            "the sandbox plays PBX_TYPEPAIEMENT=LIMONETIK with PBX_TYPECARTE="
            + "|".join(VOUCHER_CARD_TYPES),
        )
    return str(card_type)


_XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'
_BILLING_TEXT = re.compile(r"[A-Za-z0-9 ]*")
_BILLING_LIMITS = {
    "FirstName": 22,
    "LastName": 22,
    "Address1": 50,
    "Address2": 50,
    "ZipCode": 16,
    "City": 50,
}


def _xml(fields: Mapping[str, str], name: str, root: str) -> ET.Element | None:
    value = fields.get(name)
    if value is None:
        return None
    if not value.startswith(_XML_DECLARATION):
        raise _refuse("00002", f"{name} must start with {_XML_DECLARATION}")
    try:
        # Plain ElementTree: the value is 3-D Secure data we generated in the tests, no DTDs.
        element = ET.fromstring(value.removeprefix(_XML_DECLARATION))  # noqa: S314
    except ET.ParseError as exc:
        raise _refuse("00002", f"{name} is not well-formed XML: {exc}") from None
    if element.tag != root:
        raise _refuse("00002", f"{name}'s root element must be <{root}>")
    return element


def _check_3ds_fields(fields: Mapping[str, str]) -> None:
    """PBX_SHOPPINGCART and PBX_BILLING as the 3-D Secure v2 page reads them (§2.4, pitfall 16)."""
    cart = _xml(fields, "PBX_SHOPPINGCART", "shoppingcart")
    if cart is not None:
        quantity = cart.findtext("total/totalQuantity") or ""
        if not quantity.isdigit() or not 1 <= int(quantity) <= 99:
            raise _refuse("00002", "PBX_SHOPPINGCART totalQuantity must be an integer from 1 to 99")
    billing = _xml(fields, "PBX_BILLING", "Billing")
    if billing is not None:
        address = billing.find("Address")
        if address is None:
            raise _refuse("00002", "PBX_BILLING needs an <Address>")
        for tag, limit in _BILLING_LIMITS.items():
            text = address.findtext(tag) or ""
            if len(text) > limit or not _BILLING_TEXT.fullmatch(text):
                raise _refuse(
                    "00002", f"PBX_BILLING {tag}: at most {limit} letters, digits or spaces"
                )
        country = address.findtext("CountryCode") or ""
        if country and (not re.fullmatch(r"[0-9]{3}", country) or country == "000"):
            raise _refuse("00002", "PBX_BILLING CountryCode must be an ISO 3166-1 numeric code")


def _check_choice(fields: Mapping[str, str], name: str, default: str, allowed: set[str]) -> str:
    value = fields.get(name, default)
    if value not in allowed:
        raise _refuse("00002", f"{name} must be one of {', '.join(sorted(allowed))}")
    return value


def validate_payment_request(
    pairs: list[tuple[str, str]], accounts: Mapping[tuple[str, int], SandboxAccount]
) -> PaymentRequest:
    """Check a request in the order Up2pay does: identity, HMAC, then each field."""
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise _refuse("00002", "a field is sent twice")
    fields = dict(pairs)
    account = _find_account(fields, accounts)
    _check_hmac(pairs, fields, account.hmac_key)
    total, email, retour = _check_order_fields(fields)
    card_type = _check_card_type(fields)
    _check_3ds_fields(fields)
    urls = ReturnUrls(
        accepted=_absolute_url(fields, "PBX_EFFECTUE"),
        refused=_absolute_url(fields, "PBX_REFUSE"),
        cancelled=_absolute_url(fields, "PBX_ANNULE"),
        pending=_absolute_url(fields, "PBX_ATTENTE"),
        ipn=_absolute_url(fields, "PBX_REPONDRE_A"),
    )
    ipn_method = _check_choice(fields, "PBX_RUF1", "GET", {"GET", "POST"})
    language = _check_choice(fields, "PBX_LANGUE", "FRA", set(LANGUAGES))
    _check_choice(fields, "PBX_SOURCE", "RWD", {"RWD", "XHTML", "HTML"})
    authorize_only = _check_choice(fields, "PBX_AUTOSEULE", "N", {"O", "N"})
    deferred = _check_choice(fields, "PBX_DIFF", "00", {f"0{d}" for d in range(8)})
    key_size = _check_choice(fields, "PBX_SIGN_KEYSIZE", "1024", {"1024", "2048"})
    return PaymentRequest(
        account=account,
        fields=tuple(pairs),
        total=total,
        reference=fields["PBX_CMD"],
        email=email,
        card_type=card_type,
        retour=retour,
        urls=urls,
        ipn_method=ipn_method,
        authorize_only=authorize_only == "O",
        deferred_days=int(deferred),
        signature_bits=int(key_size),
        language=language,
    )
