"""The configuration repository on a real Redis: defaults, validation, atomic writes, secrets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from saleor_up2pay.configuration import (
    ConfigurationInput,
    ConfigurationInUse,
    ConfigurationNotFound,
    ConfigurationRepository,
    InvalidConfiguration,
    Up2payConfiguration,
    field_errors,
    method_info,
)
from saleor_up2pay.redis_store import instance_key, purge_instance
from saleor_up2pay.secretbox import SecretBox
from saleor_up2pay.settings import Settings

URL = "https://shop.example.com/graphql/"
OTHER_URL = "https://other.example.com/graphql/"
KEY = "A1B2C3D4" * 16
OTHER_KEY = "0F" * 64


def make_input(**overrides: Any) -> ConfigurationInput:
    data: dict[str, Any] = {
        "name": "Boutique test",
        "environment": "test",
        "site": "1999888",
        "rang": "32",
        "identifiant": "107904482",
        "hmac_key": KEY,
        "methods": ["APETIZ", "CVCONNECT"],
        "capture_mode": "follow_saleor",
    }
    data.update(overrides)
    return ConfigurationInput.model_validate(data)


@pytest.fixture
def repo(redis: aioredis.Redis, settings: Settings) -> ConfigurationRepository:
    return ConfigurationRepository(redis, SecretBox("test-secret-key"), settings)


class TestDefaults:
    async def test_unmapped_channel_gets_the_sandbox_with_test_credentials(
        self, repo: ConfigurationRepository
    ) -> None:
        """With nothing set, a channel uses the sandbox with the settings' test credentials."""
        config = await repo.for_channel(URL, "default-channel")
        assert config.id == "default"
        assert config.environment == "sandbox"
        assert (config.site, config.rang, config.identifiant) == ("1999888", "32", "107904482")
        assert config.methods == ["APETIZ", "SODEXO", "UPCHEQUDEJ", "CVCONNECT"]

    async def test_default_follows_settings(
        self, redis: aioredis.Redis, settings: Settings
    ) -> None:
        """UP2PAY_* settings shape the default configuration."""
        custom = settings.model_copy(
            update={
                "up2pay_environment": "test",
                "allowed_saleor_api_urls": [URL],  # required outside the sandbox
                "up2pay_site": "1234567",
                "up2pay_methods": ["SODEXO"],
            }
        )
        repo = ConfigurationRepository(redis, SecretBox("k"), custom)
        config = await repo.for_channel(URL, "any")
        assert (config.environment, config.site, config.methods) == ("test", "1234567", ["SODEXO"])

    def test_methods_table_has_labels_and_kinds(self) -> None:
        """Each method has its merchant-facing label and voucher kind."""
        assert method_info("SODEXO").label == "Pluxee"
        assert method_info("CVCONNECT").kind == "holiday_voucher"
        assert method_info("UPCHEQUDEJ").kind == "meal_voucher"


class TestValidation:
    @pytest.mark.parametrize(
        ("field", "value", "code"),
        [
            ("name", "  ", "name_required"),
            ("name", "x" * 81, "name_too_long"),
            ("environment", "prod", "invalid_choice"),
            ("site", "123456", "site_format"),
            ("site", "12345678", "site_format"),
            ("site", "12a4567", "site_format"),
            ("rang", "1", "rang_format"),
            ("rang", "1234", "rang_format"),
            ("identifiant", "", "identifiant_format"),
            ("identifiant", "1234567890", "identifiant_format"),
            ("hmac_key", "AB" * 63, "hmac_key_format"),
            ("hmac_key", "G" * 128, "hmac_key_format"),
            ("methods", [], "methods_required"),
            ("methods", ["VISA"], "invalid_choice"),
            ("capture_mode", "later", "invalid_choice"),
        ],
    )
    def test_each_field_is_rejected_with_its_code(self, field: str, value: Any, code: str) -> None:
        """A bad value fails on its own field, with a stable code and a readable message."""
        with pytest.raises(ValidationError) as info:
            make_input(**{field: value})
        errors = field_errors(info.value)
        assert [(e.field, e.code) for e in errors] == [(field, code)]
        assert errors[0].message

    def test_valid_edges_are_accepted(self) -> None:
        """RANG of 3 digits, a 1-digit IDENTIFIANT and a lower-case key are fine; spaces trimmed."""
        data = make_input(rang="001", identifiant="7", hmac_key=" " + KEY.lower() + " ")
        assert (data.rang, data.identifiant, data.hmac_key) == ("001", "7", KEY)

    def test_input_repr_never_shows_the_key(self) -> None:
        """Printing an input (e.g. in a log) does not reveal the HMAC key."""
        assert KEY not in repr(make_input())
        assert KEY not in str(make_input())

    def test_configuration_repr_never_shows_the_key(self) -> None:
        """A configuration's repr masks the key; only the last four characters are exposed."""
        config = Up2payConfiguration(id="c1", **make_input().model_dump(exclude={"id"}))
        assert KEY not in repr(config)
        assert config.key_hint == KEY[-4:]


