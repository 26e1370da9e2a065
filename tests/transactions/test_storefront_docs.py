"""The storefront guide's GraphQL documents are valid Saleor 3.23 operations."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphql import parse, validate
from tests.conftest import PROJECT_ROOT, SCHEMA_PATH, require_shared
from tests.fakes.fake_saleor import saleor_schema

DOCS = PROJECT_ROOT / "docs" / "storefront"
DOCUMENTS = sorted(DOCS.glob("*.graphql"))


class TestStorefrontDocuments:
    def test_guide_ships_every_step(self) -> None:
        """Gateway init, transaction init, process, status, completion and the split are documented."""
        names = [p.name for p in DOCUMENTS]
        assert names == [
            "1-payment-gateway-initialize.graphql",
            "2-transaction-initialize.graphql",
            "3-transaction-process.graphql",
            "4-checkout-status.graphql",
            "5-checkout-complete.graphql",
            "6-split-pay-the-rest.graphql",
        ]
        guide = (PROJECT_ROOT / "docs" / "storefront.md").read_text()
        for name in names:
            assert f"storefront/{name}" in guide

    @pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
    def test_document_validates_against_the_schema(self, path: Path) -> None:
        """Each example document is accepted by the saved Saleor schema."""
        schema = saleor_schema(require_shared(SCHEMA_PATH))
        errors = validate(schema, parse(path.read_text()))
        assert [e.message for e in errors] == []
