"""The Up2pay configuration of a channel, its validation rules and the voucher-method table.

Validation lives in annotated types shared by :class:`Up2payConfiguration` (what is stored and
read by the payment flows) and :class:`ConfigurationInput` (what the dashboard sends), so the API
and the stored data can never disagree. Each rule fails with a stable ``code`` the page translates
and an English ``message`` for API users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

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
from saleor_up2pay.voucher_rules import DEFAULT_RULE_SET, RULE_SET_IDS

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
    MethodInfo("APETIZ", "Bimpli (Apetiz)", "meal_voucher"),
    MethodInfo("SODEXO", "Pluxee", "meal_voucher"),
    MethodInfo("UPCHEQUDEJ", "Up Déjeuner", "meal_voucher"),
    MethodInfo("CVCONNECT", "Chèque-Vacances Connect", "holiday_voucher"),
)
"""The one table of methods, in the order they are offered, named as shoppers know them today.

The Up2pay codes did not change with the rebrands: Apetiz is Bimpli (a Swile company), Sodexo is
Pluxee, Up Chèque Déjeuner is Up Déjeuner."""

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


_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,249}")


def _split(value: object) -> object:
    # The page and the settings may send "a, b" as one string.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _check_slugs(value: list[str]) -> list[str]:
    slugs = []
    for item in value:
        slug = item.strip().lower()
        if not _SLUG_RE.fullmatch(slug):
            raise PydanticCustomError(
                "slug_format",
                "{value!r} is not a slug (letters, digits, - and _).",
                {"value": item},
            )
        if slug not in slugs:
            slugs.append(slug)
    return slugs


def _check_origins(value: list[str]) -> list[str]:
    origins = []
    for item in value:
        parts = urlsplit(item.strip())
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.path.strip("/")
            or parts.query
            or parts.fragment
            or parts.username
            or "*" in parts.netloc
        ):
            raise PydanticCustomError(
                "origin_format",
                "{value!r} is not an origin like https://shop.example.com (no path).",
                {"value": item},
            )
        origin = f"{parts.scheme}://{parts.netloc.lower()}"
        if origin not in origins:
            origins.append(origin)
    return origins


def _check_rule_set(value: str) -> str:
    if value not in RULE_SET_IDS:
        raise PydanticCustomError(
            "rule_set_unknown",
            "Unknown meal-voucher rule set; use one of {ids}.",
            {"ids": ", ".join(RULE_SET_IDS)},
        )
    return value


def _check_minimums(value: dict[MethodCode, Decimal]) -> dict[MethodCode, Decimal]:
    for amount in value.values():
        if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
            raise PydanticCustomError(
                "minimum_format", "A minimum is a positive amount in euros, e.g. 1.50."
            )
    return {code: value[code] for code in METHOD_CODES if code in value}


Name = Annotated[str, BeforeValidator(_strip), AfterValidator(_check_name)]
Slugs = Annotated[list[str], BeforeValidator(_split), AfterValidator(_check_slugs)]
Origins = Annotated[list[str], BeforeValidator(_split), AfterValidator(_check_origins)]
RuleSetId = Annotated[str, AfterValidator(_check_rule_set)]
Minimums = Annotated[dict[MethodCode, Decimal], AfterValidator(_check_minimums)]
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


class _ConfigurationFields(BaseModel):
    """The fields a stored configuration and the page's input share, in their one order.

    The repository builds the one from the other (``model_dump``), so both must have the same
    fields. ``id`` and ``hmac_key`` are typed by each subclass; they are declared here only so that
    they keep their place (a field redeclared in a subclass keeps its parent's position), and with
    it the order of validation errors the page shows.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: ConfigurationId | None = None
    name: Name
    environment: EnvironmentName
    site: Site
    rang: Rang
    identifiant: Identifiant
    hmac_key: object = ""
    methods: Methods
    capture_mode: CaptureMode = "follow_saleor"
    meal_eligible_product_types: Slugs = []
    """Product type slugs a meal voucher may pay; with no type nor category: no restriction."""
    meal_eligible_categories: Slugs = []
    """Category slugs a meal voucher may pay (a line qualifies by its type or its category)."""
    meal_excluded_categories: Slugs = []
    """Category slugs never payable by a meal voucher (the rule set's excluded kinds, mapped)."""
    meal_rule_set: RuleSetId = DEFAULT_RULE_SET
    method_minimums: Minimums = {}
    """Minimum amount per payment, by method; none by default (not confirmed rules)."""
    storefront_origins: Origins = []
    """Origins a ``returnUrl`` may point to (see ``docs/security.md``)."""


class Up2payConfiguration(_ConfigurationFields):
    """Credentials and options of one Up2pay contract, as stored and used by the payment flows."""

    id: ConfigurationId
    hmac_key: Annotated[
        SecretStr,
        BeforeValidator(_strip),
        AfterValidator(lambda v: SecretStr(_check_hmac_key(v.get_secret_value()))),
    ]

    @property
    def meal_restricted(self) -> bool:
        """Whether meal vouchers are limited to some lines (else they may pay the whole total)."""
        return bool(self.meal_eligible_product_types or self.meal_eligible_categories)

    @property
    def key_hint(self) -> str:
        """The last four characters of the HMAC key: all the page ever shows of it."""
        return self.hmac_key.get_secret_value()[-4:]

    @property
    def is_default(self) -> bool:
        """Whether this is the configuration built from settings (not editable in the page)."""
        return self.id == DEFAULT_CONFIGURATION_ID


class ConfigurationInput(_ConfigurationFields):
    """What the dashboard sends to create or update a configuration.

    ``id`` absent: a new configuration. ``hmac_key`` empty: keep the stored key (required when
    creating, checked by the repository).
    """

    hmac_key: Annotated[str, BeforeValidator(_strip), AfterValidator(_check_optional_hmac_key)] = ""

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
