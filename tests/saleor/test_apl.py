"""The auth store: one record per Saleor instance, token encrypted, purged with the instance."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from saleor_up2pay.redis_store import purge_instance
from saleor_up2pay.saleor.apl import (
    AUTH_CACHE_SECONDS,
    INSTANCES_KEY,
    AuthData,
    AuthStore,
    auth_key,
)
from saleor_up2pay.secretbox import SecretBox, SecretDecryptionError

URL_A = "https://a.example.com/graphql/"
URL_B = "https://b.example.com/graphql/"


def auth(url: str, token: str = "tok-a", app_id: str = "QXBwOjE=") -> AuthData:
    return AuthData(saleor_api_url=url, token=token, app_id=app_id, jwks='{"keys": []}')


def count_decryptions(box: SecretBox, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ciphertexts ``box`` decrypts from now on (appended as it decrypts them)."""
    decrypted: list[str] = []
    real = box.decrypt

    def counting(text: str) -> str:
        decrypted.append(text)
        return real(text)

    monkeypatch.setattr(box, "decrypt", counting)
    return decrypted


@pytest.fixture
def store(redis: aioredis.Redis) -> AuthStore:
    return AuthStore(redis, SecretBox("k1"))


class TestAuthStore:
    async def test_round_trip(self, store: AuthStore) -> None:
        """What is set is what is read back, keyed by the exact API URL."""
        await store.set(auth(URL_A))
        assert await store.get(URL_A) == auth(URL_A)
        assert await store.get(URL_A.rstrip("/")) is None

    async def test_token_is_encrypted_at_rest(
        self, store: AuthStore, redis: aioredis.Redis
    ) -> None:
        """Redis never holds the token in clear."""
        await store.set(auth(URL_A, token="very-secret-app-token"))
        raw = await redis.hgetall(auth_key(URL_A))
        assert "very-secret-app-token" not in str(raw)
        assert raw["app_id"] == "QXBwOjE="

    async def test_repr_hides_the_token(self) -> None:
        """Logging an AuthData cannot leak the token."""
        assert "very-secret" not in repr(auth(URL_A, token="very-secret"))

    async def test_set_replaces(self, store: AuthStore) -> None:
        """A re-installation overwrites token and app id."""
        await store.set(auth(URL_A))
        await store.set(auth(URL_A, token="tok-2", app_id="QXBwOjI="))
        stored = await store.get(URL_A)
        assert stored is not None
        assert (stored.token, stored.app_id) == ("tok-2", "QXBwOjI=")

    async def test_all_lists_installed_instances(self, store: AuthStore) -> None:
        """all() returns every installation, and forgets deleted ones."""
        await store.set(auth(URL_A))
        await store.set(auth(URL_B, token="tok-b"))
        assert {a.saleor_api_url for a in await store.all()} == {URL_A, URL_B}
        await store.delete(URL_A)
        assert [a.saleor_api_url for a in await store.all()] == [URL_B]

    async def test_purge_instance_removes_the_auth(
        self, store: AuthStore, redis: aioredis.Redis
    ) -> None:
        """The record lives under the instance prefix, so purging the instance removes it."""
        await store.set(auth(URL_A))
        await store.set(auth(URL_B))
        await purge_instance(redis, URL_A)
        assert await store.get(URL_A) is None
        assert await store.get(URL_B) is not None

    async def test_set_jwks_only_touches_installed_instances(
        self, store: AuthStore, redis: aioredis.Redis
    ) -> None:
        """Persisting a refetched JWKS never recreates a record deleted meanwhile."""
        await store.set(auth(URL_A))
        await store.set_jwks(URL_A, '{"keys": [1]}')
        stored = await store.get(URL_A)
        assert stored is not None
        assert stored.jwks == '{"keys": [1]}'
        await store.set_jwks(URL_B, '{"keys": [1]}')
        assert await redis.exists(auth_key(URL_B)) == 0
        assert await redis.smembers(INSTANCES_KEY) == {URL_A}

    async def test_wrong_secret_key_cannot_read_the_token(self, redis: aioredis.Redis) -> None:
        """Another SECRET_KEY (without fallback) fails loudly instead of returning garbage."""
        await AuthStore(redis, SecretBox("k1")).set(auth(URL_A))
        with pytest.raises(SecretDecryptionError):
            await AuthStore(redis, SecretBox("k2")).get(URL_A)
        rotated = await AuthStore(redis, SecretBox("k2", ["k1"])).get(URL_A)
        assert rotated == auth(URL_A)


