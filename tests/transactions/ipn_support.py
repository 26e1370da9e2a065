"""Helpers for the IPN tests: an Up2pay-like signer, sessions, and a fake Saleor with the app's auth."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from saleor_up2pay.saleor.apl import AuthData
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.sessions import PaymentSession, SessionRepository
from tests.fakes.fake_saleor import FakeSaleor, running
from tests.fakes.fake_saleor_transactions import Checkout, Order, SaleorTransactions


@cache
def _signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def write_public_key(folder: Path) -> Path:
    """Write the test signer's public key (what UP2PAY_PUBLIC_KEYS would list); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "test-ipn-pubkey.pem"
    path.write_bytes(
        _signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


def signed_ipn(values: list[tuple[str, str]], *, prefix: str = "") -> bytes:
    """A raw IPN as Up2pay sends it: the variables, then ``K`` = SHA-1 RSA signature of them."""
    data = "&".join(f"{name}={quote(value, safe='@/:')}" for name, value in values)
    signature = _signing_key().sign(data.encode(), padding.PKCS1v15(), hashes.SHA1())
    k = quote(base64.b64encode(signature).decode(), safe="")
    raw = f"{data}&K={k}"
    return (f"{prefix}&{raw}" if prefix else raw).encode()


def ipn_values(
    reference: str,
    *,
    amount_cents: int,
    card: str = "APETIZ",
    numtrans: str = "722487980",
    numappel: str = "0014123450",
    error: str = "00000",
    authorization: str | None = "XXXXXX",
) -> list[tuple[str, str]]:
    """The PBX_RETOUR variables of one leg, in the app's PBX_RETOUR order."""
    values = [("M", str(amount_cents)), ("R", reference), ("T", numappel)]
    if authorization and error == "00000":
        values.append(("A", authorization))
    values += [
        ("B", "0"),
        ("C", card),
        ("E", error),
        ("P", "LIMONETIK"),
        ("Q", "15:15:17"),
        ("S", numtrans),
        ("W", "26112026"),
        ("Y", "FRA"),
    ]
    return values


def ipn(reference: str, **kwargs: object) -> bytes:
    """A signed IPN for one leg (see :func:`ipn_values`)."""
    return signed_ipn(ipn_values(reference, **kwargs))  # type: ignore[arg-type]


@dataclass
class SaleorWorld:
    """A fake Saleor on loopback with transaction keeping, and the app installed in it."""

    fake: FakeSaleor
    saleor: SaleorTransactions

    @property
    def api_url(self) -> str:
        return self.fake.api_url


@contextmanager
def saleor_world() -> Iterator[SaleorWorld]:
    with running() as fake:
        yield SaleorWorld(fake, SaleorTransactions(fake))


async def install_auth(services: Services, world: SaleorWorld) -> None:
    """Store the app's auth for the fake (as the register call would)."""
    token, app_id = world.fake.issue_token()
    await services.auth_store.set(AuthData(world.api_url, token, app_id, world.fake.jwks_text()))


async def new_session(
    services: Services,
    world: SaleorWorld,
    *,
    total: str = "44.80",
    method: str = "APETIZ",
    action_type: str = "CHARGE",
    reference: str | None = None,
    on_order: bool = False,
    created_at: datetime | None = None,
) -> PaymentSession:
    """A checkout (or order) with an initialized voucher item, and the app's session for it."""
    source: Order | Checkout
    if on_order:
        source = world.saleor.create_order(total)
        source_type = "Order"
    else:
        source = world.saleor.create_checkout(total)
        source_type = "Checkout"
    item = world.saleor.seed_initialized_item(source.id, total, flow=action_type)
    session = PaymentSession(
        reference=reference or "U" + item.token.replace("-", "")[:19],
        saleor_api_url=world.api_url,
        transaction_id=item.id,
        source_type=source_type,
        source_id=source.id,
        channel="channel-eur",
        method=method,
        amount=Decimal(total),
        currency="EUR",
        action_type=action_type,
        return_url="https://shop.example/checkout",
        config_id="default",
        environment="sandbox",
        idempotency_key=item.idempotency_key or "key",
        created_at=created_at or datetime.now(UTC),
    )
    await SessionRepository(services.redis).save(session)
    return session
