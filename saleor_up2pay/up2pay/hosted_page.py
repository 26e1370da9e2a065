"""The signed ``PBX_*`` form that sends a shopper to the Up2pay hosted payment page.

Protocol §2: the browser posts hidden fields to ``/php/``; ``PBX_HMAC`` is the upper-case hex
HMAC-SHA512, keyed with the hex-decoded back-office key, of ``NAME=value`` pairs joined by ``&``
**in the order of the form fields**, values raw (no URL-encoding, no HTML-escaping). The form is
therefore an ordered list of pairs, end to end.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
import secrets
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from saleor_up2pay.redis_store import KEY_PREFIX, Redis
from saleor_up2pay.up2pay.errors import InvalidPaymentRequest, ProtocolViolation
from saleor_up2pay.up2pay.models import EUR_NUMERIC, Credentials, Method, to_minor_units

__all__ = [
    "ORDER_REFERENCE_RE",
    "PBX_RETOUR",
    "RETOUR_NAMES",
    "BillingAddress",
    "OrderReferences",
    "RedirectForm",
    "ReturnUrls",
    "billing_xml",
    "build_payment_form",
    "compute_hmac",
    "parse_retour",
    "shopping_cart_xml",
]

PBX_RETOUR = "M:M;R:R;T:T;A:A;B:B;C:C;E:E;P:P;Q:Q;S:S;W:W;Y:Y;Z:Z;K:K"
"""The variables we ask Up2pay to return (protocol §3.1 recommendation), named after their letter.

Amount, reference, call number, authorization, subscription, card type, error, payment type,
time, transaction number, date, issuer country, mixed-payment index, and the signature ``K`` last
(variables after ``K`` would be unsigned). Never ``U``: Up2pay refuses voucher payments that ask
for a subscriber token (manual §3.1.7, §3.3.3.2).
"""

_RETOUR_ITEM_RE = re.compile(r"([A-Za-z0-9_]+):([A-Za-z])")


def parse_retour(spec: str) -> Mapping[str, str]:
    """Parse a ``PBX_RETOUR`` spec into ``{returned name: letter}``, checking it is safe to send.

    Raises :class:`ProtocolViolation` if ``U`` is requested, ``K`` is missing or not last, or a
    name/letter repeats — any of these is a bug on our side.
    """
    names: dict[str, str] = {}
    items = spec.split(";")
    for item in items:
        match = _RETOUR_ITEM_RE.fullmatch(item)
        if match is None:
            msg = f"PBX_RETOUR item {item!r} is not 'name:letter'"
            raise ProtocolViolation(msg)
        name, letter = match.groups()
        if letter == "U":
            msg = "PBX_RETOUR must never ask for U: Up2pay refuses voucher payments that do"
            raise ProtocolViolation(msg)
        if name in names or letter in names.values():
            msg = f"PBX_RETOUR repeats {name!r} or letter {letter!r}"
            raise ProtocolViolation(msg)
        names[name] = letter
    if list(names.values()).count("K") != 1 or items[-1].split(":")[1] != "K":
        msg = "PBX_RETOUR must end with the signature K (variables after K are not signed)"
        raise ProtocolViolation(msg)
    return MappingProxyType(names)


RETOUR_NAMES: Mapping[str, str] = parse_retour(PBX_RETOUR)
"""Returned parameter name → PBX_RETOUR letter for :data:`PBX_RETOUR` (identity here)."""


def compute_hmac(fields: Iterable[tuple[str, str]], hex_key: str, algorithm: str = "SHA512") -> str:
    """Upper-case hex HMAC of ``NAME=value&...`` (UTF-8, raw values) with the hex-decoded key."""
    message = "&".join(f"{name}={value}" for name, value in fields).encode("utf-8")
    digest = getattr(hashlib, algorithm.lower())
    return hmac.new(binascii.unhexlify(hex_key), message, digest).hexdigest().upper()


# --- 3-D Secure v2 fields (protocol §2.4, pitfall 16) ------------------------------------------

_XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>'

COUNTRY_NUMERIC: Mapping[str, str] = MappingProxyType(
    {
        "FR": "250",
        "MC": "492",
        "AD": "020",
        "BE": "056",
        "LU": "442",
        "CH": "756",
        "DE": "276",
        "ES": "724",
        "IT": "380",
        "PT": "620",
        "NL": "528",
        "AT": "040",
        "IE": "372",
        "GB": "826",
        "DK": "208",
        "SE": "752",
        "FI": "246",
        "NO": "578",
        "IS": "352",
        "PL": "616",
        "CZ": "203",
        "SK": "703",
        "HU": "348",
        "SI": "705",
        "HR": "191",
        "RO": "642",
        "BG": "100",
        "GR": "300",
        "CY": "196",
        "MT": "470",
        "EE": "233",
        "LV": "428",
        "LT": "440",
        "LI": "438",
        "SM": "674",
        "VA": "336",
        "GP": "312",
        "MQ": "474",
        "GF": "254",
        "RE": "638",
        "YT": "175",
        "PM": "666",
        "BL": "652",
        "MF": "663",
        "NC": "540",
        "PF": "258",
        "WF": "876",
        "TF": "260",
        "US": "840",
        "CA": "124",
        "MA": "504",
        "DZ": "012",
        "TN": "788",
        "SN": "686",
        "CI": "384",
        "CM": "120",
        "JP": "392",
        "CN": "156",
        "AU": "036",
        "BR": "076",
    }
)
"""ISO 3166-1 numeric codes of the countries a French shop bills most; others are sent empty
(an empty ``CountryCode`` is accepted, ``000`` is not)."""

_LIMITS = {"name": 22, "address": 50, "zip": 16, "city": 50}


def _plain(text: str, limit: int) -> str:
    """ASCII letters, digits and spaces only (accents stripped), at most ``limit`` characters."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(ch for ch in decomposed if ch.isascii() and (ch.isalnum() or ch == " "))
    return " ".join(ascii_only.split())[:limit].strip()


