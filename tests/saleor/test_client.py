"""The Saleor GraphQL client: named documents, Decimal money, typed failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from saleor_up2pay.saleor import documents
from saleor_up2pay.saleor.client import (
    SaleorClient,
    SaleorError,
    SaleorGraphQLError,
    SaleorMutationError,
    SaleorTransportError,
)
from saleor_up2pay.saleor.documents import DocumentNotFound, load_document

API_URL = "https://shop.example.com/graphql/"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, respond: Handler) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[Handler], tuple[SaleorClient, Recorder]]]:
    opened: list[httpx.AsyncClient] = []

    def make(respond: Handler) -> tuple[SaleorClient, Recorder]:
        recorder = Recorder(respond)
        http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        opened.append(http)
        return SaleorClient(http, API_URL, "app-token-123"), recorder

    yield make
    for http in opened:
        await http.aclose()


def answer(body: Any, status: int = 200) -> Handler:
    return lambda request: httpx.Response(status, content=json.dumps(body).encode())


class TestExecute:
    async def test_sends_the_named_document_with_the_token(self, make_client: Any) -> None:
        """The file's text is posted to the API URL with Authorization: Bearer <token>."""
        client, recorder = make_client(answer({"data": {"app": {"id": "QXBwOjEz"}}}))
        data = await client.execute("app_id")
        assert data == {"app": {"id": "QXBwOjEz"}}
        (request,) = recorder.requests
        assert str(request.url) == API_URL
        assert request.headers["authorization"] == "Bearer app-token-123"
        assert json.loads(request.content) == {"query": load_document("app_id"), "variables": {}}

    async def test_money_in_answers_is_decimal(self, make_client: Any) -> None:
        """Amounts come back as exact Decimals, never floats."""
        raw = b'{"data": {"transaction": {"chargedAmount": {"amount": 44.80}}}}'
        client, _ = make_client(lambda request: httpx.Response(200, content=raw))
        data = await client.execute("app_id")
        amount = data["transaction"]["chargedAmount"]["amount"]
        assert isinstance(amount, Decimal)
        assert amount == Decimal("44.80")

    async def test_decimal_variables_are_exact_json_numbers(self, make_client: Any) -> None:
        """Decimal variables go out as JSON numbers with the same digits."""
        client, recorder = make_client(answer({"data": {}}))
        await client.execute("app_id", {"amount": Decimal("19.90"), "n": 3})
        sent = json.loads(recorder.requests[0].content, parse_float=Decimal)
        assert sent["variables"] == {"amount": Decimal("19.9"), "n": 3}

    async def test_undocumented_document_name_fails_loudly(self, make_client: Any) -> None:
        """A typo in a document name is a clear error, not a request."""
        client, recorder = make_client(answer({"data": {}}))
        with pytest.raises(DocumentNotFound, match="no_such_document"):
            await client.execute("no_such_document")
        assert recorder.requests == []

    def test_repr_hides_the_token(self, make_client: Any) -> None:
        """The token never shows in a repr (logs, tracebacks)."""
        client, _ = make_client(answer({"data": {}}))
        assert "app-token-123" not in repr(client)


