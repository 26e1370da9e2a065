"""Auth data of each Saleor instance that installed the app (the app-sdk's "APL"), in Redis.

One hash per instance under ``instance_key(saleor_api_url, "auth")``, so uninstalling
(``purge_instance``) removes it with the rest of the instance's data. The app token is encrypted
with the SecretBox; the API URL, app id and JWKS are not secret. The set ``up2pay:instances``
lists the installed API URLs (for :meth:`AuthStore.all`); it is global (another hash slot than
the instance's keys on a Redis Cluster), so it is written after the hash and cleaned before it:
an URL listed without a hash is skipped by :meth:`AuthStore.all`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, cast

from saleor_up2pay.redis_store import KEY_PREFIX, Redis, instance_key
from saleor_up2pay.secretbox import SecretBox

INSTANCES_KEY = KEY_PREFIX + "instances"
"""Set of the Saleor API URLs that have installed the app."""

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

    @property
    def redis(self) -> Redis:
        return self._redis

    async def get(self, saleor_api_url: str) -> AuthData | None:
        fields = cast("dict[str, str]", await self._redis.hgetall(auth_key(saleor_api_url)))
        if not fields:
            return None
        return AuthData(
            saleor_api_url=fields["saleor_api_url"],
            token=self._box.decrypt(fields["token"]),
            app_id=fields["app_id"],
            jwks=fields["jwks"],
        )

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

    async def set_jwks(self, saleor_api_url: str, jwks: str) -> None:
        """Replace only the JWKS of an installed instance (no-op when it is not installed)."""
        await self._redis.eval(_SET_IF_EXISTS, 1, auth_key(saleor_api_url), "jwks", jwks)

    async def delete(self, saleor_api_url: str) -> None:
        await self._redis.srem(INSTANCES_KEY, saleor_api_url)
        await self._redis.delete(auth_key(saleor_api_url))

    async def all(self) -> list[AuthData]:
        urls = cast("set[str]", await self._redis.smembers(INSTANCES_KEY))
        found = [await self.get(url) for url in sorted(urls)]
        return [auth for auth in found if auth is not None]
