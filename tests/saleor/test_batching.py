"""Aliased batches of mutations: the documents Saleor gets, and each caller's own answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from saleor_up2pay.saleor.batching import MutationBatcher, batch_document
from saleor_up2pay.saleor.client import SaleorClient, SaleorGraphQLError, SaleorMutationError
from tests.fakes.fake_saleor import validate_document

API_URL = "https://shop.example.com/graphql/"


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_batched_reports_validate_against_the_schema(size: int) -> None:
    """The report document repeated N times, aliased, is a valid Saleor document."""
    batch = batch_document(("transaction_event_report",) * size)
    assert validate_document(batch.query) == []
    assert batch.aliases == tuple(f"m{i}" for i in range(size))
    assert batch.query.count("transactionEventReport(") == size
    assert ("pspReference", f"pspReference_{size - 1}") in batch.variables[-1]


def test_mixed_batches_validate_against_the_schema() -> None:
    """Reports, renames and metadata writes in one document (the follow-up mutations)."""
    batch = batch_document(
        ("transaction_event_report", "transaction_update", "update_private_metadata")
    )
    assert validate_document(batch.query) == []
    assert batch.variables[1] == (("id", "id_1"), ("transaction", "transaction_1"))


def test_only_single_mutation_documents_can_be_batched() -> None:
    with pytest.raises(ValueError, match="one mutation operation"):
        batch_document(("transaction_placement",))


class Saleor:
    """Answers each aliased transactionEventReport from ``outcomes`` (by pspReference)."""

    def __init__(self, outcomes: dict[str, str]) -> None:
        self.outcomes = outcomes
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        variables = body["variables"]
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for index in range(len(body["query"].split("transactionEventReport(")) - 1):
            alias, psp = f"m{index}", variables.get(f"pspReference_{index}")
            if psp is None:
                psp = variables["pspReference"]
                alias = "transactionEventReport"
            outcome = self.outcomes.get(psp, "ok")
            if outcome == "crash":
                data[alias] = None
                errors.append({"message": "Internal Server Error", "path": [alias]})
            elif outcome == "ok":
                data[alias] = {"alreadyProcessed": False, "errors": [], "transaction": {}}
            else:
                data[alias] = {"errors": [{"field": "id", "code": outcome, "message": "no"}]}
        answer: dict[str, Any] = {"data": data}
        if errors:
            answer["errors"] = errors
        return httpx.Response(200, content=json.dumps(answer).encode())


@pytest.fixture
async def http() -> AsyncIterator[list[httpx.AsyncClient]]:
    opened: list[httpx.AsyncClient] = []
    yield opened
    for client in opened:
        await client.aclose()


def client_for(opened: list[httpx.AsyncClient], saleor: Saleor) -> SaleorClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(saleor))
    opened.append(http)
    return SaleorClient(http, API_URL, "app-token-123")


def report(psp: str) -> dict[str, Any]:
    return {"id": "VHJhbnNhY3Rpb25JdGVtOjE=", "type": "CHARGE_SUCCESS", "pspReference": psp}


async def test_each_caller_gets_its_own_answer(http: list[httpx.AsyncClient]) -> None:
    """Four concurrent reports, one request: a success, a mutation error, a resolver crash,
    a success — each caller sees only its own."""
    saleor = Saleor({"2": "NOT_FOUND", "3": "crash"})
    client = client_for(http, saleor)
    batcher = MutationBatcher(max_mutations=4, window=5.0)
    results = await asyncio.gather(
        *(
            batcher.mutate(
                client, "transaction_event_report", report(psp), "transactionEventReport"
            )
            for psp in "1234"
        ),
        return_exceptions=True,
    )
    assert len(saleor.bodies) == 1
    ok1, not_found, crash, ok4 = results
    assert ok1 == ok4 == {"alreadyProcessed": False, "errors": [], "transaction": {}}
    assert isinstance(not_found, SaleorMutationError)
    assert not_found.code == "NOT_FOUND"
    assert isinstance(crash, SaleorGraphQLError)
    assert crash.errors == [{"message": "Internal Server Error", "path": ["m2"]}]


async def test_a_lone_call_is_sent_with_its_own_document(http: list[httpx.AsyncClient]) -> None:
    """Nothing else came within the window: the report's own document, its own variables."""
    saleor = Saleor({})
    client = client_for(http, saleor)
    batcher = MutationBatcher(max_mutations=4, window=0.001)
    await batcher.mutate(client, "transaction_event_report", report("9"), "transactionEventReport")
    (body,) = saleor.bodies
    assert body["query"].count("transactionEventReport(") == 1
    assert body["variables"]["pspReference"] == "9"


async def test_transport_failure_fails_every_call(http: list[httpx.AsyncClient]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    transport = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    http.append(transport)
    client = SaleorClient(transport, API_URL, "app-token-123")
    batcher = MutationBatcher(max_mutations=4, window=5.0)
    results = await asyncio.gather(
        *(
            batcher.mutate(client, "transaction_event_report", report(p), "transactionEventReport")
            for p in "1234"
        ),
        return_exceptions=True,
    )
    assert all(type(r).__name__ == "SaleorTransportError" for r in results)


async def test_a_report_that_cannot_be_encoded_fails_alone(http: list[httpx.AsyncClient]) -> None:
    """An amount JSON cannot carry exactly fails its own call; the others are sent."""
    saleor = Saleor({})
    client = client_for(http, saleor)
    batcher = MutationBatcher(max_mutations=4, window=5.0)
    bad = {**report("2"), "amount": Decimal("0.1000000000000000000001")}
    results = await asyncio.gather(
        *(
            batcher.mutate(client, "transaction_event_report", variables, "transactionEventReport")
            for variables in (report("1"), bad, report("3"), report("4"))
        ),
        return_exceptions=True,
    )
    assert isinstance(results[1], ValueError)
    assert [isinstance(r, dict) for r in results] == [True, False, True, True]


async def test_an_error_about_the_whole_request_fails_every_call(
    http: list[httpx.AsyncClient],
) -> None:
    """A top-level error with no path (not about one alias) is every call's error, as it would
    have been for each alone."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = {"data": {"m0": None, "m1": None}, "errors": [{"message": "Invalid token."}]}
        return httpx.Response(200, content=json.dumps(body).encode())

    transport = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    http.append(transport)
    client = SaleorClient(transport, API_URL, "app-token-123")
    batcher = MutationBatcher(max_mutations=2, window=5.0)
    results = await asyncio.gather(
        *(
            batcher.mutate(client, "transaction_event_report", report(p), "transactionEventReport")
            for p in "12"
        ),
        return_exceptions=True,
    )
    assert [str(r) for r in results] == [
        "2 aliased mutations (transaction_event_report): Invalid token."
    ] * 2
