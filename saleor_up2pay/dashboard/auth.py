"""Who is calling the configuration API: a Dashboard token checked like app-sdk does, and stricter.

Every call carries ``saleor-api-url`` (the instance the page was opened for) and
``authorization-bearer`` (the Dashboard token handed over by App Bridge). The JWKS used is the one
stored for that API URL at installation, never one chosen by the token's own ``iss``. Then:
signature and ``exp`` (H1's :class:`~saleor_up2pay.saleor.signature.JwksVerifier`), ``app`` is our
app's id for that instance, ``iss`` is that instance, ``type`` is ``thirdparty``, and the user
holds ``HANDLE_PAYMENTS``. Any failure raises before anything is read or written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import structlog

from saleor_up2pay.errors import BadRequest, Forbidden, Unauthorized
from saleor_up2pay.saleor.apl import AuthData
from saleor_up2pay.saleor.signature import SignatureInvalid
from saleor_up2pay.services import Services

log = structlog.get_logger(__name__)

TOKEN_HEADER = "authorization-bearer"
API_URL_HEADER = "saleor-api-url"
REQUIRED_PERMISSION = "HANDLE_PAYMENTS"
MAX_TOKEN_LENGTH = 8192
_INVALID = "The Dashboard token was not accepted. Reload the page from the Saleor Dashboard."


class MissingDashboardContext(BadRequest):
    """The request does not say which Saleor instance it is for, or carries no token."""

    public_code = "MISSING_DASHBOARD_TOKEN"


class NotInstalled(Unauthorized):
    """The Saleor API URL given has not installed the app."""

    public_code = "NOT_INSTALLED"


class InvalidDashboardToken(Unauthorized):
    """Bad signature, wrong app, other instance or wrong token type."""

    public_code = "INVALID_TOKEN"


class DashboardTokenExpired(Unauthorized):
    """The token's ``exp`` has passed: the page waits for ``tokenRefresh`` or asks to reload."""

    public_code = "TOKEN_EXPIRED"


class MissingPermission(Forbidden):
    """The staff user lacks ``HANDLE_PAYMENTS``."""

    public_code = "MISSING_PERMISSION"


@dataclass(frozen=True)
class DashboardSession:
    """An authenticated page call: the instance, its auth data and the staff user."""

    saleor_api_url: str
    auth: AuthData = field(repr=False)
    user_email: str | None
    user_id: str | None


async def authenticate(
    services: Services, saleor_api_url: str | None, token: str | None
) -> DashboardSession:
    """Check the Dashboard token for ``saleor_api_url``; raises an ``AppError`` on any doubt."""
    if not saleor_api_url or not token:
        msg = "Open this page from the Saleor Dashboard: the request carries no Dashboard token."
        raise MissingDashboardContext(msg)
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidDashboardToken(_INVALID)
    auth = await services.auth_store.get(saleor_api_url)
    if auth is None:
        raise NotInstalled("This Saleor instance has not installed the app.")
    try:
        claims = await services.jwks_verifier.verify_dashboard_token(auth, token)
    except SignatureInvalid as exc:
        if _expired(token):
            raise DashboardTokenExpired(
                "Your Dashboard session expired. Reload the page to continue."
            ) from None
        log.warning("dashboard.token_invalid", saleor_api_url=saleor_api_url, reason=str(exc))
        raise InvalidDashboardToken(_INVALID) from None
    _check_claims(auth, claims)
    email = claims.get("email")
    user_id = claims.get("user_id")
    return DashboardSession(
        saleor_api_url=auth.saleor_api_url,
        auth=auth,
        user_email=email if isinstance(email, str) else None,
        user_id=user_id if isinstance(user_id, str) else None,
    )


def _check_claims(auth: AuthData, claims: dict[str, Any]) -> None:
    problem = None
    if claims.get("app") != auth.app_id:
        problem = "app"
    elif claims.get("iss") != auth.saleor_api_url:
        problem = "iss"
    elif claims.get("type") != "thirdparty":
        problem = "type"
    if problem:
        log.warning("dashboard.token_refused", saleor_api_url=auth.saleor_api_url, claim=problem)
        raise InvalidDashboardToken(_INVALID)
    permissions = claims.get("user_permissions")
    if not isinstance(permissions, list) or REQUIRED_PERMISSION not in permissions:
        log.info("dashboard.permission_missing", saleor_api_url=auth.saleor_api_url)
        raise MissingPermission(
            "Your Saleor account needs the HANDLE_PAYMENTS permission to configure payments."
        )


def _expired(token: str) -> bool:
    """Whether a token *already refused* has passed its ``exp`` (only picks the message)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    exp = claims.get("exp")
    return isinstance(exp, int | float) and exp < time.time()
