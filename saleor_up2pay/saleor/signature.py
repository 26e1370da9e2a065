"""Saleor's signatures: detached JWS on webhooks and RS256 dashboard tokens, checked with the JWKS.

Webhooks carry ``Saleor-Signature: <b64url(header)>..<b64url(signature)>``, a detached JWS with
``{"alg": "RS256", "b64": false, "crit": ["b64"], "kid": ...}``: per RFC 7797 the signing input is
``b64url(header) + "." + <raw body bytes>``. The algorithm is pinned to RS256 whatever the header
says, and the key is chosen by ``kid`` in the JWKS stored at registration.

Saleor has one signing key; rotating it changes the ``kid`` (an RFC 7638 thumbprint). On an
unknown ``kid`` or a bad signature the verifier fetches ``<origin>/.well-known/jwks.json`` once,
retries, and persists the new set when it verifies. Refetches are rate-limited per instance so
forged requests cannot make the app hammer Saleor; a request refused by that limit still retries
with whatever JWKS a concurrent request just stored.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import jwt
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from saleor_up2pay.redis_store import instance_key
from saleor_up2pay.saleor.apl import AuthData, AuthStore

log = structlog.get_logger(__name__)

ALGORITHM = "RS256"
MIN_KEY_BITS = 2048
JWKS_PATH = "/.well-known/jwks.json"
DASHBOARD_TOKEN_LEEWAY_SECONDS = 10
T = TypeVar("T")


class SignatureInvalid(Exception):
    """A signature or token did not verify. The message is for logs, never for the caller."""


class JwksUnavailable(Exception):
    """Saleor's JWKS could not be fetched or holds no usable RS256 key."""


class _KeyMissing(SignatureInvalid):
    """No key with that kid: worth a JWKS refetch."""


class _BadSignature(SignatureInvalid):
    """The key exists but the signature does not match: worth a JWKS refetch."""


def jwks_url(saleor_api_url: str) -> str:
    """``<scheme>://<host[:port]>/.well-known/jwks.json`` of the instance's origin."""
    parts = urlsplit(saleor_api_url)
    return f"{parts.scheme}://{parts.netloc}{JWKS_PATH}"


