"""The token exchange Saleor performs at installation (``POST tokenTargetUrl``).

The request is unauthenticated, so nothing is stored before the token is proven, and nothing is
sent anywhere before the API URL is checked: it must look like a Saleor API URL (http(s), a host,
no userinfo, query or fragment, a path ending in ``/graphql/``) and pass ``ALLOWED_SALEOR_API_URLS``
(empty only in the sandbox environment, see :mod:`saleor_up2pay.settings`). Then the token must
answer ``{ app { id } }`` on that very API, and the instance's JWKS must be reachable at its
origin. Then the auth data replaces whatever an
earlier installation left. Error bodies follow the app-sdk (``{"success": false, "error": {code,
message}}``): Saleor shows ``error.message`` as the installation failure.
"""

from __future__ import annotations

from typing import Protocol

import httpx
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from saleor_up2pay.errors import AppError, BadRequest, Forbidden, Unauthorized
from saleor_up2pay.saleor.apl import AuthData, AuthStore
from saleor_up2pay.saleor.client import SaleorClient, SaleorError
from saleor_up2pay.saleor.signature import JwksUnavailable, fetch_jwks
from saleor_up2pay.settings import Settings, split_saleor_api_url

log = structlog.get_logger(__name__)

MAX_API_URL_LENGTH = 2048
API_PATH_SUFFIX = "/graphql/"
"""Saleor's API is always served at ``.../graphql/`` (recorded: ``http://host:port/graphql/``)."""


class InvalidSaleorApiUrl(BadRequest):
    public_code = "INVALID_SALEOR_API_URL"


class MissingAuthToken(BadRequest):
    public_code = "MISSING_AUTH_TOKEN"


class SaleorUrlProhibited(Forbidden):
    public_code = "SALEOR_URL_PROHIBITED"


class UnknownAppId(Unauthorized):
    public_code = "UNKNOWN_APP_ID"


class JwksNotAvailable(Unauthorized):
    public_code = "JWKS_NOT_AVAILABLE"


class RegistrationFailed(AppError):
    status_code = 500
    public_code = "REGISTRATION_FAILED"


def check_saleor_api_url(saleor_api_url: str | None) -> str:
    """The ``Saleor-Api-Url`` header, if it is an absolute http(s) URL of a Saleor API.

    Userinfo, a query or a fragment are refused too: Saleor never sends them, and the URL is the
    key of everything stored for the instance and the base of the JWKS URL. The path must end in
    ``/graphql/``, as Saleor's API always does: the register call POSTs to this URL, and this
    keeps it from being pointed at arbitrary endpoints.
    """
    if not saleor_api_url:
        msg = "Missing saleor-api-url header."
        raise InvalidSaleorApiUrl(msg)
    parts = (
        split_saleor_api_url(saleor_api_url) if len(saleor_api_url) <= MAX_API_URL_LENGTH else None
    )
    if parts is None:
        msg = "The saleor-api-url header is not an absolute http(s) URL."
        raise InvalidSaleorApiUrl(msg)
    if not parts[3].endswith(API_PATH_SUFFIX):
        msg = "The saleor-api-url header is not a Saleor API URL (…/graphql/)."
        raise InvalidSaleorApiUrl(msg)
    return saleor_api_url


class RegisterServices(Protocol):
    """What registering needs from the app (the app's ``Services`` has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def http(self) -> httpx.AsyncClient: ...

    @property
    def auth_store(self) -> AuthStore: ...


async def register(services: RegisterServices, saleor_api_url: str, auth_token: str) -> AuthData:
    """Prove the token, fetch the JWKS and store the installation; raises an ``AppError``."""
    settings = services.settings
    if not settings.allowed_saleor_api_urls and settings.up2pay_environment != "sandbox":
        # Settings refuse this combination at start; fail closed should one be built anyway.
        log.error("saleor.register_allow_list_missing", saleor_api_url=saleor_api_url)
        msg = "This app expects to be installed only in allowed Saleor instances"
        raise SaleorUrlProhibited(msg)
    if not settings.allowed_saleor_api_urls:
        log.warning("saleor.register_allow_list_empty", saleor_api_url=saleor_api_url)
    elif not settings.saleor_api_url_allowed(saleor_api_url):
        log.warning("saleor.register_prohibited", saleor_api_url=saleor_api_url)
        msg = "This app expects to be installed only in allowed Saleor instances"
        raise SaleorUrlProhibited(msg)

    client = SaleorClient(services.http, saleor_api_url, auth_token)
    try:
        data = await client.execute("app_id")
    except SaleorError as exc:
        log.warning("saleor.register_app_id_failed", saleor_api_url=saleor_api_url, reason=str(exc))
        msg = "Could not fetch the app id with the token Saleor sent."
        raise UnknownAppId(msg) from None
    app = data.get("app")
    app_id = app.get("id") if isinstance(app, dict) else None
    if not isinstance(app_id, str) or not app_id:
        log.warning("saleor.register_app_id_missing", saleor_api_url=saleor_api_url)
        msg = "Could not fetch the app id with the token Saleor sent."
        raise UnknownAppId(msg)

    try:
        jwks = await fetch_jwks(services.http, saleor_api_url)
    except JwksUnavailable as exc:
        log.warning("saleor.register_jwks_failed", saleor_api_url=saleor_api_url, reason=str(exc))
        msg = "Could not fetch the JWKS of this Saleor instance."
        raise JwksNotAvailable(msg) from None

    auth = AuthData(saleor_api_url=saleor_api_url, token=auth_token, app_id=app_id, jwks=jwks)
    try:
        await services.auth_store.set(auth)
    except (RedisConnectionError, RedisTimeoutError):
        raise  # 503 STORE_UNAVAILABLE with Retry-After (saleor_up2pay.errors): Saleor may retry
    except Exception as exc:
        log.exception("saleor.register_store_failed", saleor_api_url=saleor_api_url)
        msg = "Registration failed: could not save the auth data."
        raise RegistrationFailed(msg) from exc
    log.info("saleor.registered", saleor_api_url=saleor_api_url, app_id=app_id)
    return auth
