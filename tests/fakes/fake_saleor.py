"""A fake Saleor instance for tests, served on loopback like the real one.

What it does, as a Saleor 3.23 core would (see ``tests/data/saleor/recorded/RECORDING.md``):

- ``GET /.well-known/jwks.json``: the public half of its RSA signing key (``kid`` = RFC 7638
  thumbprint, one key). :meth:`FakeSaleor.rotate_key` switches to a new key, as an operator
  changing ``RSA_PRIVATE_KEY`` would. ``jwks_status`` makes it fail.
- ``POST /graphql/``: parses and **validates every document against** ``schema.graphql`` with
  graphql-core (the schema is built once per test session); an invalid document gets HTTP 400 with
  GraphQL ``errors``, as Saleor does. ``Authorization: Bearer <app token>`` is checked against the
  tokens it issued; an unknown token is anonymous, so ``{ app { id } }`` answers ``app: null`` plus
  ``PermissionDenied`` (recorded ``graphql/72``). Operations are answered by ``resolvers``:

  - ``fake.resolvers["TransactionEventReport"] = fn`` (operation name): ``fn`` returns the whole
    ``data`` object;
  - ``fake.resolvers["transactionEventReport"] = fn`` (root field): ``fn`` returns that field's
    value.

  ``fn(variables, call)`` may be sync or async; ``call`` is a :class:`GraphQLCall` (operation,
  root fields, app id of the token...). A document with several root fields or aliases (the
  app's batched reports: ``m0: transactionEventReport(id: $id_0 ...) m1: ...``) is run as
  Saleor runs it: each field in order, its resolver given that field's **arguments** (by
  argument name) instead of the variables, its answer under its alias; a resolver raising
  :class:`GraphQLErrors` makes that field ``null`` with errors whose ``path`` is its alias, and
  the others still run (an error with an HTTP status other than 200 fails the whole request).
  As Saleor 3.23 (``GRAPHQL_MUTATION_COUNT_LIMIT``, ``GRAPHQL_ALIAS_COUNT_LIMIT``), a request
  with more than ``mutation_limit`` mutations (4) or ``alias_limit`` aliases (100) is refused
  whole: HTTP 400, ``Number of mutations exceed the limit of 4``. Raise :class:`GraphQLErrors` to answer top-level errors.
  Resolvers run on the fake's server thread: keep their state in plain Python objects. ``app`` is
  built in. An operation with no resolver is answered with an error and listed in ``unhandled``.
- :meth:`FakeSaleor.install` plays ``appInstall``: fetches the manifest, issues a token and a new
  app id, POSTs the token to ``tokenTargetUrl`` with Saleor's headers, and remembers each
  webhook's ``targetUrl``.
- :meth:`FakeSaleor.send_webhook` signs and sends a delivery like Saleor: raw JSON bytes with
  Python's default separators (money as JSON numbers), detached JWS RS256 with ``kid``,
  ``b64: false``, the headers of protocol §3.1 in Saleor's order.
- :meth:`FakeSaleor.dashboard_token` mints the RS256 JWT the Dashboard hands to the app's iframe.

Every request it receives is recorded in ``requests``.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from graphql.utilities import value_from_ast_untyped
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    build_schema,
    parse,
    validate,
)
from saleor_up2pay.saleor.definitions import WebhookDefinition, definition_for_event
from tests.support.servers import serve

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "data" / "saleor" / "schema.graphql"
SALEOR_VERSION = "3.23.28"
SCHEMA_VERSION = "3.23"
USER_AGENT = "Saleor/3.23"

Resolver = Callable[[dict[str, Any], "GraphQLCall"], Any]


@cache
def saleor_schema(path: Path = SCHEMA_PATH) -> GraphQLSchema:
    """Saleor's schema, built once per test session (the SDL is about 1 MB): use this, never
    ``build_schema`` on the file."""
    return build_schema(path.read_text(encoding="utf-8"))


def validate_document(query: str, schema: GraphQLSchema | None = None) -> list[GraphQLError]:
    """GraphQL errors of a document against Saleor's schema (empty list = valid)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return [exc]
    return list(validate(schema or saleor_schema(), document))


@lru_cache(maxsize=512)
def _checked(query: str, schema_path: Path) -> tuple[GraphQLError, ...]:
    """:func:`validate_document` once per distinct document: the app sends the same few
    documents over and over (thousands of reports in ``tests/scale``), and validating one costs
    milliseconds."""
    return tuple(validate_document(query, saleor_schema(schema_path)))


