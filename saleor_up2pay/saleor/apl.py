"""Auth data of each Saleor instance that installed the app (the app-sdk's "APL"), in Redis.

One hash per instance under ``instance_key(saleor_api_url, "auth")``, so uninstalling
(``purge_instance``) removes it with the rest of the instance's data. The app token is encrypted
with the SecretBox; the API URL, app id and JWKS are not secret. The set ``up2pay:instances``
lists the installed API URLs (for :meth:`AuthStore.all`).

Decrypting the token costs more than reading it (Fernet: HMAC + AES per call), and the job
worker needs it for every report: :meth:`AuthStore.token` keeps decrypted tokens per process,
keyed by their ciphertext, for :data:`TOKEN_CACHE_SECONDS`. A re-installation stores a new
ciphertext (so the new token is decrypted at once); :meth:`AuthStore.forget_token` drops an
instance's cached tokens (called when Saleor answers 401), and so do :meth:`AuthStore.set` and
:meth:`AuthStore.delete` in the process that runs them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, cast

from saleor_up2pay.redis_store import KEY_PREFIX, Redis, instance_key
from saleor_up2pay.secretbox import SecretBox

INSTANCES_KEY = KEY_PREFIX + "instances"
"""Set of the Saleor API URLs that have installed the app."""

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

    def __init__(self, redis: Redis, secretbox: SecretBox) -> None:
        self._redis = redis
        self._box = secretbox
        self._tokens: dict[str, tuple[str, str, float]] = {}
        """Ciphertext → (API URL, plaintext token, monotonic expiry)."""

    @property
    def redis(self) -> Redis:
        return self._redis

    async def get(self, saleor_api_url: str) -> AuthData | None:
        fields = cast("dict[str, str]", await self._redis.hgetall(auth_key(saleor_api_url)))
        if not fields:
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
        now = time.monotonic()
        cached = self._tokens.get(ciphertext)
        if cached is not None and cached[0] == saleor_api_url and cached[2] > now:
            return cached[1]
        plaintext = self._box.decrypt(ciphertext)
        if len(self._tokens) > 1000:  # stale ciphertexts of re-installations
            self._tokens = {k: v for k, v in self._tokens.items() if v[2] > now}
        self._tokens[ciphertext] = (saleor_api_url, plaintext, now + TOKEN_CACHE_SECONDS)
        return plaintext

    def forget_token(self, saleor_api_url: str) -> None:
        """Drop this process's cached tokens of an instance (Saleor refused one: HTTP 401)."""
        self._tokens = {k: v for k, v in self._tokens.items() if v[0] != saleor_api_url}

    async def set(self, auth: AuthData) -> None:
        """Store (or replace, on re-installation) one instance's auth data."""
        self.forget_token(auth.saleor_api_url)
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
            pipe.sadd(INSTANCES_KEY, auth.saleor_api_url)
            await pipe.execute()

    async def set_jwks(self, saleor_api_url: str, jwks: str) -> None:
        """Replace only the JWKS of an installed instance (no-op when it is not installed)."""
        await self._redis.eval(_SET_IF_EXISTS, 1, auth_key(saleor_api_url), "jwks", jwks)

    async def delete(self, saleor_api_url: str) -> None:
        self.forget_token(saleor_api_url)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(auth_key(saleor_api_url))
            pipe.srem(INSTANCES_KEY, saleor_api_url)
            await pipe.execute()

    async def all(self) -> list[AuthData]:
        urls = cast("set[str]", await self._redis.smembers(INSTANCES_KEY))
        found = [await self.get(url) for url in sorted(urls)]
        return [auth for auth in found if auth is not None]