def parse_jwks(jwks: str) -> dict[str | None, rsa.RSAPublicKey]:
    """The RS256 signing keys of a JWKS document, by ``kid``. Raises ``ValueError`` if none."""
    try:
        document = json.loads(jwks)
    except ValueError as exc:
        msg = "JWKS is not JSON"
        raise ValueError(msg) from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        msg = "JWKS has no keys array"
        raise ValueError(msg)
    keys: dict[str | None, rsa.RSAPublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            numbers = rsa.RSAPublicNumbers(
                e=int.from_bytes(_b64url_decode(entry["e"]), "big"),
                n=int.from_bytes(_b64url_decode(entry["n"]), "big"),
            )
            key = numbers.public_key()
        except (KeyError, TypeError, ValueError):
            continue
        if key.key_size >= MIN_KEY_BITS:
            kid = entry.get("kid")
            keys[kid if isinstance(kid, str) else None] = key
    if not keys:
        msg = "JWKS holds no usable RS256 key"
        raise ValueError(msg)
    return keys


async def fetch_jwks(http: httpx.AsyncClient, saleor_api_url: str) -> str:
    """Download the instance's JWKS and return its raw text (validated to hold a usable key)."""
    url = jwks_url(saleor_api_url)
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        msg = f"JWKS request to {url} failed: {type(exc).__name__}"
        raise JwksUnavailable(msg) from exc
    if response.status_code != 200:
        msg = f"JWKS request to {url} answered HTTP {response.status_code}"
        raise JwksUnavailable(msg)
    try:
        parse_jwks(response.text)
    except ValueError as exc:
        msg = f"JWKS from {url} is unusable: {exc}"
        raise JwksUnavailable(msg) from exc
    return response.text


def _b64url_decode(value: str) -> bytes:
    if not isinstance(value, str):
        msg = "not a string"
        raise TypeError(msg)
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        msg = "bad base64url"
        raise ValueError(msg) from exc


def _select_key(keys: dict[str | None, rsa.RSAPublicKey], kid: object) -> rsa.RSAPublicKey:
    if kid is None and len(keys) == 1:
        return next(iter(keys.values()))
    if not isinstance(kid, str) or kid not in keys:
        msg = f"no key with kid {kid!r} in the JWKS"
        raise _KeyMissing(msg)
    return keys[kid]


@functools.lru_cache(maxsize=64)
def _protected_header(header_b64: str) -> dict[str, Any]:
    """The checked protected header of a detached JWS (Saleor sends the same one with every
    delivery while its key stays: decoded once). Raises :class:`SignatureInvalid`; a refused
    header is not cached. Never mutate the answer."""
    try:
        header = json.loads(_b64url_decode(header_b64))
    except (TypeError, ValueError) as exc:
        msg = "undecodable JWS"
        raise SignatureInvalid(msg) from exc
    if not isinstance(header, dict):
        msg = "JWS header is not an object"
        raise SignatureInvalid(msg)
    # Pin the algorithm: "none", HS256 (keyed with the public key) or anything else is refused.
    if header.get("alg") != ALGORITHM:
        msg = f"JWS alg {header.get('alg')!r} is not {ALGORITHM}"
        raise SignatureInvalid(msg)
    # RFC 7797: unencoded payload, and "b64" must be declared critical; nothing else is.
    if header.get("b64") is not False or header.get("crit") != ["b64"]:
        msg = "JWS header must have b64: false and crit: [b64]"
        raise SignatureInvalid(msg)
    return header


class DetachedJws:
    """A parsed ``Saleor-Signature`` value: protected header and signature bytes."""

    def __init__(self, compact: str) -> None:
        parts = compact.split(".")
        if len(parts) != 3 or parts[1] != "":
            msg = "not a detached compact JWS (<header>..<signature>)"
            raise SignatureInvalid(msg)
        self.header_b64 = parts[0]
        try:
            self.signature = _b64url_decode(parts[2])
        except (TypeError, ValueError) as exc:
            msg = "undecodable JWS"
            raise SignatureInvalid(msg) from exc
        self.header: dict[str, Any] = _protected_header(parts[0])

    def verify(self, keys: dict[str | None, rsa.RSAPublicKey], raw_body: bytes) -> None:
        key = _select_key(keys, self.header.get("kid"))
        signing_input = self.header_b64.encode("ascii") + b"." + raw_body
        try:
            key.verify(self.signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            msg = "JWS signature does not match the body"
            raise _BadSignature(msg) from exc


def _decode_dashboard_token(token: str, keys: dict[str | None, rsa.RSAPublicKey]) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        msg = "undecodable token"
        raise SignatureInvalid(msg) from exc
    if header.get("alg") != ALGORITHM:
        msg = f"token alg {header.get('alg')!r} is not {ALGORITHM}"
        raise SignatureInvalid(msg)
    key = _select_key(keys, header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat"], "verify_aud": False},
            leeway=DASHBOARD_TOKEN_LEEWAY_SECONDS,
        )
    except jwt.InvalidSignatureError as exc:
        msg = "token signature does not match"
        raise _BadSignature(msg) from exc
    except jwt.PyJWTError as exc:
        msg = f"token refused: {exc}"
        raise SignatureInvalid(msg) from exc
    return claims


class JwksVerifier:
    """Verifies Saleor signatures with an installation's stored JWKS, refetching it when stale."""

    def __init__(
        self,
        store: AuthStore,
        http: httpx.AsyncClient,
        *,
        refetch_cooldown_seconds: float = 5.0,
    ) -> None:
        self._store = store
        self._http = http
        self._cooldown_ms = int(refetch_cooldown_seconds * 1000)

    async def verify_webhook(self, auth: AuthData, signature: str, raw_body: bytes) -> None:
        """Raise :class:`SignatureInvalid` unless ``signature`` signs exactly ``raw_body``."""
        jws = DetachedJws(signature)
        await self._with_refetch(auth, lambda keys: jws.verify(keys, raw_body))

    async def verify_dashboard_token(self, auth: AuthData, token: str) -> dict[str, Any]:
        """Claims of a valid, unexpired RS256 dashboard token; the caller checks app/iss/perms."""
        return await self._with_refetch(auth, lambda keys: _decode_dashboard_token(token, keys))

    async def _with_refetch(
        self, auth: AuthData, check: Callable[[dict[str | None, rsa.RSAPublicKey]], T]
    ) -> T:
        try:
            return check(_keys_or_empty(auth.jwks))
        except (_KeyMissing, _BadSignature) as first:
            reason = str(first)
        url = auth.saleor_api_url
        if not await self._refetch_allowed(url):
            # Another request refetched moments ago: use what it stored, if anything changed.
            stored = await self._store.get(url)
            if stored is None or stored.jwks == auth.jwks:
                msg = f"{reason} (JWKS refetch rate-limited)"
                raise SignatureInvalid(msg)
            return check(_keys_or_empty(stored.jwks))
        try:
            fresh = await fetch_jwks(self._http, url)
        except JwksUnavailable as exc:
            log.warning("saleor.jwks_refetch_failed", saleor_api_url=url, reason=str(exc))
            msg = f"{reason} (JWKS refetch failed)"
            raise SignatureInvalid(msg) from exc
        result = check(_keys_or_empty(fresh))
        if fresh != auth.jwks:
            await self._store.set_jwks(url, fresh)
            log.info("saleor.jwks_rotated", saleor_api_url=url)
        return result

    async def _refetch_allowed(self, saleor_api_url: str) -> bool:
        if self._cooldown_ms <= 0:
            return True
        key = instance_key(saleor_api_url, "jwks_refetch")
        return bool(await self._store.redis.set(key, "1", nx=True, px=self._cooldown_ms))


@functools.lru_cache(maxsize=32)
def _keys_or_empty(jwks: str) -> dict[str | None, rsa.RSAPublicKey]:
    """The keys of a JWKS text, parsed once per text (the public key objects are immutable;
    building them was a third of a webhook's verification time). Never mutate the answer."""
    try:
        return parse_jwks(jwks)
    except ValueError:
        return {}
