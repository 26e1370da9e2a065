"""The manifest Saleor reads at installation, and the logo it points to."""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import pytest

from saleor_up2pay import APP_ID, __version__
from saleor_up2pay.saleor.definitions import APP_PAGE_PATH, WEBHOOKS
from saleor_up2pay.saleor.documents import load_document
from saleor_up2pay.saleor.manifest import build_manifest
from saleor_up2pay.services import Services
from saleor_up2pay.settings import Settings
from tests.conftest import RECORDED, SCHEMA_PATH, require_shared

QUERIES_EXTENDED_SINCE_RECORDING = {
    # Issue 14: checkout lines, shipping, billing address and language (the documents still
    # validate against the schema: tests/test_graphql_documents.py).
    "PAYMENT_GATEWAY_INITIALIZE_SESSION",
    "TRANSACTION_INITIALIZE_SESSION",
}

SYNC_EVENTS = {
    "PAYMENT_GATEWAY_INITIALIZE_SESSION",
    "TRANSACTION_INITIALIZE_SESSION",
    "TRANSACTION_PROCESS_SESSION",
    "TRANSACTION_CHARGE_REQUESTED",
    "TRANSACTION_REFUND_REQUESTED",
    "TRANSACTION_CANCELATION_REQUESTED",
}


@pytest.fixture
async def manifest(app_client: httpx.AsyncClient) -> dict[str, Any]:
    response = await app_client.get("/api/manifest", headers={"Saleor-Schema-Version": "3.23"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def recorded_manifest() -> dict[str, Any]:
    path = require_shared(RECORDED / "install" / "01-manifest-fetch.json")
    recorded: dict[str, Any] = json.loads(path.read_text("utf-8"))["response"]["body_json"]
    return recorded


class TestManifest:
    async def test_identity_and_permissions(self, manifest: dict[str, Any]) -> None:
        """Stable id, the package version, HANDLE_PAYMENTS only, Saleor 3.22 or later (paymentMethodDetails, App problems)."""
        assert manifest["id"] == APP_ID == "saleor.app.up2pay"
        assert manifest["version"] == __version__
        assert manifest["permissions"] == ["HANDLE_PAYMENTS"]
        assert manifest["requiredSaleorVersion"] == ">=3.22"
        assert manifest["name"]
        assert manifest["about"]
        assert manifest["author"].strip()

    async def test_urls_are_absolute_and_from_app_url(self, app_client: httpx.AsyncClient) -> None:
        """Every URL starts with APP_URL, whatever Host header Saleor sends (it drops the port)."""
        response = await app_client.get("/api/manifest", headers={"Host": "127.0.0.1"})
        manifest = response.json()
        assert manifest["appUrl"] == "http://app.test" + APP_PAGE_PATH
        assert manifest["tokenTargetUrl"] == "http://app.test/api/register"
        assert manifest["brand"]["logo"]["default"] == "http://app.test/logo.png"
        for hook in manifest["webhooks"]:
            assert hook["targetUrl"].startswith("http://app.test/api/webhooks/")
        assert "127.0.0.1" not in response.text

    async def test_webhooks_come_from_the_definitions(self, manifest: dict[str, Any]) -> None:
        """Six sync payment events and async APP_DELETED, each with its subscription document."""
        hooks = manifest["webhooks"]
        assert len(hooks) == len(WEBHOOKS) == 7
        sync = {e for h in hooks for e in h.get("syncEvents", [])}
        async_ = {e for h in hooks for e in h.get("asyncEvents", [])}
        assert sync == SYNC_EVENTS
        assert async_ == {"APP_DELETED"}
        for hook, definition in zip(hooks, WEBHOOKS, strict=True):
            assert hook["query"] == load_document(definition.document)
            assert hook["targetUrl"] == "http://app.test" + definition.path
            assert hook["isActive"] is True
            assert len(hook.get("syncEvents", []) + hook.get("asyncEvents", [])) == 1

    async def test_matches_the_manifest_saleor_accepted(self, manifest: dict[str, Any]) -> None:
        """Same shape as the recorded manifest a Saleor 3.23 installed: keys, events, queries."""
        recorded = recorded_manifest()
        assert set(recorded) - {"requiredSaleorVersion"} <= set(manifest)
        assert manifest["id"] == recorded["id"]
        assert manifest["permissions"] == recorded["permissions"]

        def by_event(hooks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
            return {(h.get("syncEvents") or h["asyncEvents"])[0]: h for h in hooks}

        ours, theirs = by_event(manifest["webhooks"]), by_event(recorded["webhooks"])
        assert set(ours) == set(theirs)
        recorded_base = "http://127.0.0.1:58200"
        for event, hook in theirs.items():
            if event not in QUERIES_EXTENDED_SINCE_RECORDING:
                assert ours[event]["query"] == hook["query"], event
            assert ours[event]["name"] == hook["name"]
            assert ours[event]["targetUrl"].removeprefix("http://app.test") == hook[
                "targetUrl"
            ].removeprefix(recorded_base)
            assert ("syncEvents" in ours[event]) == ("syncEvents" in hook)
        assert manifest["appUrl"].removeprefix("http://app.test") == recorded[
            "appUrl"
        ].removeprefix(recorded_base)

    async def test_names_exist_in_the_saleor_schema(self, manifest: dict[str, Any]) -> None:
        """Permissions and event names are values of Saleor's enums (else install fails)."""
        require_shared(SCHEMA_PATH)
        from graphql import GraphQLEnumType
        from tests.fakes.fake_saleor import saleor_schema

        def values(name: str) -> set[str]:
            enum = saleor_schema().get_type(name)
            assert isinstance(enum, GraphQLEnumType)
            return set(enum.values)

        assert set(manifest["permissions"]) <= values("PermissionEnum")
        for hook in manifest["webhooks"]:
            assert set(hook.get("syncEvents", [])) <= values("WebhookEventTypeSyncEnum")
            assert set(hook.get("asyncEvents", [])) <= values("WebhookEventTypeAsyncEnum")

    async def test_manifest_path_never_redirects(self, app_client: httpx.AsyncClient) -> None:
        """Saleor does not follow redirects: the trailing-slash form answers 200 too."""
        response = await app_client.get("/api/manifest/")
        assert response.status_code == 200
        assert response.json()["id"] == APP_ID

    def test_app_url_trailing_slash_is_not_doubled(self, settings: Settings) -> None:
        """APP_URL given with a trailing slash still yields clean URLs."""
        changed = settings.model_copy(update={"app_url": "https://up2pay.example.com/"})
        manifest = build_manifest(changed)
        assert manifest["tokenTargetUrl"] == "https://up2pay.example.com/api/register"
        assert "//api" not in json.dumps(manifest)

    def test_order_page_extensions_are_declared(self, settings: Settings) -> None:
        """The order widget (3.22+) and the refund popup, with the app's own permissions only."""
        changed = settings.model_copy(update={"app_url": "https://up2pay.example.com"})
        manifest = build_manifest(changed)
        mounts = {(e["mount"], e["target"]): e for e in manifest["extensions"]}
        widget = mounts["ORDER_DETAILS_WIDGETS", "WIDGET"]
        assert widget["url"] == "https://up2pay.example.com/app/order"
        popup = mounts["ORDER_DETAILS_MORE_ACTIONS", "POPUP"]
        assert popup["url"] == "https://up2pay.example.com/app/order?view=refund"
        for extension in manifest["extensions"]:
            assert set(extension["permissions"]) <= set(manifest["permissions"])
            assert extension["label"]

    def test_homepage_and_support_urls_only_when_configured(self, settings: Settings) -> None:
        """No invented links: homepageUrl and supportUrl appear only when the operator sets them."""
        assert "homepageUrl" not in build_manifest(settings)
        changed = settings.model_copy(
            update={
                "homepage_url": "https://shop.example.com",
                "support_url": "https://help.example",
            }
        )
        manifest = build_manifest(changed)
        assert manifest["homepageUrl"] == "https://shop.example.com"
        assert manifest["supportUrl"] == "https://help.example"


class TestLogo:
    async def test_logo_is_served_as_png(
        self, app_client: httpx.AsyncClient, manifest: dict[str, Any], services: Services
    ) -> None:
        """The brand logo URL of the manifest answers a real PNG image."""
        path = manifest["brand"]["logo"]["default"].removeprefix(services.settings.app_url)
        response = await app_client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", response.content[16:24])
        assert (width, height) == (256, 256)