@lru_cache(maxsize=512)
def _parsed(query: str) -> DocumentNode:
    """A valid document, parsed once (graphql-core's nodes are not changed by reading them)."""
    return parse(query)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@cache
def _pooled_key(index: int) -> rsa.RSAPrivateKey:
    # RSA generation costs ~100 ms: tests share a few keys, by index, for the whole session.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class SigningKey:
    """An RSA key with its JWK and RFC 7638 thumbprint ``kid``."""

    private: rsa.RSAPrivateKey

    @classmethod
    def pooled(cls, index: int) -> SigningKey:
        return cls(_pooled_key(index))

    @property
    def public_jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {"e": _int_b64(numbers.e), "kty": "RSA", "n": _int_b64(numbers.n)}

    @property
    def kid(self) -> str:
        canonical = json.dumps(self.public_jwk, separators=(",", ":"), sort_keys=True)
        return b64url(hashlib.sha256(canonical.encode()).digest())

    @property
    def jwk(self) -> dict[str, Any]:
        """As Saleor publishes it (recorded ``jwks.json``)."""
        jwk = self.public_jwk
        return {
            "kty": "RSA",
            "key_ops": ["verify"],
            "n": jwk["n"],
            "e": jwk["e"],
            "use": "sig",
            "kid": self.kid,
            "alg": "RS256",
        }

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def sign_detached(
    key: SigningKey, body: bytes, *, kid: str | None = None, header: dict[str, Any] | None = None
) -> str:
    """A detached JWS over ``body`` exactly as Saleor makes it (RS256, ``b64: false``)."""
    protected = header or {
        "alg": "RS256",
        "b64": False,
        "crit": ["b64"],
        "kid": kid or key.kid,
        "typ": "JWT",
    }
    header_b64 = b64url(json.dumps(protected, separators=(",", ":")).encode())
    signature = key.private.sign(
        header_b64.encode("ascii") + b"." + body, padding.PKCS1v15(), hashes.SHA256()
    )
    return f"{header_b64}..{b64url(signature)}"


def saleor_json(payload: Any) -> bytes:
    """Serialise like Saleor: ``json.dumps`` default separators, money as JSON numbers."""

    def number(value: object) -> float:
        if isinstance(value, Decimal):
            return float(value)
        raise TypeError(type(value).__name__)

    return json.dumps(payload, default=number).encode()


class GraphQLErrors(Exception):
    """Raise from a resolver to answer ``{"errors": errors, "data": data}``."""

    def __init__(
        self, errors: list[dict[str, Any]] | str, data: Any = None, status: int = 200
    ) -> None:
        if isinstance(errors, str):
            errors = [{"message": errors}]
        super().__init__(errors[0].get("message", "GraphQL error"))
        self.errors = errors
        self.data = data
        self.status = status


def permission_denied(path: str) -> dict[str, Any]:
    return {
        "message": "To access this path, you need one of the following permissions: "
        "AUTHENTICATED_STAFF_USER, AUTHENTICATED_APP",
        "locations": [{"line": 1, "column": 9}],
        "path": [path],
        "extensions": {"exception": {"code": "PermissionDenied"}},
    }


@dataclass
class GraphQLCall:
    """One GraphQL request the fake answered."""

    query: str
    variables: dict[str, Any]
    operation_type: str
    operation_name: str | None
    root_fields: list[str]
    token: str | None
    app_id: str | None
    """The app the bearer token belongs to; ``None`` = anonymous (unknown or no token)."""
    fields: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """Each root field as (response key, field name, its arguments), in document order."""

    @property
    def batched(self) -> bool:
        """Several root fields, or an alias: resolvers get each field's own arguments."""
        return len(self.fields) > 1 or any(key != name for key, name, _ in self.fields)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Installation:
    app_id: str
    token: str
    manifest: dict[str, Any]
    register_response: httpx.Response
    webhooks: dict[str, str] = field(default_factory=dict)
    """Event enum name → targetUrl, from the manifest."""


@dataclass
class AppProblem:
    """One row of Saleor's app problems (3.22+)."""

    id: str
    key: str
    message: str = ""
    count: int = 0
    is_critical: bool = False
    dismissed: bool = False
    updated_at: float = 0.0

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "count": self.count, "isCritical": self.is_critical}


