"""Auth data of each Saleor instance that installed the app (the app-sdk's "APL"), in Redis.

One hash per instance under ``instance_key(saleor_api_url, "auth")``, so uninstalling
(``purge_instance``) removes it with the rest of the instance's data. The app token is encrypted
with the SecretBox; the API URL, app id and JWKS are not secret. The set ``up2pay:instances``
lists the installed API URLs (for :meth:`AuthStore.all`); it is global (another hash slot than
the instance's keys on a Redis Cluster), so it is written after the hash and cleaned before it:
an URL listed without a hash is skipped by :meth:`AuthStore.all`.

Webhook deliveries read it through a short in-process cache (:meth:`AuthStore.get_cached`,
:data:`AUTH_CACHE_SECONDS`): every session webhook used to cost one round trip and one token
decryption for the same few installations. What this process writes (installation, JWKS
refetch, uninstall) drops its entry at once; what another process writes is seen within the TTL.

Decrypting the token costs more than reading it (Fernet: HMAC + AES per call), and the job
worker needs it for every report, whose first script returns the auth hash with the rest:
:meth:`AuthStore.token` keeps decrypted tokens per process, keyed by their ciphertext, for
:data:`TOKEN_CACHE_SECONDS` (every read, :meth:`AuthStore.get` included, goes through it). A
re-installation stores a new ciphertext, so the new token is decrypted at once;
:meth:`AuthStore.forget_token` drops an instance's cached tokens (called when Saleor refuses
one: HTTP 401, ``PermissionDenied``), and so do :meth:`AuthStore.set` and
:meth:`AuthStore.delete` in the process that runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from saleor_up2pay.redis_store import KEY_PREFIX, Redis, instance_key
from saleor_up2pay.secretbox import SecretBox

INSTANCES_KEY = KEY_PREFIX + "instances"
"""Set of the Saleor API URLs that have installed the app."""

AUTH_CACHE_SECONDS = 5.0
"""How long :meth:`AuthStore.get_cached` answers from memory. Safe because a stale entry can only
be a deleted or replaced installation for at most this long in *other* processes (this process
drops it at once): a signature still has to verify with Saleor's key (a rotated key is refetched,
:class:`~saleor_up2pay.saleor.signature.JwksVerifier`), a new ``app_id`` is re-read on a recipient
mismatch (:func:`~saleor_up2pay.saleor.webhooks.verify_request`), and a Saleor that uninstalled
the app stops sending its webhooks."""
AUTH_CACHE_SIZE = 256
"""Installations kept in memory per process (oldest dropped first)."""

TOKEN_CACHE_SECONDS = 30.0
"""How long a decrypted app token is reused in one process (see the module docstring)."""

# Atomic, so a concurrent uninstall cannot leave a hash holding only a JWKS.
_SET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 0
"""


@dataclass(frozen=True)
class AuthData:
    """What the app keeps about one installation. ``jwks`` is the raw JSON text Saleor served."""

    saleor_api_url: str
    token: str = field(repr=False)
    app_id: str
    jwks: str

    def with_jwks(self, jwks: str) -> AuthData:
        return replace(self, jwks=jwks)


def auth_key(saleor_api_url: str) -> str:
    return instance_key(saleor_api_url, "auth")


