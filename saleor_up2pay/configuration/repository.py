"""Redis storage of Up2pay configurations and of which channel uses which.

Layout (per Saleor instance, under :func:`~saleor_up2pay.redis_store.instance_key`):

- ``config:items`` — hash, configuration id → JSON; the HMAC key inside is a SecretBox token.
- ``config:channels`` — hash, channel slug → configuration id. A channel without an entry uses the
  default configuration built from settings.

Every write is a single command or one WATCH/MULTI/EXEC transaction, so a reader never sees half a
configuration and a configuration cannot be deleted while a channel is being mapped to it.
Deleting a configuration that a channel still uses is refused (:class:`ConfigurationInUse`): the
alternative, silently moving those channels to the default (possibly the sandbox), could send live
shoppers to a test environment.

New payment sessions read a channel's configuration through a short in-process cache
(``for_channel(..., cached=True)``, :data:`CONFIG_CACHE_SECONDS`); every write through this
repository drops the instance's cached entries at once, so the process that saved a change uses
it for the next session, and the other processes within the TTL. Order actions (captures,
refunds, cancels) and the dashboard always read Redis.
"""

from __future__ import annotations

import builtins
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import structlog
from pydantic import SecretStr, ValidationError
from redis.exceptions import WatchError

from saleor_up2pay.configuration.models import (
    DEFAULT_CONFIGURATION_ID,
    ConfigurationInput,
    FieldError,
    MethodCode,
    Up2payConfiguration,
    field_errors,
)
from saleor_up2pay.errors import AppNotConfigured, BadRequest, NotFound
from saleor_up2pay.redis_store import KEY_PREFIX, Pipeline, Redis, instance_key
from saleor_up2pay.secretbox import SecretBox, SecretDecryptionError
from saleor_up2pay.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")

_MAX_TRANSACTION_ATTEMPTS = 20
CHANNEL_SLUG_MAX_LENGTH = 255


class ConfigurationNotFound(NotFound):
    """No configuration with this id for this Saleor instance."""

    public_code = "CONFIGURATION_NOT_FOUND"


class ConfigurationInUse(BadRequest):
    """A configuration cannot be deleted while channels use it."""

    public_code = "CONFIGURATION_IN_USE"

    def __init__(self, channels: builtins.list[str]) -> None:
        super().__init__(
            "This configuration is used by channel(s) "
            + ", ".join(sorted(channels))
            + ": map them to another configuration first."
        )
        self.channels = sorted(channels)