class TestTokenCache:
    async def test_a_token_is_decrypted_once_then_reused(
        self, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Reports read the installation every time; the token is decrypted once per process."""
        box = SecretBox("k1")
        store = AuthStore(redis, box)
        await store.set(auth(URL_A, token="tok-1"))
        decrypted = count_decryptions(box, monkeypatch)
        for _ in range(3):
            found = await store.get(URL_A)
            assert found is not None
            assert found.token == "tok-1"
        assert len(decrypted) == 1

    async def test_a_reinstallation_elsewhere_is_seen_at_once(self, redis: aioredis.Redis) -> None:
        """Another process stores a new token: this process reads it at its next report."""
        here, there = AuthStore(redis, SecretBox("k1")), AuthStore(redis, SecretBox("k1"))
        await there.set(auth(URL_A, token="tok-1"))
        assert (await here.get(URL_A)).token == "tok-1"  # type: ignore[union-attr]
        await there.set(auth(URL_A, token="tok-2"))
        assert (await here.get(URL_A)).token == "tok-2"  # type: ignore[union-attr]

    async def test_forgetting_drops_only_that_instance(
        self, redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Saleor refused the token (401): the next read decrypts it again."""
        box = SecretBox("k1")
        store = AuthStore(redis, box)
        await store.set(auth(URL_A))
        await store.set(auth(URL_B, token="tok-b"))
        await store.get(URL_A)
        await store.get(URL_B)
        decrypted = count_decryptions(box, monkeypatch)
        store.forget_token(URL_A)
        await store.get(URL_A)
        await store.get(URL_B)
        assert len(decrypted) == 1


class TestCachedReads:
    """``get_cached``: webhook deliveries read an installation from memory for a few seconds."""

    @staticmethod
    def cached(redis: aioredis.Redis, now: list[float]) -> AuthStore:
        return AuthStore(redis, SecretBox("k1"), clock=lambda: now[0])

    async def test_another_process_uninstalling_is_seen_within_the_ttl(
        self, redis: aioredis.Redis
    ) -> None:
        now = [100.0]
        store, other_process = self.cached(redis, now), AuthStore(redis, SecretBox("k1"))
        await other_process.set(auth(URL_A))
        assert await store.get_cached(URL_A) == auth(URL_A)

        await other_process.delete(URL_A)
        now[0] += AUTH_CACHE_SECONDS + 0.1
        assert await store.get_cached(URL_A) is None

    async def test_this_process_writing_is_seen_at_once(self, redis: aioredis.Redis) -> None:
        now = [100.0]
        store = self.cached(redis, now)
        await store.set(auth(URL_A))
        assert await store.get_cached(URL_A) == auth(URL_A)
        await store.set_jwks(URL_A, '{"keys": [1]}')
        cached = await store.get_cached(URL_A)
        assert cached is not None
        assert cached.jwks == '{"keys": [1]}'
        await store.set(auth(URL_A, token="tok-new"))
        cached = await store.get_cached(URL_A)
        assert cached is not None
        assert cached.token == "tok-new"
        await store.delete(URL_A)
        assert await store.get_cached(URL_A) is None

    async def test_an_unknown_url_is_not_remembered(self, redis: aioredis.Redis) -> None:
        """A miss is read again next time (and forged URLs cannot fill the cache)."""
        now = [100.0]
        store, other_process = self.cached(redis, now), AuthStore(redis, SecretBox("k1"))
        assert await store.get_cached(URL_B) is None
        await other_process.set(auth(URL_B))
        assert await store.get_cached(URL_B) == auth(URL_B)
