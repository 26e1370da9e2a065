"""Bad settings stop the app at start with one clear line per problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from saleor_up2pay.cli import main
from saleor_up2pay.settings import Settings, SettingsError, load_settings, parse_redis_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env file and no inherited app variables: only what each test sets."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper() in {
            "APP_URL",
            "PORT",
            "HOST",
            "REDIS_URL",
            "LOG_LEVEL",
            "LOG_FORMAT",
        } or name.upper().startswith(("UP2PAY_", "ALLOWED_", "SECRET_KEY")):
            monkeypatch.delenv(name)


class TestSettingsErrors:
    @pytest.mark.parametrize(
        ("name", "value", "expected"),
        [
            ("PORT", "eighty", "PORT: Input should be a valid integer"),
            ("PORT", "70000", "PORT: Input should be less than or equal to 65535"),
            ("APP_URL", "localhost:8000", "APP_URL: must be an absolute http(s) URL"),
            ("REDIS_URL", "http://redis:6379", "REDIS_URL: must be a redis://"),
            (
                "LOG_LEVEL",
                "LOUD",
                "LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
            ),
            ("LOG_FORMAT", "xml", "LOG_FORMAT: Input should be 'json' or 'console'"),
            (
                "ALLOWED_SALEOR_API_URLS",
                "https://a.example.com/graphql/,shop.example.com",
                "ALLOWED_SALEOR_API_URLS: 'shop.example.com' is not a Saleor API URL pattern",
            ),
            (
                "ALLOWED_SALEOR_API_URLS",
                "https://shop.example.com",
                "ALLOWED_SALEOR_API_URLS: 'https://shop.example.com' is not a Saleor API URL",
            ),
            ("UP2PAY_SITE", "12345", "UP2PAY_SITE: must be the 7-digit SITE"),
            ("UP2PAY_RANG", "1", "UP2PAY_RANG: must be the 2- or 3-digit RANG"),
            ("UP2PAY_IDENTIFIANT", "12ab", "UP2PAY_IDENTIFIANT: must be the IDENTIFIANT"),
            ("UP2PAY_HMAC_KEY", "abc", "UP2PAY_HMAC_KEY: must be 128 hexadecimal"),
            (
                "UP2PAY_METHODS",
                "APETIZ,VISA",
                "UP2PAY_METHODS: unknown method(s) VISA",
            ),
        ],
    )
    def test_bad_value_gives_one_line_naming_the_setting(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
    ) -> None:
        """The error names the environment variable and says what is wrong, on one line."""
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError) as info:
            load_settings()
        lines = str(info.value).splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(expected)

    def test_secret_values_are_not_repeated(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A wrong HMAC key or Redis password never appears in the error line."""
        monkeypatch.setenv("UP2PAY_HMAC_KEY", "SECRETSECRET")
        monkeypatch.setenv("REDIS_URL", "http://:hunter2@redis:6379")
        with pytest.raises(SettingsError) as info:
            load_settings()
        assert "SECRETSECRET" not in str(info.value)
        assert "hunter2" not in str(info.value)

    def test_log_level_is_case_insensitive(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """LOG_LEVEL=debug is read as DEBUG."""
        monkeypatch.setenv("LOG_LEVEL", "debug")
        assert load_settings().log_level == "DEBUG"

    def test_several_bad_values_give_one_line_each(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """All problems are reported at once, one per line."""
        monkeypatch.setenv("PORT", "0")
        monkeypatch.setenv("APP_URL", "ftp://x")
        with pytest.raises(SettingsError) as info:
            load_settings()
        lines = str(info.value).splitlines()
        assert sorted(line.split(":")[0] for line in lines) == ["APP_URL", "PORT"]

    def test_valid_environment_loads(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Good values are read (and APP_URL loses its trailing slash)."""
        monkeypatch.setenv("PORT", "8123")
        monkeypatch.setenv("APP_URL", "https://up2pay.example.com/")
        monkeypatch.setenv(
            "ALLOWED_SALEOR_API_URLS",
            "https://a.example.com/graphql/, https://*.saleor.cloud/graphql/",
        )
        settings = load_settings()
        assert settings.port == 8123
        assert settings.app_url == "https://up2pay.example.com"
        assert settings.saleor_api_url_allowed("https://shop.saleor.cloud/graphql/")
        assert not settings.saleor_api_url_allowed("https://evil.example.com/graphql/")


class TestAllowedSaleorApiUrls:
    @pytest.mark.parametrize(
        ("url", "pattern", "allowed"),
        [
            ("https://shop.example.com/graphql/", "https://shop.example.com/graphql/", True),
            ("https://SHOP.example.com/graphql/", "https://shop.example.com/graphql/", True),
            ("https://shop.example.com/graphql", "https://shop.example.com/graphql/", False),
            ("http://shop.example.com/graphql/", "https://shop.example.com/graphql/", False),
            ("https://a.saleor.cloud/graphql/", "https://*.saleor.cloud/graphql/", True),
            ("https://a.b.saleor.cloud/graphql/", "https://*.saleor.cloud/graphql/", True),
            ("https://saleor.cloud.evil.io/graphql/", "https://*.saleor.cloud/graphql/", False),
            ("https://evil.io/x.saleor.cloud/graphql/", "https://*.saleor.cloud/graphql/", False),
            ("https://evil.io?.saleor.cloud/graphql/", "https://*.saleor.cloud/graphql/", False),
            ("https://evil.io#.saleor.cloud/graphql/", "https://*.saleor.cloud/graphql/", False),
            ("https://a.saleor.cloud@evil.io/graphql/", "https://*.saleor.cloud/graphql/", False),
            ("https://evil.io:1/.saleor.cloud/graphql/", "https://*.saleor.cloud/graphql/", False),
            ("https://a.saleor.cloud:8443/graphql/", "https://*.saleor.cloud/graphql/", False),
            ("http://127.0.0.1:8000/graphql/", "http://127.0.0.1:*/graphql/", True),
            ("http://127.0.0.1/graphql/", "http://127.0.0.1:*/graphql/", True),
            ("http://127.0.0.1:8000/graphql/", "http://127.0.0.1:8001/graphql/", False),
            ("http://[::1]:8000/graphql/", "http://[::1]:8000/graphql/", True),
            ("https://shop.example.com/any/path/", "https://shop.example.com/*", True),
            ("http://saleor_api:8000/graphql/", "http://saleor_api:8000/graphql/", True),
        ],
    )
    def test_pattern_matching(self, url: str, pattern: str, allowed: bool) -> None:
        """Each wildcard only stands for its own part of the URL: host, port or path."""
        settings = Settings(allowed_saleor_api_urls=[pattern])
        assert settings.saleor_api_url_allowed(url) is allowed

    def test_empty_list_allows_any(self) -> None:
        """No pattern: any instance may install (register logs a warning)."""
        assert Settings(allowed_saleor_api_urls=[]).saleor_api_url_allowed("https://x.io/g/")


class TestDefaults:
    def test_app_url_follows_port_when_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With PORT=8123 and no APP_URL, the manifest URLs point at port 8123, not 8000."""
        monkeypatch.setenv("PORT", "8123")
        assert load_settings().app_url == "http://localhost:8123"

    def test_app_url_wins_over_port(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An explicit APP_URL (behind a proxy) is kept as given."""
        monkeypatch.setenv("PORT", "8123")
        monkeypatch.setenv("APP_URL", "https://up2pay.example.com/")
        assert load_settings().app_url == "https://up2pay.example.com"


class TestServeCommand:
    def test_bad_port_exits_2_with_a_configuration_error(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`saleor-up2pay serve` with a bad PORT prints one line and exits 2 without serving."""
        monkeypatch.setenv("PORT", "not-a-port")
        assert main(["serve"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert err[0].startswith("configuration error: PORT: ")

    def test_real_command_exits_2(self, tmp_path: Path) -> None:
        """The installed entry point behaves the same in a fresh process."""
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PORT", "APP_URL"))}
        env["PORT"] = "99999"
        result = subprocess.run(
            [sys.executable, "-m", "saleor_up2pay", "serve"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2
        assert result.stderr.startswith("configuration error: PORT: Input should be less than")
        assert result.stderr.count("\n") == 1

    def test_uvicorn_factory_stops_with_the_same_lines(self, tmp_path: Path) -> None:
        """`uvicorn --factory saleor_up2pay.main:create_app` prints one line per bad setting."""
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PORT", "APP_"))}
        env.update(PORT="eighty", APP_URL="ftp://x")
        result = subprocess.run(
            [sys.executable, "-m", "uvicorn", "--factory", "saleor_up2pay.main:create_app"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert sorted(result.stderr.splitlines()) == [
            "configuration error: APP_URL: must be an absolute http(s) URL, "
            "e.g. https://up2pay.example.com",
            "configuration error: PORT: Input should be a valid integer, "
            "unable to parse string as an integer",
        ]


VALID_ACCOUNT = {"site": "1999888", "rang": "32", "identifiant": "107904482", "hmac_key": "AB" * 64}


class TestAccountFormats:
    """Settings, stored configurations and the Up2pay credentials share one set of formats."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("site", "١٩٩٩٨٨٨"),  # Arabic-Indic digits: \d would take them, Up2pay does not
            ("rang", "３２"),  # full-width digits
            ("identifiant", "1234567890"),
            ("hmac_key", "AB" * 63),
        ],
    )
    def test_a_value_refused_by_one_place_is_refused_by_all(
        self, monkeypatch: pytest.MonkeyPatch, field: str, value: str
    ) -> None:
        """The same SITE/RANG/IDENTIFIANT/key is refused by settings, configuration and credentials."""
        from pydantic import ValidationError

        from saleor_up2pay.configuration.models import ConfigurationInput
        from saleor_up2pay.up2pay.models import Credentials

        values = {**VALID_ACCOUNT, field: value}
        Credentials(**VALID_ACCOUNT)  # the valid account passes everywhere
        with pytest.raises(ValueError, match="must be"):
            Credentials(**values)
        with pytest.raises(ValidationError, match=f"{field}_format"):
            ConfigurationInput(name="Shop", environment="test", methods=["APETIZ"], **values)
        monkeypatch.setenv(f"UP2PAY_{field.upper()}", value)
        with pytest.raises(SettingsError, match=f"UP2PAY_{field.upper()}: must be"):
            load_settings()


class TestRedisUrl:
    """REDIS_URL names one server, a Sentinel group or a Cluster."""

    def test_sentinel_url_is_read(self) -> None:
        target = parse_redis_url(
            "redis+sentinel://:s3cret@s1:26379,s2:26380,s3/up2pay/2?sentinel_password=other"
        )
        assert target.mode == "sentinel"
        assert target.nodes == (("s1", 26379), ("s2", 26380), ("s3", 26379))
        assert (target.master_name, target.db) == ("up2pay", 2)
        assert (target.password, target.sentinel_password) == ("s3cret", "other")
        assert not target.ssl

    def test_cluster_url_is_read(self) -> None:
        target = parse_redis_url("rediss+cluster://user:pw@node1:7000,node2:7001")
        assert target.mode == "cluster"
        assert target.nodes == (("node1", 7000), ("node2", 7001))
        assert (target.username, target.password, target.ssl) == ("user", "pw", True)

    def test_one_server_urls_are_handed_to_the_client_as_they_are(self) -> None:
        for url in ("redis://redis:6379/0", "rediss://redis", "unix:///run/redis.sock"):
            assert parse_redis_url(url).mode == "standalone"

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("redis+sentinel://:hunter2@s1:26379", "REDIS_URL: a redis+sentinel:// URL ends with"),
            ("redis+cluster://:hunter2@n1:7000/3", "REDIS_URL: a redis+cluster:// URL names no"),
            ("redis+cluster://:hunter2@n1:port", "REDIS_URL: must be a redis://"),
        ],
    )
    def test_bad_forms_are_one_line_without_the_password(
        self, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
    ) -> None:
        monkeypatch.setenv("REDIS_URL", url)
        with pytest.raises(SettingsError) as info:
            load_settings()
        (line,) = str(info.value).splitlines()
        assert line.startswith(expected)
        assert "hunter2" not in line
