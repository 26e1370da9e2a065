"""Webhook signatures: the 21 real Saleor deliveries, then forged and rotated ones."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric import rsa

from saleor_up2pay.saleor.apl import AuthData, AuthStore
from saleor_up2pay.saleor.signature import (
    JwksUnavailable,
    JwksVerifier,
    SignatureInvalid,
    fetch_jwks,
    parse_jwks,
)
from saleor_up2pay.secretbox import SecretBox
from tests.conftest import RECORDED, require_shared
from tests.fakes.fake_saleor import FakeSaleor, SigningKey, b64url, sign_detached

RECORDED_API_URL = "http://localhost:58001/graphql/"
RECORDED_WEBHOOKS = sorted((RECORDED / "webhooks").glob("*.json"))
API_URL = "https://shop.example.com/graphql/"


def recorded_delivery(path: Path) -> tuple[str, bytes, dict[str, str]]:
    recording = json.loads(path.read_text(encoding="utf-8"))
    headers = dict(recording["request"]["headers"])
    body = base64.b64decode(recording["request"]["body_base64"])
    return headers["Saleor-Signature"], body, headers


class JwksServer:
    """``<origin>/.well-known/jwks.json`` behind an httpx.MockTransport, counting fetches."""

    def __init__(self, jwks: str, status: int = 200) -> None:
        self.jwks = jwks
        self.status = status
        self.fetches: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches.append(str(request.url))
        return httpx.Response(self.status, text=self.jwks)


@pytest.fixture
def store(redis: aioredis.Redis) -> AuthStore:
    return AuthStore(redis, SecretBox("test-secret-key"))


@pytest.fixture
def fake() -> FakeSaleor:
    """Only its keys and signer are used here (no server)."""
    return FakeSaleor()


@pytest.fixture
def jwks_server(fake: FakeSaleor) -> JwksServer:
    return JwksServer(fake.jwks_text())


@pytest.fixture
async def http(jwks_server: JwksServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(jwks_server.handler)) as client:
        yield client


@pytest.fixture
async def auth(store: AuthStore, fake: FakeSaleor) -> AuthData:
    data = AuthData(saleor_api_url=API_URL, token="t0k3n", app_id="QXBwOjEz", jwks=fake.jwks_text())
    await store.set(data)
    return data


@pytest.fixture
def verifier(store: AuthStore, http: httpx.AsyncClient) -> JwksVerifier:
    return JwksVerifier(store, http)


BODY = b'{"version": "3.23.28", "recipient": {"id": "QXBwOjEz"}, "action": {"amount": 20.0}}'


class TestRecordedDeliveries:
    """The real deliveries of a Saleor 3.23.28 core, checked by the app's own verifier."""

    @pytest.fixture
    async def recorded_auth(self, store: AuthStore) -> AuthData:
        jwks = require_shared(RECORDED / "jwks.json").read_text(encoding="utf-8")
        data = AuthData(RECORDED_API_URL, token="t", app_id="QXBwOjEz", jwks=jwks)
        await store.set(data)
        return data

    @pytest.fixture
    async def recorded_verifier(
        self, store: AuthStore, recorded_auth: AuthData
    ) -> AsyncIterator[tuple[JwksVerifier, JwksServer]]:
        server = JwksServer(recorded_auth.jwks)
        async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as client:
            yield JwksVerifier(store, client, refetch_cooldown_seconds=0), server

    def test_there_are_21_recorded_deliveries(self) -> None:
        """The parametrised tests below really run over every recorded webhook."""
        require_shared(RECORDED / "webhooks")
        assert len(RECORDED_WEBHOOKS) == 21

    @pytest.mark.parametrize("path", RECORDED_WEBHOOKS, ids=lambda p: p.stem)
    async def test_recorded_delivery_verifies(
        self,
        path: Path,
        recorded_auth: AuthData,
        recorded_verifier: tuple[JwksVerifier, JwksServer],
    ) -> None:
        """Saleor's signature over the exact bytes it sent verifies with its JWKS, no refetch."""
        verifier, server = recorded_verifier
        signature, body, _ = recorded_delivery(path)
        await verifier.verify_webhook(recorded_auth, signature, body)
        assert server.fetches == []

    @pytest.mark.parametrize("path", RECORDED_WEBHOOKS, ids=lambda p: p.stem)
    async def test_recorded_delivery_with_one_byte_changed_fails(
        self,
        path: Path,
        recorded_auth: AuthData,
        recorded_verifier: tuple[JwksVerifier, JwksServer],
    ) -> None:
        """Changing a single body byte breaks the signature, even after refetching the JWKS."""
        verifier, server = recorded_verifier
        signature, body, _ = recorded_delivery(path)
        middle = len(body) // 2
        tampered = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]
        with pytest.raises(SignatureInvalid):
            await verifier.verify_webhook(recorded_auth, signature, tampered)
        assert server.fetches == ["http://localhost:58001/.well-known/jwks.json"]

    async def test_reserialised_body_fails(
        self, recorded_auth: AuthData, recorded_verifier: tuple[JwksVerifier, JwksServer]
    ) -> None:
        """The same JSON written compactly is not what Saleor signed."""
        verifier, _ = recorded_verifier
        signature, body, _ = recorded_delivery(RECORDED_WEBHOOKS[0])
        compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
        with pytest.raises(SignatureInvalid):
            await verifier.verify_webhook(recorded_auth, signature, compact)


