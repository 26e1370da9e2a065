"""The app manifest Saleor fetches at installation (``GET /api/manifest``).

Static text (name, about, author, permissions, required Saleor version) lives in
``manifest/manifest.json``, package data found through the package (see :mod:`.documents`). This
module adds what depends on the running app: the id, the package version, the optional homepage and
support URLs (``HOMEPAGE_URL``, ``SUPPORT_URL``), the order page extensions (:func:`extensions`),
absolute URLs built from ``APP_URL`` (never from the request's ``Host``: Saleor sends it without
the port) and one webhook per :data:`~.definitions.WEBHOOKS` entry, whose ``query`` is the
subscription document's text.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from saleor_up2pay import APP_ID, __version__
from saleor_up2pay.saleor.definitions import (
    APP_PAGE_PATH,
    LOGO_PATH,
    ORDER_WIDGET_PATH,
    REGISTER_PATH,
    WEBHOOKS,
    WebhookDefinition,
)
from saleor_up2pay.saleor.documents import data_dir, load_document
from saleor_up2pay.settings import Settings

RUNTIME_KEYS = frozenset(
    {
        "id",
        "version",
        "appUrl",
        "tokenTargetUrl",
        "brand",
        "webhooks",
        "extensions",
        "homepageUrl",
        "supportUrl",
    }
)


def manifest_dir() -> Path:
    """``manifest/``, package data of the installed package (see :mod:`.documents`)."""
    return data_dir("manifest")


def logo_path() -> Path:
    return manifest_dir() / "logo.png"


@cache
def static_manifest() -> dict[str, Any]:
    """``manifest/manifest.json``; it may not set the keys this module computes."""
    data: dict[str, Any] = json.loads((manifest_dir() / "manifest.json").read_text("utf-8"))
    clash = RUNTIME_KEYS & data.keys()
    if clash:
        msg = f"manifest/manifest.json must not set {sorted(clash)}: the app computes them"
        raise ValueError(msg)
    return data


def webhook_entry(definition: WebhookDefinition, app_url: str) -> dict[str, Any]:
    events_key = "syncEvents" if definition.is_sync else "asyncEvents"
    return {
        "name": definition.name,
        "targetUrl": app_url + definition.path,
        "isActive": True,
        "query": load_document(definition.document),
        events_key: [definition.event],
    }


def extensions(app_url: str, permissions: list[str]) -> list[dict[str, Any]]:
    """The order page extensions (Saleor 3.22+; mount and target are free strings since 3.23).

    The widget in the order details, and the same page as a popup from the order's "more
    actions" menu opening on the refund split. Their permissions are the app's own (an
    extension's must be a subset of the app's).
    """
    url = app_url + ORDER_WIDGET_PATH
    return [
        {
            "label": "Up2pay",
            "url": url,
            "mount": "ORDER_DETAILS_WIDGETS",
            "target": "WIDGET",
            "permissions": permissions,
            "options": {"widgetTarget": {"method": "GET"}},
        },
        {
            "label": "Refund across Up2pay legs",
            "url": url + "?view=refund",
            "mount": "ORDER_DETAILS_MORE_ACTIONS",
            "target": "POPUP",
            "permissions": permissions,
        },
    ]


def build_manifest(settings: Settings) -> dict[str, Any]:
    """The manifest JSON for an app served at ``settings.app_url``."""
    base = settings.app_url.rstrip("/")
    return {
        "id": APP_ID,
        "version": __version__,
        **static_manifest(),
        "appUrl": base + APP_PAGE_PATH,
        "tokenTargetUrl": base + REGISTER_PATH,
        "brand": {"logo": {"default": base + LOGO_PATH}},
        "extensions": extensions(base, list(static_manifest()["permissions"])),
        "webhooks": [webhook_entry(definition, base) for definition in WEBHOOKS],
        **{
            key: value
            for key, value in (
                ("homepageUrl", settings.homepage_url),
                ("supportUrl", settings.support_url),
            )
            if value
        },
    }
