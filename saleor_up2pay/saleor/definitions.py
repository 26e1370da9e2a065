"""The webhooks the app subscribes to: one list, read by the manifest and by the router.

Each Saleor event has exactly one :class:`WebhookDefinition`. The manifest's ``webhooks`` are built
from :data:`WEBHOOKS` (query text from ``graphql/subscriptions/<document>.graphql``) and the same
list registers one ``POST`` route per definition, which checks that ``Saleor-Event`` matches.
"""

from __future__ import annotations

from dataclasses import dataclass

APP_PAGE_PATH = "/app"
"""The dashboard configuration page loaded in Saleor's iframe (the manifest's ``appUrl``)."""
MANIFEST_PATH = "/api/manifest"
REGISTER_PATH = "/api/register"
LOGO_PATH = "/logo.png"
WEBHOOK_PATH_PREFIX = "/api/webhooks/"


@dataclass(frozen=True)
class WebhookDefinition:
    """One subscription: the event, its query document, the route and the use case handling it."""

    name: str
    """Human name shown in the Dashboard's webhook list."""
    event: str
    """Enum name, e.g. ``TRANSACTION_INITIALIZE_SESSION``."""
    is_sync: bool
    document: str
    """Name of the subscription document in ``graphql/subscriptions/``."""
    path: str
    """Route path, e.g. ``/api/webhooks/transaction-initialize-session``."""
    handler: str
    """``module:function`` of ``async def handle(ctx: WebhookContext) -> dict``, imported lazily."""

    @property
    def header_event(self) -> str:
        """The ``Saleor-Event`` header value: the lower-case event value, not the enum name."""
        return self.event.lower()


def _payment(event: str, module: str | None = None) -> WebhookDefinition:
    slug = event.lower()
    return WebhookDefinition(
        name="Up2pay " + slug.replace("_", " "),
        event=event,
        is_sync=True,
        document=slug,
        path=WEBHOOK_PATH_PREFIX + slug.replace("_", "-"),
        handler=f"saleor_up2pay.transactions.{module or slug}:handle",
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
        handler="saleor_up2pay.transactions.app_deleted:handle",
    ),
]


def definition_for_event(event: str) -> WebhookDefinition:
    """The definition of an event, by enum name (``TRANSACTION_REFUND_REQUESTED``)."""
    for definition in WEBHOOKS:
        if definition.event == event:
            return definition
    raise KeyError(event)
