"""The one place that reports transaction events to Saleor (``transactionEventReport``).

Every event the app sends outside a webhook answer goes through
:class:`TransactionEventReporter`: an IPN's leg result, the cancelled rest of a partial capture,
the outcome of a deferred refund. It owns how Saleor's answers are read:

- ``alreadyProcessed: true`` is a success (``"already_processed"``): the same event reached Saleor
  first through a webhook answer or an earlier attempt. Saleor 3.23 then silently drops anything
  else the report carried, so the item's readable name and private metadata are never sent with
  the event: :meth:`TransactionEventReporter.report` writes them with their own mutations
  (``transactionUpdate``, ``updatePrivateMetadata``) after the event;
- ``INCORRECT_DETAILS`` / ``ALREADY_EXISTS`` (this pspReference and type with another amount, a
  second authorization): Saleor will never accept it; answered as a :class:`ReportResult` whose
  ``conflict`` holds Saleor's error (the caller logs it with its own context), never retried
  (the name and metadata are still written);
- ``NOT_FOUND``: Saleor no longer has the item; raised as :class:`TransactionItemNotFound` so the
  caller decides (retry a few times, give up, drop);
- transport failures and anything else raise (the job queue retries).

Saleor-side only: nothing here knows Up2pay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from saleor_up2pay.saleor.apl import AuthStore
from saleor_up2pay.saleor.client import SaleorClient, SaleorMutationError
from saleor_up2pay.saleor.ids import SaleorApiUrl, TransactionItemId

CONFLICT_CODES = frozenset({"INCORRECT_DETAILS", "ALREADY_EXISTS"})


class AppNotInstalled(Exception):
    """The Saleor instance has no installation of the app (uninstalled, purged)."""


class TransactionItemNotFound(Exception):
    """Saleor answered NOT_FOUND: the transaction item (or what holds it) is gone."""


@dataclass(frozen=True)
class ReportResult:
    """How Saleor took one event: ``created``, ``already_processed`` or ``conflict:<code>``."""

    outcome: str
    conflict: SaleorMutationError | None = None


class TransactionEventReporter:
    """Reports events on transaction items of one Saleor instance, with the app token."""

    def __init__(self, client: SaleorClient) -> None:
        self.client = client

    @classmethod
    async def for_instance(
        cls, auth_store: AuthStore, http: httpx.AsyncClient, saleor_api_url: SaleorApiUrl
    ) -> TransactionEventReporter:
        """The reporter of an installed instance; raises :class:`AppNotInstalled` otherwise."""
        auth = await auth_store.get(saleor_api_url)
        if auth is None:
            msg = f"the app is not installed on {saleor_api_url}"
            raise AppNotInstalled(msg)
        return cls(SaleorClient(http, saleor_api_url, auth.token))

    async def report(
        self,
        variables: Mapping[str, Any],
        *,
        name: str | None = None,
        private_metadata: Sequence[Mapping[str, str]] | None = None,
    ) -> ReportResult:
        """Report one event (``variables`` of ``transaction_event_report``, ``id`` included).

        ``name`` and
        ``private_metadata``, when given, are written to the item after the event, each with its
        own mutation (so an ``alreadyProcessed`` event cannot drop them), also after a conflict.
        """
        item_id = TransactionItemId(str(variables["id"]))
        conflict: SaleorMutationError | None = None
        try:
            result = await self.client.mutate(
                "transaction_event_report", dict(variables), "transactionEventReport"
            )
        except SaleorMutationError as exc:
            if exc.code == "NOT_FOUND":
                msg = f"Saleor has no transaction item {item_id}: {exc.message}"
                raise TransactionItemNotFound(msg) from exc
            if exc.code not in CONFLICT_CODES:
                raise
            result, conflict = {}, exc  # retrying can never succeed: report it, go on
        if name is not None:
            await self.client.mutate(
                "transaction_update",
                {"id": item_id, "transaction": {"name": name}},
                "transactionUpdate",
            )
        if private_metadata is not None:
            await self.client.mutate(
                "update_private_metadata",
                {"id": item_id, "input": [dict(entry) for entry in private_metadata]},
                "updatePrivateMetadata",
            )
        if conflict is not None:
            return ReportResult(f"conflict:{conflict.code}", conflict)
        return ReportResult("already_processed" if result.get("alreadyProcessed") else "created")