class TestJwksVerifierWebhooks:
    async def test_valid_signature_passes_without_network(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor, jwks_server: JwksServer
    ) -> None:
        """A delivery signed with the stored key verifies from Redis alone."""
        await verifier.verify_webhook(auth, sign_detached(fake.key, BODY), BODY)
        assert jwks_server.fetches == []

    async def test_tampered_body_is_refused(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor
    ) -> None:
        """The signature covers the body: another body with the same signature fails."""
        signature = sign_detached(fake.key, BODY)
        with pytest.raises(SignatureInvalid, match="does not match"):
            await verifier.verify_webhook(auth, signature, BODY.replace(b"20.0", b"2000.0"))

    async def test_unknown_kid_is_refused_after_one_refetch(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor, jwks_server: JwksServer
    ) -> None:
        """A kid Saleor does not publish fails, after exactly one JWKS refetch."""
        signature = sign_detached(fake.key, BODY, kid="not-a-saleor-kid")
        with pytest.raises(SignatureInvalid, match="kid"):
            await verifier.verify_webhook(auth, signature, BODY)
        assert jwks_server.fetches == ["https://shop.example.com/.well-known/jwks.json"]

    async def test_signature_by_another_key_with_saleors_kid_is_refused(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor
    ) -> None:
        """An attacker's key cannot borrow Saleor's kid."""
        attacker = SigningKey.pooled(7)
        signature = sign_detached(attacker, BODY, kid=fake.key.kid)
        with pytest.raises(SignatureInvalid):
            await verifier.verify_webhook(auth, signature, BODY)

    async def test_key_rotation_refetches_once_and_persists(
        self,
        verifier: JwksVerifier,
        auth: AuthData,
        store: AuthStore,
        fake: FakeSaleor,
        jwks_server: JwksServer,
    ) -> None:
        """After Saleor changes its key, the new JWKS is fetched once, used, and stored."""
        new_key = fake.rotate_key()
        jwks_server.jwks = fake.jwks_text()
        await verifier.verify_webhook(auth, sign_detached(new_key, BODY), BODY)
        assert len(jwks_server.fetches) == 1
        stored = await store.get(API_URL)
        assert stored is not None
        assert new_key.kid in parse_jwks(stored.jwks)
        # The next delivery verifies from the stored JWKS, without fetching again.
        await verifier.verify_webhook(stored, sign_detached(new_key, BODY), BODY)
        assert len(jwks_server.fetches) == 1

    async def test_old_key_fails_after_rotation(
        self, verifier: JwksVerifier, store: AuthStore, fake: FakeSaleor, jwks_server: JwksServer
    ) -> None:
        """Once rotated, signatures by the previous key no longer verify."""
        old = fake.key
        fake.rotate_key()
        jwks = fake.jwks_text()
        auth = AuthData(API_URL, token="t", app_id="QXBwOjEz", jwks=jwks)
        await store.set(auth)
        jwks_server.jwks = jwks
        with pytest.raises(SignatureInvalid):
            await verifier.verify_webhook(auth, sign_detached(old, BODY), BODY)

    async def test_refetch_is_rate_limited(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor, jwks_server: JwksServer
    ) -> None:
        """Forged requests in a burst cause one JWKS fetch, not one each."""
        forged = sign_detached(fake.key, BODY, kid="forged")
        for _ in range(3):
            with pytest.raises(SignatureInvalid):
                await verifier.verify_webhook(auth, forged, BODY)
        assert len(jwks_server.fetches) == 1

    async def test_rate_limited_request_uses_the_jwks_another_request_stored(
        self,
        verifier: JwksVerifier,
        auth: AuthData,
        store: AuthStore,
        fake: FakeSaleor,
        jwks_server: JwksServer,
    ) -> None:
        """Concurrent deliveries right after a rotation all verify, though only one refetched."""
        new_key = fake.rotate_key()
        jwks_server.jwks = fake.jwks_text()
        stale = auth  # both requests loaded the auth data before the refetch
        await verifier.verify_webhook(stale, sign_detached(new_key, BODY), BODY)
        await verifier.verify_webhook(stale, sign_detached(new_key, BODY), BODY)
        assert len(jwks_server.fetches) == 1

    async def test_jwks_unavailable_refuses(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor, jwks_server: JwksServer
    ) -> None:
        """When the refetch fails, an unverifiable signature is refused (fail closed)."""
        jwks_server.status = 503
        new_key = fake.rotate_key()
        with pytest.raises(SignatureInvalid, match="refetch failed"):
            await verifier.verify_webhook(auth, sign_detached(new_key, BODY), BODY)

    @pytest.mark.parametrize(
        "header",
        [
            {"alg": "none", "b64": False, "crit": ["b64"]},
            {"alg": "RS512", "b64": False, "crit": ["b64"]},
            {"alg": "RS256", "crit": ["b64"]},
            {"alg": "RS256", "b64": True, "crit": ["b64"]},
            {"alg": "RS256", "b64": False},
            {"alg": "RS256", "b64": False, "crit": ["b64", "exp"]},
        ],
        ids=["alg-none", "alg-rs512", "b64-missing", "b64-true", "crit-missing", "crit-unknown"],
    )
    async def test_headers_other_than_saleors_are_refused(
        self,
        verifier: JwksVerifier,
        auth: AuthData,
        fake: FakeSaleor,
        jwks_server: JwksServer,
        header: dict[str, Any],
    ) -> None:
        """Only RS256 with an unencoded payload (b64: false, crit: [b64]) is accepted."""
        header = {**header, "kid": fake.key.kid}
        signature = sign_detached(fake.key, BODY, header=header)
        with pytest.raises(SignatureInvalid):
            await verifier.verify_webhook(auth, signature, BODY)
        assert jwks_server.fetches == []

    async def test_alg_none_with_empty_signature_is_refused(
        self, verifier: JwksVerifier, auth: AuthData
    ) -> None:
        """An unsigned JWS ("alg": "none", no signature bytes) never passes."""
        header = b64url(json.dumps({"alg": "none", "b64": False, "crit": ["b64"]}).encode())
        with pytest.raises(SignatureInvalid, match="alg"):
            await verifier.verify_webhook(auth, f"{header}..", BODY)

    async def test_hs256_keyed_with_the_public_key_is_refused(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor
    ) -> None:
        """The classic confusion attack: HMAC over the body with Saleor's public key as secret."""
        import hashlib
        import hmac

        header = b64url(
            json.dumps(
                {"alg": "HS256", "b64": False, "crit": ["b64"], "kid": fake.key.kid}
            ).encode()
        )
        for secret in (fake.key.public_pem, json.dumps(fake.key.jwk).encode()):
            mac = hmac.new(secret, header.encode() + b"." + BODY, hashlib.sha256).digest()
            with pytest.raises(SignatureInvalid, match="alg"):
                await verifier.verify_webhook(auth, f"{header}..{b64url(mac)}", BODY)

    @pytest.mark.parametrize(
        "signature",
        ["", "abc", "a.b.c", "a..b..c", "!!!..???", "e30..AAAA"],
        ids=[
            "empty",
            "one-part",
            "attached-payload",
            "too-many-parts",
            "not-base64",
            "empty-header",
        ],
    )
    async def test_malformed_signatures_are_refused(
        self, verifier: JwksVerifier, auth: AuthData, signature: str
    ) -> None:
        """Anything that is not a detached compact JWS is refused, without raising anything else."""
        with pytest.raises(SignatureInvalid):
            await verifier.verify_webhook(auth, signature, BODY)