@dataclass(frozen=True)
class BillingAddress:
    """The billing address the 3-D Secure v2 card complement needs (``PBX_BILLING``)."""

    first_name: str
    last_name: str
    address1: str
    address2: str
    zip_code: str
    city: str
    country: str
    """ISO 3166-1 alpha-2 code (``FR``); sent as its numeric code."""
    phone: str = ""


def shopping_cart_xml(total_quantity: int) -> str:
    """``PBX_SHOPPINGCART``: the total quantity, which Up2pay accepts from 1 to 99."""
    quantity = max(1, min(99, total_quantity))
    return (
        f"{_XML_HEAD}<shoppingcart><total><totalQuantity>{quantity}</totalQuantity></total>"
        "</shoppingcart>"
    )


def _national_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    return digits if re.fullmatch(r"0[1-9][0-9]{8}", digits) else ""


def billing_xml(address: BillingAddress) -> str:
    """``PBX_BILLING``: escaped, ASCII-only XML with the numeric country code."""

    def tag(name: str, value: str) -> str:
        return f"<{name}>{escape(value)}</{name}>"

    parts = [
        tag("FirstName", _plain(address.first_name, _LIMITS["name"])),
        tag("LastName", _plain(address.last_name, _LIMITS["name"])),
        tag("Address1", _plain(address.address1, _LIMITS["address"])),
        tag("Address2", _plain(address.address2, _LIMITS["address"])),
        tag("ZipCode", _plain(address.zip_code, _LIMITS["zip"])),
        tag("City", _plain(address.city, _LIMITS["city"])),
        tag("CountryCode", COUNTRY_NUMERIC.get(address.country.upper(), "")),
    ]
    phone = _national_phone(address.phone)
    if phone:
        parts += [tag("CountryCodeMobilePhone", "+33"), tag("MobilePhone", phone)]
    return f"{_XML_HEAD}<Billing><Address>{''.join(parts)}</Address></Billing>"


@dataclass(frozen=True)
class ReturnUrls:
    """Where Up2pay sends the browser back (four outcomes) and the IPN (``PBX_REPONDRE_A``)."""

    accepted: str
    refused: str
    cancelled: str
    pending: str
    ipn: str