class TestSave:
    async def test_create_then_read_back(self, repo: ConfigurationRepository) -> None:
        """A new configuration gets an id and is listed and readable."""
        saved = await repo.save(URL, make_input())
        assert saved.id.startswith("cfg-")
        assert await repo.get(URL, saved.id) == saved
        assert [c.id for c in await repo.list(URL)] == [saved.id]
        assert await repo.list(OTHER_URL) == []

    async def test_key_is_encrypted_at_rest(
        self, repo: ConfigurationRepository, redis: aioredis.Redis
    ) -> None:
        """Redis holds the HMAC key encrypted, never in clear."""
        saved = await repo.save(URL, make_input())
        raw = await redis.hget(instance_key(URL, "config", "items"), saved.id)
        assert raw is not None
        assert KEY not in raw
        assert KEY.lower() not in raw

    async def test_empty_key_keeps_the_stored_one(self, repo: ConfigurationRepository) -> None:
        """Updating with an empty key field keeps the key; other fields change."""
        saved = await repo.save(URL, make_input())
        updated = await repo.save(URL, make_input(id=saved.id, hmac_key="", name="Renamed"))
        assert updated.name == "Renamed"
        assert updated.hmac_key.get_secret_value() == KEY

    async def test_new_key_replaces_the_stored_one(self, repo: ConfigurationRepository) -> None:
        """A new key replaces the old one."""
        saved = await repo.save(URL, make_input())
        updated = await repo.save(URL, make_input(id=saved.id, hmac_key=OTHER_KEY))
        assert (await repo.get(URL, updated.id)).key_hint == OTHER_KEY[-4:]

    async def test_creating_without_a_key_is_refused(self, repo: ConfigurationRepository) -> None:
        """A new configuration needs a key; nothing is stored."""
        with pytest.raises(InvalidConfiguration) as info:
            await repo.save(URL, make_input(hmac_key=""))
        assert [e.code for e in info.value.errors] == ["hmac_key_required"]
        assert await repo.list(URL) == []

    async def test_updating_an_unknown_id_is_refused(self, repo: ConfigurationRepository) -> None:
        """An id the client made up is not created."""
        with pytest.raises(ConfigurationNotFound):
            await repo.save(URL, make_input(id="cfg-made-up"))
        assert await repo.list(URL) == []

    async def test_default_is_read_only(self, repo: ConfigurationRepository) -> None:
        """The settings-based default cannot be overwritten."""
        with pytest.raises(InvalidConfiguration):
            await repo.save(URL, make_input(id="default"))

    async def test_concurrent_updates_leave_one_whole_configuration(
        self, repo: ConfigurationRepository
    ) -> None:
        """Racing saves never mix fields of two writes."""
        saved = await repo.save(URL, make_input())
        variants = [
            make_input(id=saved.id, name=f"n{i}", site=f"{i}" * 7, hmac_key="")
            for i in range(1, 10)
        ]
        await asyncio.gather(*(repo.save(URL, v) for v in variants))
        final = await repo.get(URL, saved.id)
        assert final.site == final.name[1] * 7
        assert final.hmac_key.get_secret_value() == KEY

    async def test_purge_instance_removes_everything(
        self, repo: ConfigurationRepository, redis: aioredis.Redis
    ) -> None:
        """Configurations and mappings live under the instance prefix (APP_DELETED purges them)."""
        saved = await repo.save(URL, make_input())
        await repo.map_channel(URL, "fr", saved.id)
        await purge_instance(redis, URL)
        assert await repo.list(URL) == []
        assert await repo.channel_mapping(URL) == {}


class TestChannels:
    async def test_mapped_channel_uses_its_configuration(
        self, repo: ConfigurationRepository
    ) -> None:
        """A mapped channel reads its configuration; other channels keep the default."""
        saved = await repo.save(URL, make_input())
        await repo.map_channel(URL, "fr", saved.id)
        assert (await repo.for_channel(URL, "fr")).id == saved.id
        assert (await repo.for_channel(URL, "be")).id == "default"
        assert (await repo.for_channel(OTHER_URL, "fr")).id == "default"
        assert await repo.channel_mapping(URL) == {"fr": saved.id}

    async def test_a_payment_keeps_its_session_configuration_else_its_channel_s(
        self, repo: ConfigurationRepository
    ) -> None:
        """for_payment: the session's configuration first, then the channel's, then the default."""
        started = await repo.save(URL, make_input(name="Started with"))
        mapped = await repo.save(URL, make_input(name="Mapped now"))
        await repo.map_channel(URL, "fr", mapped.id)
        assert (await repo.for_payment(URL, started.id, "fr")).id == started.id
        assert (await repo.for_payment(URL, None, "fr")).id == mapped.id
        assert (await repo.for_payment(URL, None, None)).id == "default"

    async def test_unmapping_returns_to_default(self, repo: ConfigurationRepository) -> None:
        """Mapping to None puts the channel back on the default configuration."""
        saved = await repo.save(URL, make_input())
        await repo.map_channel(URL, "fr", saved.id)
        await repo.map_channel(URL, "fr", None)
        assert (await repo.for_channel(URL, "fr")).id == "default"

    async def test_mapping_to_unknown_configuration_is_refused(
        self, repo: ConfigurationRepository
    ) -> None:
        """A channel cannot point at a configuration that does not exist."""
        with pytest.raises(ConfigurationNotFound):
            await repo.map_channel(URL, "fr", "cfg-nope")
        assert await repo.channel_mapping(URL) == {}

    async def test_delete_refused_while_mapped(self, repo: ConfigurationRepository) -> None:
        """A configuration in use cannot be deleted; it can once the channel moved."""
        saved = await repo.save(URL, make_input())
        await repo.map_channel(URL, "fr", saved.id)
        with pytest.raises(ConfigurationInUse) as info:
            await repo.delete(URL, saved.id)
        assert info.value.channels == ["fr"]
        await repo.map_channel(URL, "fr", None)
        await repo.delete(URL, saved.id)
        assert await repo.list(URL) == []

    async def test_delete_unknown_is_not_found(self, repo: ConfigurationRepository) -> None:
        """Deleting what does not exist says so."""
        with pytest.raises(ConfigurationNotFound):
            await repo.delete(URL, "cfg-nope")


