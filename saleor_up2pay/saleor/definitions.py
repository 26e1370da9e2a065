"""The webhooks the app subscribes to: one list, read by the manifest and by the router.

Each Saleor event has exactly one :class:`WebhookDefinition`. The manifest's ``webhooks`` are built
from :data:`WEBHOOKS` (query text from ``graphql/subscriptions/<document>.graphql``) and the same
list registers one ``POST`` route per definition, which checks that ``Saleor-Event`` matches. Which
use case answers an event is not said here (the Saleor adapter knows no use case): the app is
given an explicit ``{event: handler}`` map when it is assembled (:mod:`saleor_up2pay.wiring`).
"""

from __future__ import annotations

from dataclasses import dataclass

APP_PAGE_PATH = "/app"
"""The dashboard configuration page loaded in Saleor's iframe (the manifest's ``appUrl``)."""
ORDER_WIDGET_PATH = APP_PAGE_PATH + "/order"
"""The order page widget (manifest extensions ``ORDER_DETAILS_WIDGETS`` and the refund popup)."""
MANIFEST_PATH = "/api/manifest"
REGISTER_PATH = "/api/register"
LOGO_PATH = "/logo.png"
WEBHOOK_PATH_PREFIX = "/api/webhooks/"


@dataclass(frozen=True)
class WebhookDefinition:
    """One subscription: the event, its query document and its route."""

    name: str
    """Human name shown in the Dashboard's webhook list."""
    event: str
    """Enum name, e.g. ``TRANSACTION_INITIALIZE_SESSION``."""
    is_sync: bool
    document: str
    """Name of the subscription document in ``graphql/subscriptions/``."""
    path: str
    """Route path, e.g. ``/api/webhooks/transaction-initialize-session``."""

    @property
    def header_event(self) -> str:
        """The ``Saleor-Event`` header value: the lower-case event value, not the enum name."""
        return self.event.lower()


def _payment(event: str) -> WebhookDefinition:
    slug = event.lower()
    return WebhookDefinition(
        name="Up2pay " + slug.replace("_", " "),
        event=event,
        is_sync=True,
        document=slug,
        path=WEBHOOK_PATH_PREFIX + slug.replace("_", "-"),
    )


WEBHOOKS: list[WebhookDefinition] = [
    _payment("PAYMENT_GATEWAY_INITIALIZE_SESSION"),
    _payment("TRANSACTION_INITIALIZE_SESSION"),
    _payment("TRANSACTION_PROCESS_SESSION"),
    _payment("TRANSACTION_CHARGE_REQUESTED"),
    _payment("TRANSACTION_REFUND_REQUESTED"),
    _payment("TRANSACTION_CANCELATION_REQUESTED"),
    WebhookDefinition(
        name="Up2pay app deleted",
        event="APP_DELETED",
        is_sync=False,
        document="app_deleted",
        path=WEBHOOK_PATH_PREFIX + "app-deleted",
    ),
]


def definition_for_event(event: str) -> WebhookDefinition:
    """The definition of an event, by enum name (``TRANSACTION_REFUND_REQUESTED``)."""
    for definition in WEBHOOKS:
        if definition.event == event:
            return definition
    raise KeyError(event)
