"""The configuration API (strawberry-graphql): the only way the page reads and writes.

Served by :mod:`saleor_up2pay.dashboard.routes` at ``POST /api/graphql`` after the Dashboard token
was checked; resolvers receive an :class:`ApiContext` holding the authenticated session, so they
can only ever touch the instance the token was minted for. Form validation failures are values
(``errors: [FieldError]`` on each payload, as Saleor's own mutations do); app faults are
:class:`~saleor_up2pay.errors.AppError` turned into GraphQL errors with their public code.
"""

# No `from __future__ import annotations`: strawberry reads the annotations at class creation.

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
import structlog
from pydantic import ValidationError
from strawberry.types import ExecutionContext

from graphql import GraphQLError
from saleor_up2pay.activity import ActivityEntry, ActivityLog
from saleor_up2pay.configuration import (
    METHODS,
    ConfigurationInput,
    ConfigurationInUse,
    ConfigurationNotFound,
    ConfigurationRepository,
    InvalidConfiguration,
    Up2payConfiguration,
    field_errors,
)
from saleor_up2pay.configuration import FieldError as ConfigFieldError
from saleor_up2pay.dashboard import channels as channel_cases
from saleor_up2pay.dashboard.auth import DashboardSession
from saleor_up2pay.dashboard.credentials import CredentialsInput, check_credentials
from saleor_up2pay.errors import AppError
from saleor_up2pay.problems import OpenProblem
from saleor_up2pay.services import Services
from saleor_up2pay.transactions.unknown_ipn_problems import unattached_unknown_ipns
from saleor_up2pay.voucher_rules import DEFAULT_RULE_SET, RULE_SETS

log = structlog.get_logger(__name__)

MAX_ACTIVITY = 200


@dataclass
class ApiContext:
    """Per-request collaborators: only built once the Dashboard token was accepted."""

    services: Services
    session: DashboardSession
    repository: ConfigurationRepository

    @property
    def url(self) -> str:
        return self.session.saleor_api_url


def _ctx(info: strawberry.Info) -> ApiContext:
    context: ApiContext = info.context
    return context


# --- enums --------------------------------------------------------------------------------------


@strawberry.enum(description="Up2pay platform a configuration talks to.")
class Environment(Enum):
    SANDBOX = "sandbox"
    TEST = "test"
    LIVE = "live"


@strawberry.enum(description="How payments are taken.")
class CaptureMode(Enum):
    FOLLOW_SALEOR = "follow_saleor"
    ALWAYS_CHARGE = "always_charge"


@strawberry.enum(description="Voucher methods (Up2pay TYPECARTE).")
class VoucherMethod(Enum):
    APETIZ = "APETIZ"
    SODEXO = "SODEXO"
    UPCHEQUDEJ = "UPCHEQUDEJ"
    CVCONNECT = "CVCONNECT"


@strawberry.enum
class VoucherKind(Enum):
    MEAL_VOUCHER = "meal_voucher"
    HOLIDAY_VOUCHER = "holiday_voucher"


# --- output types -------------------------------------------------------------------------------


@strawberry.type(description="A validation failure of one input field.")
class FieldError:
    field: str
    code: str
    message: str

    @classmethod
    def of(cls, error: ConfigFieldError) -> "FieldError":
        return cls(field=_camel(error.field), code=error.code, message=error.message)


@strawberry.type
class Method:
    code: VoucherMethod
    label: str
    kind: VoucherKind


@strawberry.type(description="A minimum amount per payment for one method (euros).")
class MethodMinimum:
    method: VoucherMethod
    amount: Decimal


@strawberry.type(description="Dated meal-voucher rules (docs/meal-vouchers.md).")
class RuleSet:
    id: str
    title: str
    confirmed: bool
    valid_from: date | None
    valid_until: date | None
    excluded_kinds: list[str] = strawberry.field(
        description="Kinds of products to map to excluded categories (e.g. alcohol)."
    )
    daily_cap: Decimal | None