class TestKeyRotation:
    async def test_rotation_keeps_keys_readable_with_the_new_secret_only(
        self, redis: aioredis.Redis, settings: Settings
    ) -> None:
        """Old SECRET_KEY as fallback, rotate, then the new key alone decrypts everything."""
        old = ConfigurationRepository(redis, SecretBox("old-secret"), settings)
        saved = await old.save(URL, make_input())
        both = ConfigurationRepository(redis, SecretBox("new-secret", ["old-secret"]), settings)
        assert await both.rotate_secrets(URL) == 1
        new_only = ConfigurationRepository(redis, SecretBox("new-secret"), settings)
        assert (await new_only.get(URL, saved.id)).hmac_key.get_secret_value() == KEY

    async def test_unknown_secret_key_fails_closed(
        self, redis: aioredis.Redis, settings: Settings
    ) -> None:
        """A key encrypted with a forgotten SECRET_KEY is an error, not a silent default."""
        saved = await ConfigurationRepository(redis, SecretBox("old"), settings).save(
            URL, make_input()
        )
        await ConfigurationRepository(redis, SecretBox("old"), settings).map_channel(
            URL, "fr", saved.id
        )
        other = ConfigurationRepository(redis, SecretBox("unrelated"), settings)
        with pytest.raises(Exception, match="cannot be decrypted") as info:
            await other.for_channel(URL, "fr")
        assert KEY not in str(info.value)
        raw = await redis.hget(instance_key(URL, "config", "items"), saved.id)
        assert json.loads(raw or "{}")["id"] == saved.id


class TestRotateSecretsCommand:
    async def test_command_reencrypts_keys_and_app_tokens_of_every_instance(
        self, redis: aioredis.Redis, redis_server: Any, settings: Settings
    ) -> None:
        """`saleor-up2pay rotate-secrets` leaves everything readable with the new key alone."""
        from saleor_up2pay.configuration.cli import rotate_secrets
        from saleor_up2pay.saleor.apl import AuthData, AuthStore

        old_box = SecretBox("old-secret")
        first = await ConfigurationRepository(redis, old_box, settings).save(URL, make_input())
        second = await ConfigurationRepository(redis, old_box, settings).save(
            OTHER_URL, make_input(hmac_key=OTHER_KEY)
        )
        await AuthStore(redis, old_box).set(
            AuthData(saleor_api_url=URL, token="app-token-1", app_id="QXBwOjE=", jwks="{}")
        )
        rotated_settings = settings.model_copy(
            update={
                "secret_key": "new-secret",
                "secret_key_fallbacks": ["old-secret"],
                "redis_url": f"unix://{redis_server.socket_file}",
            }
        )

        assert await rotate_secrets(rotated_settings) == (2, 1)

        new_box = SecretBox("new-secret")
        new_repo = ConfigurationRepository(redis, new_box, settings)
        assert (await new_repo.get(URL, first.id)).hmac_key.get_secret_value() == KEY
        assert (await new_repo.get(OTHER_URL, second.id)).hmac_key.get_secret_value() == OTHER_KEY
        auth = await AuthStore(redis, new_box).get(URL)
        assert auth is not None
        assert auth.token == "app-token-1"


class TestInvalidDefault:
    async def test_empty_method_list_is_a_clear_app_error(
        self, redis: aioredis.Redis, settings: Settings
    ) -> None:
        """UP2PAY_METHODS set to nothing fails with a message naming the setting, not a crash."""
        from saleor_up2pay.errors import AppNotConfigured

        repo = ConfigurationRepository(
            redis, SecretBox("k"), settings.model_copy(update={"up2pay_methods": []})
        )
        with pytest.raises(AppNotConfigured, match="UP2PAY_"):
            await repo.for_channel(URL, "fr")
