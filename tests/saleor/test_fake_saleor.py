"""The fake Saleor behaves like the recorded one where the app depends on it."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from saleor_up2pay.saleor.definitions import definition_for_event
from tests.conftest import RECORDED, require_shared
from tests.fakes.fake_saleor import FakeSaleor, GraphQLCall, GraphQLErrors


async def post_graphql(
    fake: FakeSaleor, query: str, token: str | None = None, **extra: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        return await client.post(fake.api_url, json={"query": query, **extra}, headers=headers)


class TestFakeGraphQL:
    async def test_invalid_document_is_refused_with_400(self, fake_saleor: FakeSaleor) -> None:
        """A document Saleor's schema rejects never reaches a resolver."""
        fake_saleor.resolvers["app"] = lambda variables, call: pytest.fail("resolved")
        response = await post_graphql(fake_saleor, "query { app { notAField } }")
        assert response.status_code == 400
        assert "notAField" in response.json()["errors"][0]["message"]

    async def test_app_id_needs_a_valid_token(self, fake_saleor: FakeSaleor) -> None:
        """Like Saleor after appDelete: an unknown token reads app: null with PermissionDenied."""
        token, app_id = fake_saleor.issue_token()
        ok = await post_graphql(fake_saleor, "query { app { id } }", token)
        assert ok.json() == {"data": {"app": {"id": app_id}}}
        fake_saleor.revoke_tokens()
        denied = (await post_graphql(fake_saleor, "query { app { id } }", token)).json()
        recorded = json.loads(
            require_shared(RECORDED / "graphql" / "72-app-token-after-delete.json").read_text(
                "utf-8"
            )
        )["response"]["json"]
        assert denied["data"] == recorded["data"]
        assert denied["errors"][0]["extensions"] == recorded["errors"][0]["extensions"]

    async def test_resolvers_by_operation_and_by_root_field(self, fake_saleor: FakeSaleor) -> None:
        """An operation-name resolver returns data; a root-field resolver returns its value."""
        seen: list[GraphQLCall] = []

        def shop(variables: dict[str, Any], call: GraphQLCall) -> dict[str, Any]:
            seen.append(call)
            return {"name": "Demo"}

        async def whole(variables: dict[str, Any], call: GraphQLCall) -> dict[str, Any]:
            return {"app": {"name": variables["id"]}}

        fake_saleor.resolvers["shop"] = shop
        by_field = await post_graphql(fake_saleor, "query { shop { name } }")
        assert by_field.json() == {"data": {"shop": {"name": "Demo"}}}
        assert seen[0].root_fields == ["shop"]

        fake_saleor.resolvers["AppName"] = whole
        by_name = await post_graphql(
            fake_saleor, "query AppName($id: ID) { app(id: $id) { name } }", variables={"id": "X"}
        )
        assert by_name.json() == {"data": {"app": {"name": "X"}}}

    async def test_unhandled_operation_is_an_error_and_recorded(
        self, fake_saleor: FakeSaleor
    ) -> None:
        """A valid operation nobody resolves answers an error naming what is missing."""
        response = await post_graphql(fake_saleor, "query { shop { name } }")
        assert "no resolver for 'shop'" in response.json()["errors"][0]["message"]
        assert [c.root_fields for c in fake_saleor.unhandled] == [["shop"]]

    async def test_resolver_can_answer_errors(self, fake_saleor: FakeSaleor) -> None:
        """GraphQLErrors raised by a resolver become top-level errors with its status."""

        def broken(variables: dict[str, Any], call: GraphQLCall) -> None:
            raise GraphQLErrors("boom", status=500)

        fake_saleor.resolvers["shop"] = broken
        response = await post_graphql(fake_saleor, "query { shop { name } }")
        assert response.status_code == 500
        assert response.json() == {"errors": [{"message": "boom"}]}


class TestFakeWebhooks:
    def test_delivery_looks_like_saleors(self) -> None:
        """Same header names and order, same signature header and body style as recorded."""
        recording = json.loads(
            require_shared(
                RECORDED / "webhooks" / "02-transaction-initialize-session.json"
            ).read_text("utf-8")
        )
        fake = FakeSaleor()
        fake.base_url = "http://localhost:58001"
        definition = definition_for_event("TRANSACTION_INITIALIZE_SESSION")
        payload = json.loads(base64.b64decode(recording["request"]["body_base64"]))
        path, headers, body = fake.webhook_request(definition, None, payload)
        recorded_names = [
            n for n, _ in recording["request"]["headers"] if n not in {"Content-Length", "Host"}
        ]
        assert list(headers) == recorded_names
        assert path == recording["request"]["path"]
        assert body == base64.b64decode(recording["request"]["body_base64"])
        recorded_header = json.loads(
            base64.urlsafe_b64decode(
                dict(recording["request"]["headers"])["Saleor-Signature"].split(".")[0] + "=="
            )
        )
        ours = json.loads(
            base64.urlsafe_b64decode(headers["Saleor-Signature"].split(".")[0] + "==")
        )
        assert set(ours) == set(recorded_header)
        assert headers["Saleor-Signature"].split(".")[1] == ""
        assert headers["Saleor-Event"] == "transaction_initialize_session"
        assert headers["Saleor-Api-Url"] == "http://localhost:58001/graphql/"