class TestDashboardToken:
    async def test_valid_token_returns_its_claims(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor
    ) -> None:
        """A token the instance signed gives back its claims (app, iss, permissions)."""
        token = fake.dashboard_token(app_id=auth.app_id)
        claims = await verifier.verify_dashboard_token(auth, token)
        assert claims["app"] == auth.app_id
        assert "HANDLE_PAYMENTS" in claims["user_permissions"]

    async def test_expired_token_is_refused_without_refetch(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor, jwks_server: JwksServer
    ) -> None:
        """An expired token fails; expiry is not a reason to fetch the JWKS."""
        token = fake.dashboard_token(lifetime_seconds=-60, iat=0)
        with pytest.raises(SignatureInvalid, match="expired"):
            await verifier.verify_dashboard_token(auth, token)
        assert jwks_server.fetches == []

    async def test_token_without_exp_is_refused(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor
    ) -> None:
        """exp is required: a token that never expires is not accepted."""
        token = jwt.encode(
            {"iat": 1, "app": auth.app_id},
            fake.key.private,
            algorithm="RS256",
            headers={"kid": fake.key.kid},
        )
        with pytest.raises(SignatureInvalid, match="exp"):
            await verifier.verify_dashboard_token(auth, token)

    async def test_hs256_token_keyed_with_the_public_key_is_refused(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor
    ) -> None:
        """Algorithm confusion on the dashboard token fails too."""
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": fake.key.kid}).encode())
        payload = b64url(json.dumps({"app": auth.app_id, "exp": 9999999999, "iat": 1}).encode())
        import hashlib
        import hmac

        mac = hmac.new(fake.key.public_pem, f"{header}.{payload}".encode(), hashlib.sha256)
        with pytest.raises(SignatureInvalid, match="alg"):
            await verifier.verify_dashboard_token(
                auth, f"{header}.{payload}.{b64url(mac.digest())}"
            )

    async def test_token_by_another_key_is_refused(
        self, verifier: JwksVerifier, auth: AuthData, fake: FakeSaleor
    ) -> None:
        """A well-formed token signed by a key Saleor does not publish fails."""
        token = fake.dashboard_token(key=SigningKey.pooled(7))
        with pytest.raises(SignatureInvalid):
            await verifier.verify_dashboard_token(auth, token)

    async def test_rotated_key_token_refetches_and_verifies(
        self,
        verifier: JwksVerifier,
        auth: AuthData,
        store: AuthStore,
        fake: FakeSaleor,
        jwks_server: JwksServer,
    ) -> None:
        """A token signed with Saleor's new key verifies after one refetch, which is stored."""
        fake.rotate_key()
        jwks_server.jwks = fake.jwks_text()
        claims = await verifier.verify_dashboard_token(auth, fake.dashboard_token())
        assert claims["iss"] == fake.api_url
        stored = await store.get(API_URL)
        assert stored is not None
        assert stored.jwks == fake.jwks_text()