@strawberry.type(description="An Up2pay configuration. The HMAC key is never returned.")
class Configuration:
    id: strawberry.ID
    name: str
    environment: Environment
    site: str
    rang: str
    identifiant: str
    key_hint: str = strawberry.field(description="Last four characters of the HMAC key.")
    methods: list[VoucherMethod]
    capture_mode: CaptureMode
    is_default: bool
    channels: list[str] = strawberry.field(description="Slugs of the channels using it.")
    meal_eligible_product_types: list[str]
    meal_eligible_categories: list[str]
    meal_excluded_categories: list[str]
    meal_rule_set: str
    meal_restricted: bool = strawberry.field(
        description="False: meal vouchers may pay the whole checkout (the merchant is liable)."
    )
    method_minimums: list[MethodMinimum]
    storefront_origins: list[str]

    @classmethod
    def of(cls, config: Up2payConfiguration, mapping: dict[str, str]) -> "Configuration":
        if config.is_default:
            users: list[str] = []
        else:
            users = sorted(slug for slug, cid in mapping.items() if cid == config.id)
        return cls(
            id=strawberry.ID(config.id),
            name=config.name,
            environment=Environment(config.environment),
            site=config.site,
            rang=config.rang,
            identifiant=config.identifiant,
            key_hint=config.key_hint,
            methods=[VoucherMethod(m) for m in config.methods],
            capture_mode=CaptureMode(config.capture_mode),
            is_default=config.is_default,
            channels=users,
            meal_eligible_product_types=list(config.meal_eligible_product_types),
            meal_eligible_categories=list(config.meal_eligible_categories),
            meal_excluded_categories=list(config.meal_excluded_categories),
            meal_rule_set=config.meal_rule_set,
            meal_restricted=config.meal_restricted,
            method_minimums=[
                MethodMinimum(method=VoucherMethod(code), amount=amount)
                for code, amount in config.method_minimums.items()
            ],
            storefront_origins=list(config.storefront_origins),
        )


@strawberry.type
class Channel:
    id: strawberry.ID | None
    slug: str
    name: str
    currency_code: str
    is_active: bool
    eligible: bool = strawberry.field(description="Only euro channels can take vouchers.")
    in_saleor: bool = strawberry.field(description="False: mapping of a deleted channel.")
    configuration_id: strawberry.ID | None = strawberry.field(
        description="null: the channel uses the default configuration."
    )

    @classmethod
    def of(cls, view: channel_cases.ChannelView) -> "Channel":
        return cls(
            id=strawberry.ID(view.id) if view.id else None,
            slug=view.slug,
            name=view.name,
            currency_code=view.currency_code,
            is_active=view.is_active,
            eligible=view.eligible,
            in_saleor=view.in_saleor,
            configuration_id=strawberry.ID(view.configuration_id)
            if view.configuration_id
            else None,
        )


@strawberry.type(name="ActivityEntry")
class ActivityRow:
    time: datetime
    kind: str
    channel: str | None
    reference: str | None
    leg: str | None
    amount: Decimal | None
    currency: str
    outcome: str
    message: str
    psp_reference: str | None

    @classmethod
    def of(cls, entry: ActivityEntry) -> "ActivityRow":
        return cls(
            time=entry.time,
            kind=entry.kind,
            channel=entry.channel,
            reference=entry.reference,
            leg=entry.leg,
            amount=entry.amount,
            currency=entry.currency,
            outcome=entry.outcome,
            message=scrub_message(entry.message),
            psp_reference=entry.psp_reference,
        )


@strawberry.type(name="Problem", description="Something the merchant should look at.")
class ProblemRow:
    key: str
    message: str
    count: int
    first_seen: datetime
    last_seen: datetime
    critical: bool

    @classmethod
    def of(cls, problem: OpenProblem) -> "ProblemRow":
        return cls(
            key=problem.key,
            message=scrub_message(problem.message),
            count=problem.count,
            first_seen=problem.first_seen,
            last_seen=problem.last_seen,
            critical=problem.critical,
        )


@strawberry.type
class Problems:
    items: list[ProblemRow]
    unattached_unknown_ipns: int = strawberry.field(
        description="IPNs for unknown references no Saleor instance could be named for "
        "(counted for every installation: they cannot be raised in one Saleor)."
    )


@strawberry.type
class Viewer:
    saleor_api_url: str
    email: str | None


@strawberry.type
class CredentialsCheck:
    ok: bool
    verdict: str = strawberry.field(
        description="ACCEPTED, REFUSED, UNREACHABLE or INCONCLUSIVE (worded by the page)."
    )
    code: str | None = strawberry.field(description="Up2pay CODEREPONSE, when it answered.")
    message: str
    environment: Environment


@strawberry.type
class SaveConfigurationPayload:
    configuration: Configuration | None
    errors: list[FieldError]


@strawberry.type
class DeleteConfigurationPayload:
    deleted_id: strawberry.ID | None
    errors: list[FieldError]


@strawberry.type
class MapChannelPayload:
    channel: Channel | None
    errors: list[FieldError]


@strawberry.type
class CheckCredentialsPayload:
    result: CredentialsCheck | None
    errors: list[FieldError]


