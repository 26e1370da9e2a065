"""The Up2pay configuration of a channel, its validation rules and the voucher-method table.

Validation lives in annotated types shared by :class:`Up2payConfiguration` (what is stored and
read by the payment flows) and :class:`ConfigurationInput` (what the dashboard sends), so the API
and the stored data can never disagree. Each rule fails with a stable ``code`` the page translates
and an English ``message`` for API users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from saleor_up2pay.up2pay.models import (
    HMAC_KEY_FORMAT,
    IDENTIFIANT_FORMAT,
    RANG_FORMAT,
    SITE_FORMAT,
)

MethodCode = Literal["APETIZ", "SODEXO", "UPCHEQUDEJ", "CVCONNECT"]
"""Up2pay ``TYPECARTE`` of a voucher method (``TYPEPAIEMENT=LIMONETIK``)."""

MethodKind = Literal["meal_voucher", "holiday_voucher"]
CaptureMode = Literal["follow_saleor", "always_charge"]
"""``follow_saleor``: authorize or charge as Saleor's action asks; ``always_charge``: charge."""

EnvironmentName = Literal["sandbox", "test", "live"]

DEFAULT_CONFIGURATION_ID = "default"
"""Id of the configuration built from settings, used by every channel without a mapping."""

METHOD_CODES: tuple[MethodCode, ...] = get_args(MethodCode)
CAPTURE_MODES: tuple[CaptureMode, ...] = get_args(CaptureMode)
ENVIRONMENTS: tuple[EnvironmentName, ...] = get_args(EnvironmentName)


@dataclass(frozen=True)
class MethodInfo:
    """One voucher method as shoppers and merchants see it."""

    code: MethodCode
    label: str
    kind: MethodKind


METHODS: tuple[MethodInfo, ...] = (
    MethodInfo("APETIZ", "Apetiz", "meal_voucher"),
    MethodInfo("SODEXO", "Pluxee (Sodexo)", "meal_voucher"),
    MethodInfo("UPCHEQUDEJ", "Up Chèque Déjeuner", "meal_voucher"),
    MethodInfo("CVCONNECT", "Chèque-Vacances Connect", "holiday_voucher"),
)
"""The one table of methods, in the order they are offered."""

_BY_CODE = {m.code: m for m in METHODS}


def method_info(code: MethodCode) -> MethodInfo:
    """Label and kind of a method code."""
    return _BY_CODE[code]


# --- field rules --------------------------------------------------------------------------------

NAME_MAX_LENGTH = 80
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _format(pattern: re.Pattern[str], code: str, message: str) -> AfterValidator:
    # The formats are the Up2pay package's (shared with Credentials and the settings); only the
    # error codes and wording the dashboard shows are decided here.
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise PydanticCustomError(code, message)
        return value

    return AfterValidator(check)


def _check_name(value: str) -> str:
    if not value:
        raise PydanticCustomError("name_required", "Give the configuration a name.")
    if len(value) > NAME_MAX_LENGTH:
        raise PydanticCustomError(
            "name_too_long", "The name is at most {max} characters.", {"max": NAME_MAX_LENGTH}
        )
    return value


def _check_hmac_key(value: str) -> str:
    if not HMAC_KEY_FORMAT.fullmatch(value):
        raise PydanticCustomError(
            "hmac_key_format",
            "The HMAC key is 128 hexadecimal characters (generate it in the Up2pay back office).",
        )
    return value.upper()


def _check_optional_hmac_key(value: str) -> str:
    return value if value == "" else _check_hmac_key(value)


def _check_methods(value: list[MethodCode]) -> list[MethodCode]:
    if not value:
        raise PydanticCustomError("methods_required", "Enable at least one voucher method.")
    # Keep the table's order and drop duplicates, so the checkout lists them consistently.
    return [code for code in METHOD_CODES if code in value]


def _check_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise PydanticCustomError("id_format", "Unknown configuration id.")
    return value


Name = Annotated[str, BeforeValidator(_strip), AfterValidator(_check_name)]
Site = Annotated[
    str,
    BeforeValidator(_strip),
    _format(SITE_FORMAT, "site_format", "SITE is exactly 7 digits, e.g. 1999888."),
]
Rang = Annotated[
    str,
    BeforeValidator(_strip),
    _format(RANG_FORMAT, "rang_format", "RANG is 2 or 3 digits, e.g. 32."),
]
Identifiant = Annotated[
    str,
    BeforeValidator(_strip),
    _format(
        IDENTIFIANT_FORMAT,
        "identifiant_format",
        "IDENTIFIANT is 1 to 9 digits, e.g. 107904482.",
    ),
]
HmacKeyText = Annotated[str, BeforeValidator(_strip), AfterValidator(_check_hmac_key)]
"""A required HMAC key as plain text (upper-cased), for inputs that are used at once."""
Methods = Annotated[list[MethodCode], AfterValidator(_check_methods)]
ConfigurationId = Annotated[str, AfterValidator(_check_id)]


class Up2payConfiguration(BaseModel):
    """Credentials and options of one Up2pay contract, as stored and used by the payment flows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: ConfigurationId
    name: Name
    environment: EnvironmentName
    site: Site
    rang: Rang
    identifiant: Identifiant
    hmac_key: Annotated[
        SecretStr,
        BeforeValidator(_strip),
        AfterValidator(lambda v: SecretStr(_check_hmac_key(v.get_secret_value()))),
    ]
    methods: Methods
    capture_mode: CaptureMode = "follow_saleor"

    @property
    def key_hint(self) -> str:
        """The last four characters of the HMAC key: all the page ever shows of it."""
        return self.hmac_key.get_secret_value()[-4:]

    @property
    def is_default(self) -> bool:
        """Whether this is the configuration built from settings (not editable in the page)."""
        return self.id == DEFAULT_CONFIGURATION_ID


class ConfigurationInput(BaseModel):
    """What the dashboard sends to create or update a configuration.

    ``id`` absent: a new configuration. ``hmac_key`` empty: keep the stored key (required when
    creating, checked by the repository).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: ConfigurationId | None = None
    name: Name
    environment: EnvironmentName
    site: Site
    rang: Rang
    identifiant: Identifiant
    hmac_key: Annotated[str, BeforeValidator(_strip), AfterValidator(_check_optional_hmac_key)] = ""
    methods: Methods
    capture_mode: CaptureMode = "follow_saleor"

    def __repr__(self) -> str:
        # The key is a plain str here (it is empty when kept): never let it reach a repr or log.
        fields = self.model_dump(exclude={"hmac_key"})
        return f"ConfigurationInput({fields}, hmac_key={'<set>' if self.hmac_key else '<keep>'})"

    __str__ = __repr__


@dataclass(frozen=True)
class FieldError:
    """A validation failure of one form field: ``code`` for the page, ``message`` in English."""

    field: str
    code: str
    message: str


_GENERIC_CODES = {
    "literal_error": "invalid_choice",
    "missing": "required",
    "string_type": "invalid",
    "list_type": "invalid",
    "extra_forbidden": "unknown_field",
}


def field_errors(exc: ValidationError) -> list[FieldError]:
    """One :class:`FieldError` per failing field (the first failure of each field)."""
    seen: dict[str, FieldError] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = err["loc"]
        field = str(loc[0]) if loc else "__all__"
        if field in seen:
            continue
        code = _GENERIC_CODES.get(err["type"], err["type"])
        message = err["msg"]
        if field == "methods" and err["type"] == "literal_error":
            message = "Unknown voucher method."
        seen[field] = FieldError(field=field, code=code, message=message)
    return list(seen.values())
