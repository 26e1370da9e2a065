"""Names for the Saleor identifiers passed around as strings, so signatures say which one."""

from __future__ import annotations

from typing import NewType

SaleorApiUrl = NewType("SaleorApiUrl", str)
"""An installed instance's GraphQL URL (the ``Saleor-Api-Url`` header), keys all its data."""

TransactionItemId = NewType("TransactionItemId", str)
"""The global id of a Saleor ``TransactionItem`` (``transaction.id`` in payment webhooks)."""