class InvalidConfiguration(BadRequest):
    """Input rejected by validation; ``errors`` says which field and why."""

    public_code = "INVALID_CONFIGURATION"

    def __init__(self, errors: builtins.list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class ConfigurationUnreadable(AppNotConfigured):
    """A stored HMAC key cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS."""

    public_code = "CONFIGURATION_UNREADABLE"


CONFIG_CACHE_SECONDS = 5.0
"""How long ``for_channel(..., cached=True)`` answers from memory: a configuration change saved
in another process applies to new payment sessions within this many seconds (in this process, at
once). A session started meanwhile carries the previous configuration's id and environment; its
IPN and order actions read the configuration afresh."""
CONFIG_CACHE_SIZE = 1024
"""(instance, channel) entries kept in memory per process (oldest dropped first)."""


class ConfigurationRepository:
    """Configurations of every Saleor instance, with their channel mapping."""

    def __init__(
        self,
        redis: Redis,
        secretbox: SecretBox,
        settings: Settings,
        *,
        cache_seconds: float = CONFIG_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._secretbox = secretbox
        self._settings = settings
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Up2payConfiguration]] = {}

    def forget(self, saleor_api_url: str | None = None) -> None:
        """Drop the cached configurations of one instance (None: of all of them)."""
        if saleor_api_url is None:
            self._cache.clear()
            return
        for key in [key for key in self._cache if key[0] == saleor_api_url]:
            del self._cache[key]

    # --- reads --------------------------------------------------------------------------------

    def default(self) -> Up2payConfiguration:
        """The configuration from ``UP2PAY_*`` settings (the sandbox when nothing is set)."""
        s = self._settings
        try:
            return self._default_from(s)
        except ValidationError as exc:
            problems = "; ".join(f"{e.field}: {e.message}" for e in field_errors(exc))
            msg = f"The default Up2pay configuration (UP2PAY_* settings) is invalid: {problems}"
            raise AppNotConfigured(msg) from None

    @staticmethod
    def _default_from(s: Settings) -> Up2payConfiguration:
        return Up2payConfiguration(
            id=DEFAULT_CONFIGURATION_ID,
            name="Default (app settings)",
            environment=s.up2pay_environment,
            site=s.up2pay_site,
            rang=s.up2pay_rang,
            identifiant=s.up2pay_identifiant,
            hmac_key=SecretStr(s.up2pay_hmac_key),
            methods=cast(builtins.list[MethodCode], list(s.up2pay_methods)),
            capture_mode="follow_saleor",
            meal_eligible_product_types=list(s.up2pay_meal_eligible_product_types),
            storefront_origins=list(s.up2pay_storefront_origins),
        )

    async def for_channel(
        self, saleor_api_url: str, channel_slug: str, *, cached: bool = False
    ) -> Up2payConfiguration:
        """The configuration a channel uses: its mapped one, else :meth:`default`.

        The default (``UP2PAY_*``) account only serves instances the settings admit
        (:meth:`~saleor_up2pay.settings.Settings.default_account_allowed`); any other instance's
        unmapped channel is :class:`~saleor_up2pay.errors.AppNotConfigured`. With ``cached``
        (new payment sessions), an answer up to :data:`CONFIG_CACHE_SECONDS` old may be given;
        refusals are never cached.
        """
        if not cached:
            return await self._for_channel(saleor_api_url, channel_slug)
        key = (saleor_api_url, channel_slug)
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        config = await self._for_channel(saleor_api_url, channel_slug)
        if self._cache_seconds > 0:
            self._cache.pop(key, None)
            self._cache[key] = (now + self._cache_seconds, config)
            while len(self._cache) > CONFIG_CACHE_SIZE:
                del self._cache[next(iter(self._cache))]
        return config

    async def _for_channel(self, saleor_api_url: str, channel_slug: str) -> Up2payConfiguration:
        config_id = await self._redis.hget(_channels_key(saleor_api_url), channel_slug)
        if config_id is None:
            if not self._settings.default_account_allowed(saleor_api_url):
                log.warning(
                    "config.default_refused", saleor_api_url=saleor_api_url, channel=channel_slug
                )
                msg = (
                    f"Channel {channel_slug} has no Up2pay configuration: choose one in the app's "
                    "page in the Dashboard."
                )
                raise AppNotConfigured(msg)
            return self.default()
        raw = await self._redis.hget(_items_key(saleor_api_url), config_id)
        if raw is None:
            # Cannot happen through this class (delete refuses mapped ids); fail closed rather
            # than fall back to the default, which may be another environment.
            log.error("config.mapped_configuration_missing", channel=channel_slug, id=config_id)
            msg = f"Channel {channel_slug} is mapped to a configuration that no longer exists."
            raise AppNotConfigured(msg)
        return self._decode(_text(raw))

    async def list(self, saleor_api_url: str) -> builtins.list[Up2payConfiguration]:
        """Stored configurations (not the default), by name."""
        raw = await self._redis.hgetall(_items_key(saleor_api_url))
        configs = [self._decode(_text(value)) for value in raw.values()]
        return sorted(configs, key=lambda c: (c.name.casefold(), c.id))

    async def get(self, saleor_api_url: str, config_id: str) -> Up2payConfiguration:
        """One configuration by id (``"default"`` gives :meth:`default`)."""
        if config_id == DEFAULT_CONFIGURATION_ID:
            return self.default()
        raw = await self._redis.hget(_items_key(saleor_api_url), config_id)
        if raw is None:
            raise ConfigurationNotFound("This configuration does not exist (any more).")
        return self._decode(_text(raw))

    async def for_payment(
        self, saleor_api_url: str, config_id: str | None, channel: str | None
    ) -> Up2payConfiguration:
        """The configuration of a payment already made (for GAE actions on its legs): the one its
        session started with (``config_id``), else its channel's, else :meth:`default`."""
        if config_id is not None:
            return await self.get(saleor_api_url, config_id)
        if channel is not None:
            return await self.for_channel(saleor_api_url, channel)
        return self.default()

    async def channel_mapping(self, saleor_api_url: str) -> dict[str, str]:
        """Channel slug → configuration id, for mapped channels only."""
        raw = await self._redis.hgetall(_channels_key(saleor_api_url))
        return {_text(k): _text(v) for k, v in raw.items()}

    # --- writes -------------------------------------------------------------------------------

    async def save(self, saleor_api_url: str, data: ConfigurationInput) -> Up2payConfiguration:
        """Create (no id) or update a configuration; an empty HMAC key keeps the stored one."""
        if data.id == DEFAULT_CONFIGURATION_ID:
            raise InvalidConfiguration(
                [
                    FieldError(
                        "id",
                        "default_read_only",
                        "The default configuration comes from the app's settings.",
                    )
                ]
            )
        items = _items_key(saleor_api_url)
        config_id = data.id or _new_id()

        async def write(pipe: Pipeline) -> Up2payConfiguration:
            stored_key: str | None = None
            if data.id is not None:
                raw = await pipe.hget(items, config_id)
                if raw is None:
                    raise ConfigurationNotFound("This configuration does not exist (any more).")
                stored_key = self._decode(_text(raw)).hmac_key.get_secret_value()
            hmac_key = data.hmac_key or stored_key
            if not hmac_key:
                raise InvalidConfiguration(
                    [FieldError("hmac_key", "hmac_key_required", "Enter the HMAC key.")]
                )
            try:
                config = Up2payConfiguration(
                    id=config_id,
                    **data.model_dump(exclude={"id", "hmac_key"}),
                    hmac_key=SecretStr(hmac_key),
                )
            except ValidationError as exc:  # pragma: no cover - input has the same rules
                raise InvalidConfiguration(field_errors(exc)) from None
            _begin(pipe)
            pipe.hset(items, config_id, self._encode(config))
            await pipe.execute()
            return config

        config = await self._transaction(write, items)
        self.forget(saleor_api_url)
        log.info(
            "config.saved",
            saleor_api_url=saleor_api_url,
            id=config.id,
            environment=config.environment,
            created=data.id is None,
        )
        return config

    async def delete(self, saleor_api_url: str, config_id: str) -> None:
        """Delete a configuration; refused (:class:`ConfigurationInUse`) while a channel uses it."""
        items = _items_key(saleor_api_url)
        channels = _channels_key(saleor_api_url)

        async def remove(pipe: Pipeline) -> None:
            if not await pipe.hexists(items, config_id):
                raise ConfigurationNotFound("This configuration does not exist (any more).")
            mapping = await pipe.hgetall(channels)
            users = [_text(slug) for slug, cid in mapping.items() if _text(cid) == config_id]
            if users:
                raise ConfigurationInUse(users)
            _begin(pipe)
            pipe.hdel(items, config_id)
            await pipe.execute()

        await self._transaction(remove, items, channels)
        self.forget(saleor_api_url)
        log.info("config.deleted", saleor_api_url=saleor_api_url, id=config_id)

    async def map_channel(
        self, saleor_api_url: str, channel_slug: str, config_id: str | None
    ) -> None:
        """Make a channel use a configuration; ``None`` (or ``"default"``) = the default one."""
        if not channel_slug or len(channel_slug) > CHANNEL_SLUG_MAX_LENGTH:
            raise BadRequest("Unknown channel.")
        channels = _channels_key(saleor_api_url)
        if config_id is None or config_id == DEFAULT_CONFIGURATION_ID:
            await self._redis.hdel(channels, channel_slug)
            self.forget(saleor_api_url)
            log.info("config.channel_unmapped", saleor_api_url=saleor_api_url, channel=channel_slug)
            return
        items = _items_key(saleor_api_url)

        async def assign(pipe: Pipeline) -> None:
            if not await pipe.hexists(items, config_id):
                raise ConfigurationNotFound("This configuration does not exist (any more).")
            _begin(pipe)
            pipe.hset(channels, channel_slug, config_id)
            await pipe.execute()

        await self._transaction(assign, items, channels)
        self.forget(saleor_api_url)
        log.info(
            "config.channel_mapped",
            saleor_api_url=saleor_api_url,
            channel=channel_slug,
            id=config_id,
        )

    async def rotate_secrets(self, saleor_api_url: str) -> int:
        """Re-encrypt every stored HMAC key with the current SECRET_KEY; returns how many.

        Run after moving the old key to SECRET_KEY_FALLBACKS; once done for every instance the
        fallback can be removed. Each configuration is rewritten only if unchanged meanwhile.
        """
        self.forget(saleor_api_url)
        return await self._rotate_items(_items_key(saleor_api_url))

    async def _rotate_items(self, items: str) -> int:
        rotated = 0
        for config_id in [_text(k) for k in await self._redis.hkeys(items)]:

            async def rewrite(pipe: Pipeline, config_id: str = config_id) -> bool:
                raw = await pipe.hget(items, config_id)
                if raw is None:
                    return False
                record = json.loads(_text(raw))
                try:
                    record["hmac_key"] = self._secretbox.rotate(record["hmac_key"])
                except SecretDecryptionError:
                    raise ConfigurationUnreadable(_UNREADABLE) from None
                _begin(pipe)
                pipe.hset(items, config_id, json.dumps(record, sort_keys=True))
                await pipe.execute()
                return True

            rotated += int(await self._transaction(rewrite, items))
        return rotated

    async def rotate_all_secrets(self) -> int:
        """:meth:`rotate_secrets` for every Saleor instance stored in this Redis."""
        self.forget()
        rotated = 0
        pattern = f"{KEY_PREFIX}i:*:config:items"
        async for key in self._redis.scan_iter(match=pattern, count=500):
            rotated += await self._rotate_items(_text(key))
        return rotated

    # --- internals ----------------------------------------------------------------------------

    async def _transaction(self, body: Callable[[Pipeline], Awaitable[T]], *watch: str) -> T:
        """Run ``body`` under WATCH on ``watch``; retried when a watched key changed."""
        for _ in range(_MAX_TRANSACTION_ATTEMPTS):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(*watch)
                    return await body(pipe)
                except WatchError:
                    continue
        msg = "The configuration is being changed by someone else; try again."
        raise BadRequest(msg)

    def _encode(self, config: Up2payConfiguration) -> str:
        record: dict[str, Any] = config.model_dump(mode="json", exclude={"hmac_key"})
        record["hmac_key"] = self._secretbox.encrypt(config.hmac_key.get_secret_value())
        record["updated_at"] = datetime.now(UTC).isoformat()
        return json.dumps(record, sort_keys=True)

    def _decode(self, raw: str) -> Up2payConfiguration:
        record = json.loads(raw)
        record.pop("updated_at", None)
        try:
            record["hmac_key"] = SecretStr(self._secretbox.decrypt(record["hmac_key"]))
        except SecretDecryptionError:
            log.error("config.key_undecryptable", id=record.get("id"))
            raise ConfigurationUnreadable(_UNREADABLE) from None
        return Up2payConfiguration.model_validate(record)


_UNREADABLE = (
    "A stored HMAC key cannot be decrypted: SECRET_KEY changed without listing the previous "
    "key in SECRET_KEY_FALLBACKS."
)


def _text(value: bytes | str) -> str:
    """Redis answers are str (decode_responses=True); bytes only from a misconfigured client."""
    return value.decode() if isinstance(value, bytes) else value


def _begin(pipe: Pipeline) -> None:
    """Switch a watching pipeline to buffered MULTI mode."""
    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def _items_key(saleor_api_url: str) -> str:
    return instance_key(saleor_api_url, "config", "items")


def _channels_key(saleor_api_url: str) -> str:
    return instance_key(saleor_api_url, "config", "channels")


def _new_id() -> str:
    return "cfg-" + secrets.token_hex(6)