@dataclass(frozen=True)
class RedirectForm:
    """A form the shopper's browser posts to Up2pay: fields in the exact order they were signed."""

    action_url: str
    fields: tuple[tuple[str, str], ...]
    method: Literal["POST"] = "POST"

    def field(self, name: str) -> str:
        """The value of one field (KeyError if absent)."""
        for key, value in self.fields:
            if key == name:
                return value
        raise KeyError(name)

    def to_json(self) -> dict[str, object]:
        """JSON-ready form; ``fields`` is a list of ``[name, value]`` pairs so order survives."""
        return {
            "action": self.action_url,
            "method": self.method,
            "fields": [[name, value] for name, value in self.fields],
        }


ORDER_REFERENCE_RE = re.compile(r"[A-Za-z0-9-]{1,20}")
"""``PBX_CMD``: 1–20 characters for Conecs and CV-Connect (manual §3.1.6, §3.2.5), kept to a safe
alphabet so it is returned unchanged in ``R`` (protocol §6.7)."""

_LANGUAGES = frozenset({"FRA", "GBR", "ESP", "ITA", "DEU", "NLD", "SWE", "PRT"})
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        msg = f"{name} must be an absolute http(s) URL, got {url!r}"
        raise InvalidPaymentRequest(msg)
    return url


def build_payment_form(
    *,
    credentials: Credentials,
    action_url: str,
    method: Method,
    amount: Decimal,
    currency: str,
    order_reference: str,
    customer_email: str,
    urls: ReturnUrls,
    now: datetime,
    language: str | None = "FRA",
    ipn_method: Literal["GET", "POST"] | None = "POST",
    authorize_only: bool = False,
    sign_keysize: Literal[1024, 2048] | None = None,
    retour: str = PBX_RETOUR,
    shopping_cart: int | None = None,
    billing: BillingAddress | None = None,
) -> RedirectForm:
    """The signed form for a voucher payment of ``amount`` euros with ``method``.

    Raises :class:`UnsupportedCurrency` for anything but euros, :class:`InvalidAmount` for
    sub-cent or non-positive amounts, :class:`InvalidPaymentRequest` for a bad reference, e-mail,
    URL or language, :class:`ProtocolViolation` if ``retour`` asks for ``U`` or ends without ``K``.
    ``ipn_method="POST"`` sets ``PBX_RUF1=POST`` (IPN variables in the body); None leaves the
    platform default (GET). ``authorize_only=True`` sends ``PBX_AUTOSEULE=O`` (authorization only,
    to be captured later with GAE 00002); ``sign_keysize=2048`` sends ``PBX_SIGN_KEYSIZE=2048`` so
    notifications are signed with the 2048-bit key (protocol §3.6). ``shopping_cart`` (the total
    quantity) and ``billing`` add ``PBX_SHOPPINGCART`` and ``PBX_BILLING``, the XML fields 3-D
    Secure v2 needs for the card complement (protocol §2.4), signed like the others.
    """
    total = to_minor_units(amount, currency)
    method = Method(method)
    parse_retour(retour)
    if not ORDER_REFERENCE_RE.fullmatch(order_reference):
        msg = f"PBX_CMD {order_reference!r} must be 1 to 20 characters from [A-Za-z0-9-]"
        raise InvalidPaymentRequest(msg)
    if not (6 <= len(customer_email) <= 120 and _EMAIL_RE.fullmatch(customer_email)):
        msg = "PBX_PORTEUR must be the customer's e-mail address (6 to 120 characters)"
        raise InvalidPaymentRequest(msg)
    if now.tzinfo is None or now.utcoffset() is None:
        msg = "PBX_TIME needs a timezone-aware datetime"
        raise InvalidPaymentRequest(msg)
    if language is not None and language not in _LANGUAGES:
        msg = f"PBX_LANGUE {language!r} is not one of {', '.join(sorted(_LANGUAGES))}"
        raise InvalidPaymentRequest(msg)
    fields: list[tuple[str, str]] = [
        ("PBX_SITE", credentials.site),
        ("PBX_RANG", credentials.rang),
        ("PBX_IDENTIFIANT", credentials.identifiant),
        ("PBX_TOTAL", f"{total:03d}"),
        ("PBX_DEVISE", EUR_NUMERIC),
        ("PBX_CMD", order_reference),
        ("PBX_PORTEUR", customer_email),
        ("PBX_RETOUR", retour),
        ("PBX_HASH", "SHA512"),
        ("PBX_TIME", now.isoformat(timespec="seconds")),
        ("PBX_EFFECTUE", _check_url("PBX_EFFECTUE", urls.accepted)),
        ("PBX_REFUSE", _check_url("PBX_REFUSE", urls.refused)),
        ("PBX_ANNULE", _check_url("PBX_ANNULE", urls.cancelled)),
        ("PBX_ATTENTE", _check_url("PBX_ATTENTE", urls.pending)),
        ("PBX_REPONDRE_A", _check_url("PBX_REPONDRE_A", urls.ipn)),
    ]
    if ipn_method is not None:
        fields.append(("PBX_RUF1", ipn_method))
    if language is not None:
        fields.append(("PBX_LANGUE", language))
    fields += [("PBX_TYPEPAIEMENT", "LIMONETIK"), ("PBX_TYPECARTE", method.value)]
    if authorize_only:
        fields.append(("PBX_AUTOSEULE", "O"))
    if sign_keysize is not None:
        fields.append(("PBX_SIGN_KEYSIZE", str(sign_keysize)))
    if shopping_cart is not None:
        fields.append(("PBX_SHOPPINGCART", shopping_cart_xml(shopping_cart)))
    if billing is not None:
        fields.append(("PBX_BILLING", billing_xml(billing)))
    # Keep every value ASCII: the HMAC is over the bytes the browser submits, and non-ASCII
    # values make that depend on the page encoding (protocol §2.5 point 5).
    for name, value in fields:
        if not value.isascii() or any(ch in value for ch in "\r\n\x00"):
            msg = f"{name} must be plain ASCII text on one line"
            raise InvalidPaymentRequest(msg)
    fields.append(("PBX_HMAC", compute_hmac(fields, credentials.hmac_key)))
    return RedirectForm(action_url=_check_url("action_url", action_url), fields=tuple(fields))