# --- inputs -------------------------------------------------------------------------------------


@strawberry.input
class MethodMinimumInput:
    method: VoucherMethod
    amount: str = strawberry.field(description='Euros, e.g. "1.50".')


@strawberry.input(name="ConfigurationInput")
class ConfigurationInputType:
    id: strawberry.ID | None = strawberry.field(default=None, description="Absent: create.")
    name: str
    environment: Environment
    site: str
    rang: str
    identifiant: str
    hmac_key: str = strawberry.field(default="", description="Empty: keep the stored key.")
    methods: list[VoucherMethod]
    capture_mode: CaptureMode = CaptureMode.FOLLOW_SALEOR
    meal_eligible_product_types: list[str] = strawberry.field(default_factory=list)
    meal_eligible_categories: list[str] = strawberry.field(default_factory=list)
    meal_excluded_categories: list[str] = strawberry.field(default_factory=list)
    meal_rule_set: str = DEFAULT_RULE_SET
    method_minimums: list[MethodMinimumInput] = strawberry.field(default_factory=list)
    storefront_origins: list[str] = strawberry.field(default_factory=list)


@strawberry.input(name="CredentialsInput")
class CredentialsInputType:
    configuration_id: strawberry.ID | None = strawberry.field(
        default=None, description="With an empty hmacKey: use this configuration's stored key."
    )
    environment: Environment
    site: str
    rang: str
    identifiant: str
    hmac_key: str = ""