class AuthStore:
    """Reads and writes :class:`AuthData` keyed by the exact ``Saleor-Api-Url`` string."""

    def __init__(
        self,
        redis: Redis,
        secretbox: SecretBox,
        *,
        cache_seconds: float = AUTH_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._box = secretbox
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, AuthData]] = {}
        self._tokens: dict[str, tuple[str, str, float]] = {}
        """Ciphertext → (API URL, plaintext token, monotonic expiry)."""

    @property
    def redis(self) -> Redis:
        return self._redis

    async def get(self, saleor_api_url: str) -> AuthData | None:
        """The stored auth data, read from Redis now (None: not installed)."""
        fields = cast("dict[str, str]", await self._redis.hgetall(auth_key(saleor_api_url)))
        if not fields:
            self.forget(saleor_api_url)
            return None
        return self.from_fields(fields)

    def from_fields(self, fields: dict[str, str]) -> AuthData:
        """The :class:`AuthData` of an auth hash read elsewhere (a script returning it)."""
        return AuthData(
            saleor_api_url=fields["saleor_api_url"],
            token=self.token(fields["saleor_api_url"], fields["token"]),
            app_id=fields["app_id"],
            jwks=fields["jwks"],
        )

    def token(self, saleor_api_url: str, ciphertext: str) -> str:
        """The app token in ``ciphertext``, decrypted at most every :data:`TOKEN_CACHE_SECONDS`."""
        now = self._clock()
        cached = self._tokens.get(ciphertext)
        if cached is not None and cached[0] == saleor_api_url and cached[2] > now:
            return cached[1]
        plaintext = self._box.decrypt(ciphertext)
        if len(self._tokens) > 1000:  # stale ciphertexts of re-installations
            self._tokens = {k: v for k, v in self._tokens.items() if v[2] > now}
        self._tokens[ciphertext] = (saleor_api_url, plaintext, now + TOKEN_CACHE_SECONDS)
        return plaintext

    def forget_token(self, saleor_api_url: str) -> None:
        """Drop this process's cached tokens (and cached installation) of an instance: Saleor
        refused one (HTTP 401, ``PermissionDenied``)."""
        self._tokens = {k: v for k, v in self._tokens.items() if v[0] != saleor_api_url}
        self.forget(saleor_api_url)

    async def get_cached(self, saleor_api_url: str) -> AuthData | None:
        """:meth:`get`, answered from memory for :data:`AUTH_CACHE_SECONDS` after a read.

        Only installations found are kept (an unknown URL is read from Redis every time, so
        forged ``Saleor-Api-Url`` values cannot fill the cache).
        """
        now = self._clock()
        hit = self._cache.get(saleor_api_url)
        if hit is not None and hit[0] > now:
            return hit[1]
        auth = await self.get(saleor_api_url)
        if auth is not None and self._cache_seconds > 0:
            self._cache.pop(saleor_api_url, None)
            self._cache[saleor_api_url] = (now + self._cache_seconds, auth)
            while len(self._cache) > AUTH_CACHE_SIZE:
                del self._cache[next(iter(self._cache))]
        return auth

    def forget(self, saleor_api_url: str) -> None:
        """Drop one installation from the in-process cache (the next read goes to Redis)."""
        self._cache.pop(saleor_api_url, None)

    async def set(self, auth: AuthData) -> None:
        """Store (or replace, on re-installation) one instance's auth data."""
        key = auth_key(auth.saleor_api_url)
        mapping: dict[Any, Any] = {
            "saleor_api_url": auth.saleor_api_url,
            "token": self._box.encrypt(auth.token),
            "app_id": auth.app_id,
            "jwks": auth.jwks,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)
            await pipe.execute()
        await self._redis.sadd(INSTANCES_KEY, auth.saleor_api_url)
        self.forget_token(auth.saleor_api_url)

    async def set_jwks(self, saleor_api_url: str, jwks: str) -> None:
        """Replace only the JWKS of an installed instance (no-op when it is not installed)."""
        await self._redis.eval(_SET_IF_EXISTS, 1, auth_key(saleor_api_url), "jwks", jwks)
        self.forget(saleor_api_url)

    async def delete(self, saleor_api_url: str) -> None:
        await self._redis.srem(INSTANCES_KEY, saleor_api_url)
        await self._redis.delete(auth_key(saleor_api_url))
        self.forget_token(saleor_api_url)

    async def all(self) -> list[AuthData]:
        urls = cast("set[str]", await self._redis.smembers(INSTANCES_KEY))
        found = [await self.get(url) for url in sorted(urls)]
        return [auth for auth in found if auth is not None]
