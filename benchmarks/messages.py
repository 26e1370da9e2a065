"""Signed requests written to files before any timing starts (wrk's Lua script replays them).

File format (one request per line, TAB-separated): method, path, body, then ``Name: value``
headers. Bodies and headers here never contain a TAB or a newline (URL-encoded IPNs, compact JSON,
base64url signatures), which :func:`write_requests` checks.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

APP_ID = "QXBwOjEz"
IPN_PATH = "/api/up2pay/ipn"
INITIALIZE_PATH = "/api/webhooks/transaction-initialize-session"
PROCESS_PATH = "/api/webhooks/transaction-process-session"
BARE_PATH = "/bare"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        parts = [self.method, self.path, self.body.decode()]
        parts += [f"{name}: {value}" for name, value in self.headers.items()]
        for part in parts:
            if "\t" in part or "\n" in part or "\r" in part:
                msg = f"a request field holds a TAB or newline: {part[:60]!r}"
                raise ValueError(msg)
        return "\t".join(parts)


def write_requests(path: Path, requests: Iterable[Request]) -> int:
    """Write ``requests`` one per line; returns how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for request in requests:
            out.write(request.line() + "\n")
            count += 1
    return count


def read_requests(path: Path) -> list[Request]:
    """Read a file written by :func:`write_requests` (the way the Lua script splits it)."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line:
            continue
        method, target, body, *headers = line.split("\t")
        pairs = dict(h.split(": ", 1) for h in headers)
        found.append(Request(method, target, body.encode(), pairs))
    return found


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SaleorSigner:
    """Signs webhook bodies like Saleor (detached JWS, RS256, 2048-bit key, ``b64: false``)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        self.kid = "bench-key"
        self.jwks = json.dumps(
            {
                "keys": [
                    {
                        "kty": "RSA",
                        "use": "sig",
                        "alg": "RS256",
                        "kid": self.kid,
                        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                        "e": b64url(numbers.e.to_bytes(3, "big")),
                    }
                ]
            }
        )
        header = {"alg": "RS256", "b64": False, "crit": ["b64"], "kid": self.kid, "typ": "JWT"}
        self._header = b64url(json.dumps(header, separators=(",", ":")).encode())

    def sign(self, body: bytes) -> str:
        signature = self.key.sign(
            self._header.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{self._header}..{b64url(signature)}"


class Up2paySigner:
    """Signs IPNs like Up2pay (RSA PKCS#1 v1.5 / SHA-1 over the variables, ``K`` last)."""

    def __init__(self, folder: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        self.pem_path = folder / "bench-ipn-pubkey.pem"
        self.pem_path.write_bytes(
            self.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def ipn(self, reference: str, numtrans: int, amount_cents: int = 1510) -> Request:
        """A signed POST IPN: an accepted APETIZ leg of ``reference`` with transaction ``S``."""
        data = (
            f"M={amount_cents}&R={reference}&T=0014123450&A=XXXXXX&B=0&C=APETIZ&E=00000"
            f"&P=LIMONETIK&Q=12:00:00&S={numtrans}&W=26112026&Y=FRA"
        )
        signature = self.key.sign(data.encode(), padding.PKCS1v15(), hashes.SHA1())
        body = f"{data}&K={quote(base64.b64encode(signature).decode(), safe='')}".encode()
        return Request("POST", IPN_PATH, body, {"Content-Type": FORM})


def webhook(
    signer: SaleorSigner, path: str, event: str, saleor_api_url: str, payload: dict[str, Any]
) -> Request:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Request(
        "POST",
        path,
        body,
        {
            "Content-Type": "application/json",
            "Saleor-Event": event,
            "Saleor-Domain": "127.0.0.1",
            "Saleor-Api-Url": saleor_api_url,
            "Saleor-Signature": signer.sign(body),
        },
    )


def _source(index: int) -> dict[str, Any]:
    checkout_id = base64.b64encode(f"Checkout:{uuid.uuid4()}".encode()).decode()
    return {
        "__typename": "Checkout",
        "id": checkout_id,
        "email": f"shopper{index}@example.fr",
        "channel": {"slug": "channel-eur", "currencyCode": "EUR"},
        "totalPrice": {"gross": {"amount": 44.8, "currency": "EUR"}},
        "billingAddress": {
            "firstName": "Camille",
            "lastName": "Martin",
            "streetAddress1": "10 rue de Rivoli",
            "city": "PARIS",
            "postalCode": "75004",
            "country": {"code": "FR"},
        },
        "lines": [],
    }


def initialize_delivery(signer: SaleorSigner, saleor_api_url: str, index: int) -> Request:
    """A signed TRANSACTION_INITIALIZE_SESSION with its own idempotency key and item."""
    token = str(uuid.uuid4())
    item_id = base64.b64encode(f"TransactionItem:{token}".encode()).decode()
    payload = {
        "version": "3.23.28",
        "recipient": {"id": APP_ID},
        "issuingPrincipal": None,
        "idempotencyKey": str(uuid.uuid4()),
        "merchantReference": item_id,
        "customerIpAddress": "127.0.0.1",
        "data": {"method": "APETIZ", "returnUrl": "https://shop.example/checkout"},
        "action": {"amount": 20.0, "currency": "EUR", "actionType": "CHARGE"},
        "transaction": {
            "id": item_id,
            "token": token,
            "pspReference": "",
            "createdAt": "2026-11-26T15:15:17.178322+00:00",
        },
        "sourceObject": _source(index),
    }
    return webhook(
        signer, INITIALIZE_PATH, "transaction_initialize_session", saleor_api_url, payload
    )


def process_delivery(
    signer: SaleorSigner, saleor_api_url: str, transaction_id: str, index: int
) -> Request:
    """A signed TRANSACTION_PROCESS_SESSION for a stored session's transaction item."""
    payload = {
        "version": "3.23.28",
        "recipient": {"id": APP_ID},
        "issuingPrincipal": None,
        "merchantReference": transaction_id,
        "customerIpAddress": "127.0.0.1",
        "data": None,
        "action": {"amount": 15.1, "currency": "EUR", "actionType": "CHARGE"},
        "transaction": {
            "id": transaction_id,
            "token": str(uuid.uuid4()),
            "pspReference": "",
            "createdAt": "2026-11-26T15:15:17.178322+00:00",
        },
        "sourceObject": _source(index),
    }
    return webhook(signer, PROCESS_PATH, "transaction_process_session", saleor_api_url, payload)


def bare_requests(model: Sequence[Request]) -> list[Request]:
    """The same bodies and headers, sent to the bare endpoint."""
    return [Request(r.method, BARE_PATH, r.body, r.headers) for r in model]