class TestFetchJwks:
    async def test_fetches_from_the_api_origin(self) -> None:
        """The JWKS is read at <origin>/.well-known/jwks.json, whatever the API path."""
        server = JwksServer(FakeSaleor().jwks_text())
        async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as client:
            text = await fetch_jwks(client, "https://shop.example.com:8443/saleor/graphql/")
        assert server.fetches == ["https://shop.example.com:8443/.well-known/jwks.json"]
        assert json.loads(text)["keys"]

    @pytest.mark.parametrize(
        ("status", "body"),
        [(404, "{}"), (200, "not json"), (200, '{"keys": []}'), (200, '{"keys": [{"kty": "EC"}]}')],
    )
    async def test_unusable_jwks_raises(self, status: int, body: str) -> None:
        """An error page, non-JSON or a set without an RSA signing key is unavailable."""
        server = JwksServer(body, status)
        async with httpx.AsyncClient(transport=httpx.MockTransport(server.handler)) as client:
            with pytest.raises(JwksUnavailable):
                await fetch_jwks(client, API_URL)

    def test_small_rsa_keys_are_ignored(self) -> None:
        """Keys under 2048 bits are not used for verification."""
        small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        jwk = SigningKey(small).jwk
        with pytest.raises(ValueError, match="no usable"):
            parse_jwks(json.dumps({"keys": [jwk]}))