class TestErrors:
    async def test_graphql_errors_raise_typed_error(self, make_client: Any) -> None:
        """Top-level errors (e.g. PermissionDenied after uninstall) raise SaleorGraphQLError."""
        body = {
            "errors": [
                {
                    "message": "To access this path, you need one of the following permissions",
                    "extensions": {"exception": {"code": "PermissionDenied"}},
                }
            ],
            "data": {"app": None},
        }
        client, _ = make_client(answer(body))
        with pytest.raises(SaleorGraphQLError) as info:
            await client.execute("app_id")
        assert info.value.codes == ["PermissionDenied"]
        assert info.value.data == {"app": None}
        assert "app-token-123" not in str(info.value)

    async def test_invalid_document_answer_400_is_graphql_error(self, make_client: Any) -> None:
        """Saleor's 400 for a document it cannot validate is a GraphQL error, not transport."""
        client, _ = make_client(answer({"errors": [{"message": "Cannot query field"}]}, 400))
        with pytest.raises(SaleorGraphQLError, match="Cannot query field") as info:
            await client.execute("app_id")
        assert info.value.status == 400

    @pytest.mark.parametrize("status", [500, 502, 503])
    async def test_server_errors_are_transport_errors(self, make_client: Any, status: int) -> None:
        """HTTP 5xx is retryable: SaleorTransportError."""
        client, _ = make_client(lambda request: httpx.Response(status, text="Bad gateway"))
        with pytest.raises(SaleorTransportError, match=str(status)):
            await client.execute("app_id")

    @pytest.mark.parametrize(
        "exc",
        [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")],
        ids=["connect", "timeout"],
    )
    async def test_network_failures_are_transport_errors(
        self, make_client: Any, exc: Exception
    ) -> None:
        """Connection failures and timeouts are SaleorTransportError."""

        def fail(request: httpx.Request) -> httpx.Response:
            raise exc

        client, _ = make_client(fail)
        with pytest.raises(SaleorTransportError):
            await client.execute("app_id")

    @pytest.mark.parametrize(
        ("status", "body"),
        [(200, b"<html>"), (200, b"[1]"), (200, b'{"data": null}'), (404, b'{"x": 1}')],
        ids=["html", "array", "no-data", "not-found"],
    )
    async def test_non_graphql_answers_are_graphql_errors(
        self, make_client: Any, status: int, body: bytes
    ) -> None:
        """Answers that are not a GraphQL result are errors too, never silently empty data."""
        client, _ = make_client(lambda request: httpx.Response(status, content=body))
        with pytest.raises(SaleorGraphQLError):
            await client.execute("app_id")

    def test_errors_share_one_base(self) -> None:
        """Callers can catch SaleorError for any failure talking to Saleor."""
        for cls in (SaleorTransportError, SaleorGraphQLError, SaleorMutationError):
            assert issubclass(cls, SaleorError)


class TestMutate:
    async def test_mutation_errors_raise_with_code_and_field(self, make_client: Any) -> None:
        """The first mutation error's code, field and message are on the exception."""
        errors = [
            {
                "field": "pspReference",
                "code": "INCORRECT_DETAILS",
                "message": "The transaction with provided `pspReference` and `type` already exists with different amount.",
            }
        ]
        client, _ = make_client(answer({"data": {"transactionEventReport": {"errors": errors}}}))
        with pytest.raises(SaleorMutationError) as info:
            await client.mutate("app_id", {}, "transactionEventReport")
        assert info.value.code == "INCORRECT_DETAILS"
        assert info.value.field == "pspReference"
        assert "already exists" in info.value.message
        assert info.value.errors == errors

    async def test_successful_mutation_returns_its_result(self, make_client: Any) -> None:
        """No errors: the result object, with Decimal money."""
        raw = b'{"data": {"transactionEventReport": {"alreadyProcessed": true, "errors": [], "transactionEvent": {"amount": {"amount": 20.0}}}}}'
        client, _ = make_client(lambda request: httpx.Response(200, content=raw))
        result = await client.mutate("app_id", None, "transactionEventReport")
        assert result["alreadyProcessed"] is True
        assert result["transactionEvent"]["amount"]["amount"] == Decimal("20.0")

    async def test_missing_result_field_is_an_error(self, make_client: Any) -> None:
        """A result field absent from data (wrong name, null) is reported, not returned as {}."""
        client, _ = make_client(answer({"data": {"other": {}}}))
        with pytest.raises(SaleorGraphQLError, match="transactionEventReport"):
            await client.mutate("app_id", None, "transactionEventReport")


class TestDocuments:
    def test_duplicate_names_are_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two files with one name in different folders are an error, not a silent pick."""
        for folder in ("queries", "mutations"):
            (tmp_path / "graphql" / folder).mkdir(parents=True)
            (tmp_path / "graphql" / folder / "same.graphql").write_text("query { shop { name } }")
        monkeypatch.setattr(documents, "graphql_dir", lambda: tmp_path / "graphql")
        documents.document_paths.cache_clear()
        try:
            with pytest.raises(ValueError, match="same"):
                documents.document_paths()
        finally:
            documents.document_paths.cache_clear()

    def test_missing_folder_says_where_it_looked(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A package built without its data names the folder it looked for."""
        monkeypatch.setattr(documents, "DATA_FOLDER", "_no_such_data")
        with pytest.raises(DocumentNotFound, match=r"_no_such_data/graphql/ not found"):
            documents.data_dir("graphql")
