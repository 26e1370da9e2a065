"""Test-side Up2pay helpers, written independently of both the sandbox and the app.

HMAC per protocol §2.5 and RSA/SHA-1 signature checks per §3.3, with ``hmac`` and ``cryptography``
directly, so a sandbox test never trusts the code it is testing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import parse_qsl, unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

TEST_KEY = "0123456789ABCDEF" * 8
RETOUR = "M:M;R:R;T:T;A:A;B:B;C:C;E:E;P:P;Q:Q;S:S;W:W;Y:Y;Z:Z;K:K"
SHOP = "http://shop.test"


def sign_fields(fields: list[tuple[str, str]], key: str = TEST_KEY) -> list[tuple[str, str]]:
    """Append PBX_HMAC computed over the fields in order (upper-case hex HMAC-SHA512)."""
    message = "&".join(f"{n}={v}" for n, v in fields).encode("utf-8")
    digest = hmac.new(binascii.unhexlify(key), message, hashlib.sha512).hexdigest().upper()
    return [*fields, ("PBX_HMAC", digest)]


def payment_fields(
    *,
    cmd: str = "CMD-0001",
    total: str = "1500",
    card: str = "APETIZ",
    sign: bool = True,
    drop: tuple[str, ...] = (),
    extra: tuple[tuple[str, str], ...] = (),
    key: str = TEST_KEY,
    **overrides: str,
) -> list[tuple[str, str]]:
    """A Conecs/CV-Connect hosted-page form for the public test account."""
    fields = [
        ("PBX_SITE", "1999888"),
        ("PBX_RANG", "32"),
        ("PBX_IDENTIFIANT", "107904482"),
        ("PBX_TOTAL", total),
        ("PBX_DEVISE", "978"),
        ("PBX_CMD", cmd),
        ("PBX_PORTEUR", "shopper@example.com"),
        ("PBX_RETOUR", RETOUR),
        ("PBX_HASH", "SHA512"),
        ("PBX_TIME", "2025-06-08T16:21:16+02:00"),
        ("PBX_EFFECTUE", f"{SHOP}/return/ok?order=42"),
        ("PBX_REFUSE", f"{SHOP}/return/refused?order=42"),
        ("PBX_ANNULE", f"{SHOP}/return/cancelled?order=42"),
        ("PBX_ATTENTE", f"{SHOP}/return/pending?order=42"),
        ("PBX_REPONDRE_A", f"{SHOP}/ipn?cfg=abc"),
        ("PBX_TYPEPAIEMENT", "LIMONETIK"),
        ("PBX_TYPECARTE", card),
    ]
    known = {n for n, _ in fields}
    fields = [(n, overrides.get(n, v)) for n, v in fields if n not in drop]
    # Overrides of fields the base form lacks are added, in order, after it.
    fields.extend((n, v) for n, v in overrides.items() if n not in known)
    fields.extend(extra)
    return sign_fields(fields, key) if sign else fields


def gae_fields(
    operation: str,
    *,
    question: int,
    numtrans: int | str,
    numappel: int | str | None,
    amount: int | None = None,
    acquirer: str | None = None,
    reference: str | None = "CMD-0001",
    dateq: str = "08042025",
    sign: bool = True,
    key: str = TEST_KEY,
    **overrides: str,
) -> list[tuple[str, str]]:
    """A GAE request (protocol §4.2) in the manual's order, HMAC last."""
    fields = [
        ("VERSION", "00104"),
        ("TYPE", operation),
        ("SITE", "1999888"),
        ("RANG", "032"),
        ("NUMQUESTION", f"{question:010d}"),
    ]
    if amount is not None:
        fields += [("MONTANT", f"{amount:010d}"), ("DEVISE", "978")]
    if reference is not None:
        fields.append(("REFERENCE", reference))
    if numappel is not None:
        fields.append(("NUMAPPEL", f"{int(numappel):010d}"))
    fields += [("NUMTRANS", f"{int(numtrans):010d}"), ("ACTIVITE", "024"), ("DATEQ", dateq)]
    if acquirer is not None:
        fields.append(("ACQUEREUR", acquirer))
    fields.append(("HASH", "SHA512"))
    fields = [(n, overrides.get(n, v)) for n, v in fields]
    if not sign:
        return fields
    message = "&".join(f"{n}={v}" for n, v in fields).encode("utf-8")
    digest = hmac.new(binascii.unhexlify(key), message, hashlib.sha512).hexdigest().upper()
    return [*fields, ("HMAC", digest)]


def parse_gae(body: bytes) -> dict[str, str]:
    """GAE answer: Latin-1, split on & then on the first = (no URL-decoding, protocol §4.5)."""
    text = body.decode("iso-8859-1")
    return dict(pair.split("=", 1) for pair in text.split("&"))


def verify(raw: str, pem: bytes, signature_name: str = "K", *, skip_prefix: str = "") -> bool:
    """RSA PKCS#1 v1.5 / SHA-1 check on the raw query exactly as received (protocol §3.3)."""
    if skip_prefix:
        if not raw.startswith(skip_prefix):
            return False
        raw = raw[len(skip_prefix) :]
    marker = f"&{signature_name}="
    position = raw.rfind(marker)
    if position < 0:
        return False
    data, signature = raw[:position], raw[position + len(marker) :]
    if "&" in signature:
        return False
    key = load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(
            base64.b64decode(unquote(signature)),
            data.encode("utf-8"),
            padding.PKCS1v15(),
            hashes.SHA1(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def signature_length(raw: str, signature_name: str = "K") -> int:
    return len(base64.b64decode(unquote(raw.rsplit(f"&{signature_name}=", 1)[1])))


def params(raw: str) -> list[tuple[str, str]]:
    return parse_qsl(raw, keep_blank_values=True)
