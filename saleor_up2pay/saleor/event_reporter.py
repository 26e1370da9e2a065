"""The one place that reports transaction events to Saleor (``transactionEventReport``).

Every event the app sends outside a webhook answer goes through
:class:`TransactionEventReporter`: an IPN's leg result, the cancelled rest of a partial capture,
the outcome of a deferred refund. It owns how Saleor's answers are read, and keeps a report to
**one** GraphQL call in the common case:

- the item's private metadata goes with the event (``transactionPrivateMetadata``; the app
  keeps no public metadata on items), and the answer carries the item's ``name``;
- ``alreadyProcessed: true`` is a success (``"already_processed"``): the same event reached Saleor
  first through a webhook answer or an earlier attempt. Saleor 3.23 then silently drops the
  metadata the report carried (recorded fact 17), so only then is it written again with
  ``updatePrivateMetadata``;
- the readable name cannot go with the event (``transactionEventReport`` has no such argument):
  ``transactionUpdate`` is sent only when the answer shows another name;
- ``INCORRECT_DETAILS`` / ``ALREADY_EXISTS`` (this pspReference and type with another amount, a
  second authorization): Saleor will never accept it; answered as a :class:`ReportResult` whose
  ``conflict`` holds Saleor's error (the caller logs it with its own context), never retried
  (the name and metadata are still written, each with its own mutation);
- ``NOT_FOUND``: Saleor no longer has the item; raised as :class:`TransactionItemNotFound` so the
  caller decides (retry a few times, give up, drop);
- HTTP 401 or ``PermissionDenied`` (the token was revoked or replaced): the process's cached
  token of the instance is dropped (:meth:`~.apl.AuthStore.forget_token`) and the error raised;
- transport failures and anything else raise (the job queue retries).

With a :class:`~.batching.MutationBatcher`, concurrent reports to one instance share requests
(aliased mutations); each report still gets its own answer and its own errors.

Saleor-side only: nothing here knows Up2pay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from saleor_up2pay.saleor.apl import AuthStore
from saleor_up2pay.saleor.batching import MutationBatcher
from saleor_up2pay.saleor.client import SaleorClient, SaleorGraphQLError, SaleorMutationError
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

    def __init__(
        self,
        client: SaleorClient,
        batcher: MutationBatcher | None = None,
        auth_store: AuthStore | None = None,
    ) -> None:
        self.client = client
        self.batcher = batcher
        self.auth_store = auth_store

    @classmethod
    async def for_instance(
        cls,
        auth_store: AuthStore,
        http: httpx.AsyncClient,
        saleor_api_url: SaleorApiUrl,
        batcher: MutationBatcher | None = None,
    ) -> TransactionEventReporter:
        """The reporter of an installed instance; raises :class:`AppNotInstalled` otherwise."""
        auth = await auth_store.get(saleor_api_url)
        if auth is None:
            msg = f"the app is not installed on {saleor_api_url}"
            raise AppNotInstalled(msg)
        return cls(SaleorClient(http, saleor_api_url, auth.token), batcher, auth_store)

    async def _mutate(
        self, document: str, variables: dict[str, Any], result_field: str
    ) -> dict[str, Any]:
        try:
            if self.batcher is not None:
                return await self.batcher.mutate(self.client, document, variables, result_field)
            return await self.client.mutate(document, variables, result_field)
        except SaleorGraphQLError as exc:
            refused = exc.status == 401 or "PermissionDenied" in exc.codes
            if refused and self.auth_store is not None:
                self.auth_store.forget_token(self.client.saleor_api_url)
            raise

    async def report(
        self,
        variables: Mapping[str, Any],
        *,
        name: str | None = None,
        private_metadata: Sequence[Mapping[str, str]] | None = None,
    ) -> ReportResult:
        """Report one event (``variables`` of ``transaction_event_report``, ``id`` included).

        ``private_metadata``, when given, goes with the event and is written again with its own
        mutation when Saleor drops it (``alreadyProcessed``, a conflict); ``name``, when given,
        is written with ``transactionUpdate`` unless the answer shows the item has it already.
        """
        item_id = TransactionItemId(str(variables["id"]))
        sent = dict(variables)
        if private_metadata is not None:
            sent["transactionPrivateMetadata"] = [dict(entry) for entry in private_metadata]
        conflict: SaleorMutationError | None = None
        try:
            result = await self._mutate("transaction_event_report", sent, "transactionEventReport")
        except SaleorMutationError as exc:
            if exc.code == "NOT_FOUND":
                msg = f"Saleor has no transaction item {item_id}: {exc.message}"
                raise TransactionItemNotFound(msg) from exc
            if exc.code not in CONFLICT_CODES:
                raise
            result, conflict = {}, exc  # retrying can never succeed: report it, go on
        metadata_kept = conflict is None and not result.get("alreadyProcessed")
        current_name = (result.get("transaction") or {}).get("name")
        if name is not None and (conflict is not None or current_name != name):
            await self._mutate(
                "transaction_update",
                {"id": item_id, "transaction": {"name": name}},
                "transactionUpdate",
            )
        if private_metadata is not None and not metadata_kept:
            await self._mutate(
                "update_private_metadata",
                {"id": item_id, "input": sent["transactionPrivateMetadata"]},
                "updatePrivateMetadata",
            )
        if conflict is not None:
            return ReportResult(f"conflict:{conflict.code}", conflict)
        return ReportResult("already_processed" if result.get("alreadyProcessed") else "created")
