"""A small async GraphQL client for one Saleor instance, speaking with the app token.

Documents are named ``.graphql`` files from ``graphql/`` (see :mod:`.documents`), never strings
built in code, so every document we send is validated against Saleor's schema by the test suite.
Answers are parsed with ``Decimal`` for every JSON number with a fraction (money), and failures
become one of the typed exceptions below. Timeouts and the connection pool are those of the shared
``httpx.AsyncClient`` passed in (``Services.http``).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import httpx

from saleor_up2pay.saleor.documents import load_document


class SaleorError(Exception):
    """Base of every failure talking to Saleor. Messages never contain the token."""


class SaleorTransportError(SaleorError):
    """Saleor could not be reached, timed out, or answered HTTP 5xx: worth retrying later."""


class SaleorGraphQLError(SaleorError):
    """Saleor answered with top-level GraphQL ``errors`` (or something that is not GraphQL)."""

    def __init__(
        self, message: str, errors: list[Any] | None = None, data: Any = None, status: int = 0
    ) -> None:
        super().__init__(message)
        self.errors = errors or []
        self.data = data
        self.status = status

    @property
    def codes(self) -> list[str]:
        """The ``extensions.exception.code`` of each error (e.g. ``PermissionDenied``)."""
        found = []
        for error in self.errors:
            ext = error.get("extensions") if isinstance(error, dict) else None
            code = (ext or {}).get("exception", {}).get("code") if isinstance(ext, dict) else None
            if isinstance(code, str):
                found.append(code)
        return found


class SaleorMutationError(SaleorError):
    """A mutation answered with its own ``errors`` list (validation, permission, duplicates)."""

    def __init__(self, code: str, field: str | None, message: str, errors: list[Any]) -> None:
        super().__init__(f"{code} on {field or '-'}: {message}")
        self.code = code
        self.field = field
        self.message = message
        self.errors = errors


def _encode_decimal(value: object) -> float:
    if isinstance(value, Decimal):
        # Sent as a JSON number: Saleor's decimal scalars read str(value) back, so the float's
        # shortest repr must give the same decimal, which holds for any real money amount.
        as_float = float(value)
        if Decimal(repr(as_float)) != value:
            msg = f"{value} cannot be sent exactly as a JSON number"
            raise ValueError(msg)
        return as_float
    msg = f"{type(value).__name__} is not JSON serialisable"
    raise TypeError(msg)


class SaleorClient:
    """GraphQL calls to ``saleor_api_url`` authenticated with ``Authorization: Bearer <token>``."""

    def __init__(self, http: httpx.AsyncClient, saleor_api_url: str, token: str) -> None:
        self._http = http
        self.saleor_api_url = saleor_api_url
        self._token = token

    def __repr__(self) -> str:
        return f"SaleorClient({self.saleor_api_url!r})"

    async def execute(
        self, document: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run the named document; returns its ``data``. Raises a :class:`SaleorError`."""
        status, answer = await self.post(load_document(document), variables, label=document)
        errors = answer.get("errors")
        data = answer.get("data")
        if errors:
            first = errors[0].get("message") if isinstance(errors[0], dict) else errors[0]
            msg = f"{document}: {first}"
            raise SaleorGraphQLError(msg, errors, data, status)
        if status != 200 or not isinstance(data, dict):
            msg = f"{document}: Saleor answered HTTP {status} without data"
            raise SaleorGraphQLError(msg, status=status)
        return data

    async def post(
        self, query: str, variables: dict[str, Any] | None, *, label: str
    ) -> tuple[int, dict[str, Any]]:
        """POST one GraphQL document; returns ``(HTTP status, the JSON answer object)``.

        Transport failures and HTTP 5xx raise :class:`SaleorTransportError`, an answer that is
        not a JSON object :class:`SaleorGraphQLError`; GraphQL ``errors`` are left to the caller
        (a batch of aliased mutations reads them per alias). ``label`` names the request in
        error messages (never the token).
        """
        return await self.post_encoded(self.encode(query, variables), label=label)

    @staticmethod
    def encode(query: str, variables: dict[str, Any] | None) -> bytes:
        """The request body; raises ``ValueError``/``TypeError`` for a value JSON cannot carry
        exactly (a ``Decimal`` with more digits than a float keeps...)."""
        return json.dumps(
            {"query": query, "variables": variables or {}}, default=_encode_decimal
        ).encode()

    async def post_encoded(self, body: bytes, *, label: str) -> tuple[int, dict[str, Any]]:
        """:meth:`post` with the body already encoded (:meth:`encode`)."""
        try:
            response = await self._http.post(
                self.saleor_api_url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self._token}",
                },
            )
        except httpx.HTTPError as exc:
            msg = f"{label}: Saleor unreachable ({type(exc).__name__})"
            raise SaleorTransportError(msg) from exc
        if response.status_code >= 500:
            msg = f"{label}: Saleor answered HTTP {response.status_code}"
            raise SaleorTransportError(msg)
        try:
            answer = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            msg = f"{label}: Saleor answered HTTP {response.status_code} without JSON"
            raise SaleorGraphQLError(msg, status=response.status_code) from None
        if not isinstance(answer, dict):
            msg = f"{label}: Saleor answered a JSON {type(answer).__name__}, not an object"
            raise SaleorGraphQLError(msg, status=response.status_code)
        return response.status_code, answer

    async def mutate(
        self, document: str, variables: dict[str, Any] | None, result_field: str
    ) -> dict[str, Any]:
        """Run a mutation; returns ``data[result_field]`` or raises on its ``errors``."""
        data = await self.execute(document, variables)
        return mutation_result(document, data, result_field)

    @property
    def token_fingerprint(self) -> str:
        """Which token this client speaks with, without the token (batches group by it)."""
        return hashlib.sha256(self._token.encode()).hexdigest()[:16]


def mutation_result(document: str, data: dict[str, Any], result_field: str) -> dict[str, Any]:
    """``data[result_field]`` of a mutation; raises :class:`SaleorMutationError` on its
    ``errors`` and :class:`SaleorGraphQLError` when the field is missing."""
    result = data.get(result_field)
    if not isinstance(result, dict):
        msg = f"{document}: no {result_field!r} in the answer"
        raise SaleorGraphQLError(msg, data=data)
    errors = result.get("errors") or []
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        raise SaleorMutationError(
            code=str(first.get("code") or "UNKNOWN"),
            field=first.get("field"),
            message=str(first.get("message") or ""),
            errors=errors,
        )
    return result