class FakeSaleor:
    """A Saleor core on loopback. Serve ``fake.asgi`` and set ``base_url`` (see :func:`running`)."""

    def __init__(self, *, key_index: int = 0, schema_path: Path = SCHEMA_PATH) -> None:
        self.key = SigningKey.pooled(key_index)
        self.previous_keys: list[SigningKey] = []
        self._next_key = key_index + 1
        self.schema_path = schema_path
        self.base_url = "http://saleor.invalid"
        self.tokens: dict[str, str] = {}
        """Valid app tokens → app id."""
        self.app_id: str | None = None
        self.installation: Installation | None = None
        self.resolvers: dict[str, Resolver] = {
            "app": self._resolve_app,
            "appProblemCreate": self._resolve_appProblemCreate,
            "appProblemDismiss": self._resolve_appProblemDismiss,
        }
        self.problems: list[AppProblem] = []
        """App problems raised (``appProblemCreate``), dismissed ones included."""
        self.requests: list[RecordedRequest] = []
        self.calls: list[GraphQLCall] = []
        self.unhandled: list[GraphQLCall] = []
        self.jwks_status = 200
        self.mutation_limit = 4
        """Saleor's ``GRAPHQL_MUTATION_COUNT_LIMIT`` (3.23 default)."""
        self.alias_limit = 100
        """Saleor's ``GRAPHQL_ALIAS_COUNT_LIMIT``."""
        self._app_numbers = itertools.count(13)
        self._lock = threading.Lock()
        self.asgi = Starlette(
            routes=[
                Route("/.well-known/jwks.json", self._jwks_endpoint, methods=["GET"]),
                Route("/graphql/", self._graphql_endpoint, methods=["POST"]),
            ]
        )

    # -- identity -----------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.base_url + "/graphql/"

    @property
    def domain(self) -> str:
        return urlsplit(self.base_url).netloc

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.jwk]}

    def jwks_text(self) -> str:
        return json.dumps(self.jwks())

    def rotate_key(self) -> SigningKey:
        """Switch to a new signing key (the old one is no longer published)."""
        self.previous_keys.append(self.key)
        self.key = SigningKey.pooled(self._next_key)
        self._next_key += 1
        return self.key

    def issue_token(self, app_id: str | None = None) -> tuple[str, str]:
        """A new app token (and app id, ``QXBwOjEz`` style); returns ``(token, app_id)``."""
        if app_id is None:
            app_id = base64.b64encode(f"App:{next(self._app_numbers)}".encode()).decode()
        token = secrets.token_urlsafe(22)[:30]
        with self._lock:
            self.tokens[token] = app_id
        self.app_id = app_id
        return token, app_id

    def revoke_tokens(self) -> None:
        """As after ``appDelete``: every token stops authenticating."""
        with self._lock:
            self.tokens.clear()

    def graphql_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/graphql/"]

    def jwks_fetches(self) -> int:
        return sum(1 for r in self.requests if r.path == "/.well-known/jwks.json")

    # -- endpoints ------------------------------------------------------------------------------

    async def _record(self, request: Request) -> RecordedRequest:
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers=dict(request.headers),
            body=await request.body(),
        )
        self.requests.append(recorded)
        return recorded

    async def _jwks_endpoint(self, request: Request) -> Response:
        await self._record(request)
        if self.jwks_status != 200:
            return Response("unavailable", status_code=self.jwks_status)
        return Response(self.jwks_text(), media_type="application/json")

    async def _graphql_endpoint(self, request: Request) -> Response:
        recorded = await self._record(request)
        try:
            body = recorded.json()
        except ValueError:
            return JSONResponse({"errors": [{"message": "Unable to parse query."}]}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return JSONResponse({"errors": [{"message": "Must provide a query string."}]}, 400)
        query: str = body["query"]
        variables = body.get("variables") or {}
        errors = _checked(query, self.schema_path)
        if errors:
            return JSONResponse({"errors": [e.formatted for e in errors]}, 400)
        operation = _pick_operation(query, body.get("operationName"))
        if operation is None:
            return JSONResponse({"errors": [{"message": "Unknown operation."}]}, 400)
        token = _bearer(request.headers.get("authorization"))
        nodes = [
            sel
            for sel in operation.selection_set.selections
            if isinstance(sel, FieldNode) and sel.name.value != "__typename"
        ]
        root_fields = [node.name.value for node in nodes]
        refusal = self._over_limits(query, operation)
        if refusal:
            return JSONResponse({"errors": [{"message": refusal}]}, 400)
        fields = [
            (
                node.alias.value if node.alias else node.name.value,
                node.name.value,
                _arguments(node, variables),
            )
            for node in nodes
        ]
        call = GraphQLCall(
            query=query,
            variables=variables,
            operation_type=operation.operation.value,
            operation_name=operation.name.value if operation.name else None,
            root_fields=root_fields,
            token=token,
            app_id=self.tokens.get(token) if token else None,
            fields=fields,
        )
        self.calls.append(call)
        try:
            data = await self._dispatch(call)
        except GraphQLErrors as exc:
            answer: dict[str, Any] = {"errors": exc.errors}
            if exc.data is not None or exc.status == 200:
                answer["data"] = exc.data
            return Response(saleor_json(answer), exc.status, media_type="application/json")
        return Response(saleor_json({"data": data}), media_type="application/json")

    async def _dispatch(self, call: GraphQLCall) -> dict[str, Any]:
        if call.operation_name and call.operation_name in self.resolvers:
            result = await _maybe_await(self.resolvers[call.operation_name](call.variables, call))
            if not isinstance(result, dict):
                msg = f"resolver {call.operation_name} must return the data object"
                raise TypeError(msg)
            return result
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for key, root, arguments in call.fields:
            resolver = self.resolvers.get(root)
            if resolver is None:
                self.unhandled.append(call)
                wanted = call.operation_name or root
                raise GraphQLErrors(f"fake Saleor: no resolver for {wanted!r} (fake.resolvers)")
            if not call.batched:
                data[key] = await _maybe_await(resolver(call.variables, call))
                continue
            try:
                data[key] = await _maybe_await(resolver(arguments, call))
            except GraphQLErrors as exc:
                if exc.status != 200:
                    raise
                data[key] = None
                errors.extend({**error, "path": [key]} for error in exc.errors)
        if errors:
            raise GraphQLErrors(errors, data=data)
        return data

    def _over_limits(self, query: str, operation: OperationDefinitionNode) -> str | None:
        """Saleor's refusal of a request with too many mutations or aliases, if any."""
        if operation.operation is OperationType.MUTATION:
            count = len(operation.selection_set.selections)
            if count > self.mutation_limit:
                return f"Number of mutations exceed the limit of {self.mutation_limit}"
        aliases = sum(1 for _ in _aliases(_parsed(query)))
        if aliases > self.alias_limit:
            return f"Number of aliases exceed the limit of {self.alias_limit}"
        return None

    def _resolve_app(self, _: dict[str, Any], call: GraphQLCall) -> dict[str, Any]:
        if call.app_id is None:
            raise GraphQLErrors([permission_denied("app")], data={"app": None})
        return {"id": call.app_id}

    def open_problems(self) -> dict[str, AppProblem]:
        """The app's problems not dismissed, by key (the latest of each key)."""
        return {p.key: p for p in self.problems if not p.dismissed}

    def _resolve_appProblemCreate(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any]:
        """Saleor 3.22+: same key within ``aggregationPeriod`` minutes counts up (one row)."""
        if call.app_id is None:
            raise GraphQLErrors([permission_denied("appProblemCreate")])
        data = variables["input"]
        key, message = str(data["key"]), str(data["message"])
        if not 3 <= len(key) <= 128 or len(message) < 3:
            field_ = "key" if not 3 <= len(key) <= 128 else "message"
            error = {"field": field_, "code": "INVALID", "message": f"Invalid {field_}."}
            return {"appProblem": None, "errors": [error]}
        if len(message) > 2048:
            message = message[:2045] + "..."
        period = int(data.get("aggregationPeriod", 60))
        now = time.time()
        with self._lock:
            current = next(
                (
                    p
                    for p in reversed(self.problems)
                    if p.key == key
                    and not p.dismissed
                    and period > 0
                    and now - p.updated_at <= period * 60
                ),
                None,
            )
            if current is None:
                current = AppProblem(id=f"AppProblem:{len(self.problems) + 1}", key=key)
                self.problems.append(current)
            current.count += 1
            current.message = message
            current.updated_at = now
            threshold = data.get("criticalThreshold")
            current.is_critical = threshold is not None and current.count >= int(threshold)
            return {"appProblem": current.json(), "errors": []}

    def _resolve_appProblemDismiss(
        self, variables: dict[str, Any], call: GraphQLCall
    ) -> dict[str, Any]:
        if call.app_id is None:
            raise GraphQLErrors([permission_denied("appProblemDismiss")])
        keys = set(variables["input"]["byApp"]["keys"])
        with self._lock:
            for problem in self.problems:
                if problem.key in keys:
                    problem.dismissed = True
        return {"errors": []}

    # -- Saleor -> app --------------------------------------------------------------------------

    def saleor_headers(self, **extra: str) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, "Accept": "*/*", **extra}

    async def fetch_manifest(
        self, app_base_url: str, client: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        headers = self.saleor_headers(**{"Saleor-Schema-Version": SCHEMA_VERSION})
        async with _client(client) as http:
            return await http.get(_url(app_base_url, "/api/manifest", client), headers=headers)

    async def register(
        self,
        token_target_url: str,
        token: str,
        *,
        client: httpx.AsyncClient | None = None,
        api_url: str | None = None,
    ) -> httpx.Response:
        """POST the token the way ``send_app_token`` does (no redirects followed)."""
        headers = self.saleor_headers(
            **{
                "Content-Type": "application/json",
                "X-Saleor-Domain": self.domain,
                "Saleor-Domain": self.domain,
                "Saleor-Api-Url": api_url or self.api_url,
                "Saleor-Schema-Version": SCHEMA_VERSION,
            }
        )
        body = json.dumps({"auth_token": token}).encode()
        async with _client(client) as http:
            return await http.post(
                _url(token_target_url, "", client), content=body, headers=headers
            )

    async def install(
        self, app_base_url: str, *, client: httpx.AsyncClient | None = None
    ) -> Installation:
        """``appInstall``: manifest, new token + app id, register. Raises if the manifest fails."""
        response = await self.fetch_manifest(app_base_url, client)
        response.raise_for_status()
        manifest = response.json()
        token, app_id = self.issue_token()
        registered = await self.register(manifest["tokenTargetUrl"], token, client=client)
        installation = Installation(
            app_id=app_id, token=token, manifest=manifest, register_response=registered
        )
        for hook in manifest.get("webhooks", []):
            for event in [*hook.get("syncEvents", []), *hook.get("asyncEvents", [])]:
                installation.webhooks[event] = hook["targetUrl"]
        self.installation = installation
        return installation

    def webhook_request(
        self,
        definition_or_path: WebhookDefinition | str,
        event: str | None,
        payload: Any,
        *,
        raw_body: bytes | None = None,
        signature: str | None = None,
        api_url: str | None = None,
        drop_headers: tuple[str, ...] = (),
        extra_headers: dict[str, str] | None = None,
    ) -> tuple[str, dict[str, str], bytes]:
        """``(path, headers, body)`` of a signed delivery, for tests that send it themselves."""
        if isinstance(definition_or_path, WebhookDefinition):
            path = definition_or_path.path
            event = event or definition_or_path.event
        else:
            path = definition_or_path
        if event is None:
            msg = "event is required when sending to a bare path"
            raise ValueError(msg)
        if isinstance(payload, dict) and "recipient" not in payload and self.app_id:
            payload = {**payload, "recipient": {"id": self.app_id}}
        body = raw_body if raw_body is not None else saleor_json(payload)
        sig = signature if signature is not None else sign_detached(self.key, body)
        header_event = event.lower()
        headers = {
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "gzip, deflate",
            "Accept": "*/*",
            "Connection": "keep-alive",
            "Content-Type": "application/json",
            "X-Saleor-Event": header_event,
            "X-Saleor-Domain": self.domain,
            "X-Saleor-Signature": sig,
            "Saleor-Event": header_event,
            "Saleor-Domain": self.domain,
            "Saleor-Signature": sig,
            "Saleor-Api-Url": api_url or self.api_url,
            **(extra_headers or {}),
        }
        for name in drop_headers:
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        return path, headers, body

    async def send_webhook(
        self,
        app_base_url: str,
        definition_or_path: WebhookDefinition | str,
        event: str | None = None,
        payload: Any = None,
        *,
        client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> httpx.Response:
        """Sign and POST a delivery to the app; returns the app's response.

        ``definition_or_path`` is a :class:`WebhookDefinition`, an event enum name
        (``"TRANSACTION_PROCESS_SESSION"``) or a path. ``client`` sends through an existing client
        (e.g. the app in-process); otherwise a real HTTP request goes to ``app_base_url``.
        ``options`` go to :meth:`webhook_request` (``raw_body``, ``signature``, ``api_url``,
        ``drop_headers``, ``extra_headers``). A payload without ``recipient`` gets the current
        app id, as every subscription of the app selects it.
        """
        if isinstance(definition_or_path, str) and not definition_or_path.startswith("/"):
            definition_or_path = definition_for_event(definition_or_path)
        path, headers, body = self.webhook_request(definition_or_path, event, payload, **options)
        async with _client(client) as http:
            return await http.post(_url(app_base_url, path, client), content=body, headers=headers)

    # -- dashboard ------------------------------------------------------------------------------

    def dashboard_token(
        self,
        *,
        app_id: str | None = None,
        user_permissions: list[str] | None = None,
        lifetime_seconds: int = 300,
        key: SigningKey | None = None,
        **claims: Any,
    ) -> str:
        """The ``App.accessToken`` JWT Saleor gives the iframe (protocol §8.3)."""
        key = key or self.key
        now = int(time.time())
        body: dict[str, Any] = {
            "iat": now,
            "exp": now + lifetime_seconds,
            "iss": self.api_url,
            "owner": "saleor",
            "type": "thirdparty",
            "token": secrets.token_urlsafe(8),
            "email": "admin@example.com",
            "user_id": "VXNlcjoyMQ==",
            "is_staff": True,
            "app": app_id or self.app_id,
            "permissions": ["HANDLE_PAYMENTS"],
            "user_permissions": user_permissions
            if user_permissions is not None
            else ["HANDLE_PAYMENTS", "MANAGE_APPS"],
            **claims,
        }
        return jwt.encode(body, key.private, algorithm="RS256", headers={"kid": key.kid})


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def _arguments(node: FieldNode, variables: dict[str, Any]) -> dict[str, Any]:
    """A field's arguments with the request's variables put in (an argument given as a variable
    the request does not carry is left out, as GraphQL does)."""
    arguments: dict[str, Any] = {}
    for argument in node.arguments or ():
        value = argument.value
        if isinstance(value, VariableNode) and value.name.value not in variables:
            continue
        arguments[argument.name.value] = value_from_ast_untyped(value, variables)
    return arguments


def _aliases(node: Any) -> Iterator[str]:
    """Every alias in a parsed document (Saleor counts them all, nested ones included)."""
    if isinstance(node, FieldNode) and node.alias is not None:
        yield node.alias.value
    for key in getattr(node, "keys", ()):
        child = getattr(node, key, None)
        children = child if isinstance(child, tuple | list) else [child]
        for item in children:
            if hasattr(item, "keys"):
                yield from _aliases(item)


def _pick_operation(query: str, name: object) -> OperationDefinitionNode | None:
    operations = [d for d in _parsed(query).definitions if isinstance(d, OperationDefinitionNode)]
    if isinstance(name, str) and name:
        return next((o for o in operations if o.name and o.name.value == name), None)
    return operations[0] if len(operations) == 1 else None


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _url(base: str, path: str, client: httpx.AsyncClient | None) -> str:
    """Absolute URL for a fresh client; just the path (and query) for a provided one."""
    url = base.rstrip("/") + path if path else base
    if client is None:
        return url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class _client:
    """``async with _client(maybe_client) as http``: reuse it, or open (and close) a fresh one."""

    def __init__(self, client: httpx.AsyncClient | None) -> None:
        self._given = client
        self._own: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        self._own = httpx.AsyncClient(timeout=10, follow_redirects=False)
        return self._own

    async def __aexit__(self, *_: object) -> None:
        if self._own is not None:
            await self._own.aclose()


@contextmanager
def running(fake: FakeSaleor | None = None) -> Iterator[FakeSaleor]:
    """Serve a fake Saleor on 127.0.0.1 for the block; its ``base_url`` is set."""
    fake = fake or FakeSaleor()
    with serve(fake.asgi) as base_url:
        fake.base_url = base_url
        yield fake