_REF_ALPHABET = string.ascii_letters + string.digits


class OrderReferences:
    """Generates ``PBX_CMD`` values unique across processes (Redis ``SET NX``).

    Keys are global (not per Saleor instance) because a reference must be unique for the Up2pay
    account whichever instance uses it; they only hold a marker and expire after ``ttl_seconds``.
    """

    def __init__(self, redis: Redis, *, ttl_seconds: int = 400 * 24 * 3600) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    @staticmethod
    def key(reference: str) -> str:
        """Redis key reserving one reference."""
        return f"{KEY_PREFIX}pbx_cmd:{reference}"

    async def reserve(self, reference: str) -> bool:
        """Reserve ``reference``; False if it was already taken. Raises on an invalid format."""
        if not ORDER_REFERENCE_RE.fullmatch(reference):
            msg = f"PBX_CMD {reference!r} must be 1 to 20 characters from [A-Za-z0-9-]"
            raise InvalidPaymentRequest(msg)
        return bool(await self._redis.set(self.key(reference), "1", nx=True, ex=self._ttl))

    async def new(self, prefix: str = "", *, attempts: int = 8) -> str:
        """A fresh reserved reference of 20 characters starting with ``prefix`` (≤ 8 characters)."""
        if len(prefix) > 8 or (prefix and not ORDER_REFERENCE_RE.fullmatch(prefix)):
            msg = "the PBX_CMD prefix must be at most 8 characters from [A-Za-z0-9-]"
            raise InvalidPaymentRequest(msg)
        for _ in range(attempts):
            suffix = "".join(secrets.choice(_REF_ALPHABET) for _ in range(20 - len(prefix)))
            candidate = prefix + suffix
            if await self.reserve(candidate):
                return candidate
        msg = "could not find a free PBX_CMD"  # 62^12+ space: only reachable if Redis misbehaves
        raise ProtocolViolation(msg)