# --- resolvers ----------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field
    def viewer(self, info: strawberry.Info) -> Viewer:
        session = _ctx(info).session
        return Viewer(saleor_api_url=session.saleor_api_url, email=session.user_email)

    @strawberry.field
    def methods(self) -> list[Method]:
        return [
            Method(code=VoucherMethod(m.code), label=m.label, kind=VoucherKind(m.kind))
            for m in METHODS
        ]

    @strawberry.field
    def rule_sets(self) -> list[RuleSet]:
        return [
            RuleSet(
                id=r.id,
                title=r.title,
                confirmed=r.confirmed,
                valid_from=r.valid_from,
                valid_until=r.valid_until,
                excluded_kinds=list(r.excluded_kinds),
                daily_cap=r.daily_cap,
            )
            for r in RULE_SETS
        ]

    @strawberry.field
    async def default_configuration(self, info: strawberry.Info) -> Configuration:
        return Configuration.of(_ctx(info).repository.default(), {})

    @strawberry.field
    async def configurations(self, info: strawberry.Info) -> list[Configuration]:
        ctx = _ctx(info)
        mapping = await ctx.repository.channel_mapping(ctx.url)
        return [Configuration.of(c, mapping) for c in await ctx.repository.list(ctx.url)]

    @strawberry.field
    async def channels(self, info: strawberry.Info) -> list[Channel]:
        ctx = _ctx(info)
        rows = await channel_cases.list_channels(ctx.services, ctx.session, ctx.repository)
        return [Channel.of(row) for row in rows]

    @strawberry.field
    async def problems(self, info: strawberry.Info) -> Problems:
        ctx = _ctx(info)
        items = await ctx.services.problems.open(ctx.url)
        unattached = await unattached_unknown_ipns(ctx.services.redis)
        return Problems(items=[ProblemRow.of(p) for p in items], unattached_unknown_ipns=unattached)

    @strawberry.field
    async def activity(self, info: strawberry.Info, limit: int = 50) -> list[ActivityRow]:
        ctx = _ctx(info)
        entries = await ActivityLog(ctx.services.redis).latest(
            ctx.url, max(1, min(limit, MAX_ACTIVITY))
        )
        return [ActivityRow.of(e) for e in entries]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def save_configuration(
        self, info: strawberry.Info, input: ConfigurationInputType
    ) -> SaveConfigurationPayload:
        ctx = _ctx(info)
        try:
            data = ConfigurationInput.model_validate(_plain(input))
            saved = await ctx.repository.save(ctx.url, data)
        except ValidationError as exc:
            return SaveConfigurationPayload(
                configuration=None, errors=[FieldError.of(e) for e in field_errors(exc)]
            )
        except InvalidConfiguration as exc:
            return SaveConfigurationPayload(
                configuration=None, errors=[FieldError.of(e) for e in exc.errors]
            )
        except ConfigurationNotFound as exc:
            return SaveConfigurationPayload(
                configuration=None,
                errors=[_error("id", "not_found", exc.public_message)],
            )
        mapping = await ctx.repository.channel_mapping(ctx.url)
        return SaveConfigurationPayload(configuration=Configuration.of(saved, mapping), errors=[])

    @strawberry.mutation
    async def delete_configuration(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> DeleteConfigurationPayload:
        ctx = _ctx(info)
        try:
            await ctx.repository.delete(ctx.url, str(id))
        except ConfigurationInUse as exc:
            error = _error("id", "configuration_in_use", exc.public_message)
            return DeleteConfigurationPayload(deleted_id=None, errors=[error])
        except ConfigurationNotFound as exc:
            error = _error("id", "not_found", exc.public_message)
            return DeleteConfigurationPayload(deleted_id=None, errors=[error])
        return DeleteConfigurationPayload(deleted_id=id, errors=[])

    @strawberry.mutation
    async def map_channel(
        self,
        info: strawberry.Info,
        channel_slug: str,
        configuration_id: strawberry.ID | None = None,
    ) -> MapChannelPayload:
        ctx = _ctx(info)
        try:
            view = await channel_cases.map_channel(
                ctx.services,
                ctx.session,
                ctx.repository,
                channel_slug,
                str(configuration_id) if configuration_id else None,
            )
        except channel_cases.ChannelNotEligible as exc:
            error = FieldError(
                field="channelSlug", code="channel_not_eligible", message=exc.public_message
            )
            return MapChannelPayload(channel=None, errors=[error])
        except channel_cases.UnknownChannel as exc:
            error = FieldError(
                field="channelSlug", code="unknown_channel", message=exc.public_message
            )
            return MapChannelPayload(channel=None, errors=[error])
        except ConfigurationNotFound as exc:
            error = FieldError(
                field="configurationId", code="not_found", message=exc.public_message
            )
            return MapChannelPayload(channel=None, errors=[error])
        return MapChannelPayload(channel=Channel.of(view), errors=[])

    @strawberry.mutation
    async def check_credentials(
        self, info: strawberry.Info, input: CredentialsInputType
    ) -> CheckCredentialsPayload:
        ctx = _ctx(info)
        raw = _plain(input)
        stored_id = raw.pop("configuration_id", None)
        if not raw.get("hmac_key") and stored_id:
            try:
                stored = await ctx.repository.get(ctx.url, str(stored_id))
            except ConfigurationNotFound as exc:
                error = FieldError(
                    field="configurationId", code="not_found", message=exc.public_message
                )
                return CheckCredentialsPayload(result=None, errors=[error])
            raw["hmac_key"] = stored.hmac_key.get_secret_value()
        try:
            credentials = CredentialsInput.model_validate(raw)
        except ValidationError as exc:
            errors = [FieldError.of(e) for e in field_errors(exc)]
            return CheckCredentialsPayload(result=None, errors=errors)
        outcome = await check_credentials(ctx.services, credentials)
        return CheckCredentialsPayload(
            result=CredentialsCheck(
                ok=outcome.ok,
                verdict=outcome.verdict,
                code=outcome.code,
                message=outcome.message,
                environment=Environment(credentials.environment),
            ),
            errors=[],
        )


def _error(field: str, code: str, message: str) -> FieldError:
    return FieldError(field=field, code=code, message=message)


def _plain(value: Any) -> dict[str, Any]:
    """A strawberry input as plain python values (enums unwrapped)."""
    out: dict[str, Any] = {}
    for key, item in vars(value).items():
        if isinstance(item, Enum):
            out[key] = item.value
        elif key == "method_minimums":
            out[key] = {m.method.value: m.amount for m in item}
        elif isinstance(item, list):
            out[key] = [i.value if isinstance(i, Enum) else i for i in item]
        elif item is None:
            continue
        else:
            out[key] = str(item) if key == "id" else item
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_LONG_HEX = re.compile(r"[0-9A-Fa-f]{32,}")


def scrub_message(message: str) -> str:
    """Belt and braces: a long hex run (a key, a signature) never reaches the page."""
    return _LONG_HEX.sub("[redacted]", message)


class _Schema(strawberry.Schema):
    """Logs like the rest of the app: app faults as warnings, bugs with their traceback."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            original = error.original_error
            if isinstance(original, AppError):
                log.warning("dashboard.api_error", code=original.public_code)
            elif original is None or isinstance(original, GraphQLError):
                # Coercion errors quote the variables sent, HMAC key included: scrub them.
                log.info("dashboard.api_invalid_document", message=scrub_message(error.message))
            else:
                log.error("dashboard.api_failed", exc_info=original)


schema = _Schema(query=Query, mutation=Mutation)
