"""Every GraphQL document the app sends or subscribes with validates against Saleor's schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from saleor_up2pay.saleor.documents import document_paths, graphql_dir, load_document
from tests.conftest import PROJECT_ROOT, RECORDED, SCHEMA_PATH, require_shared

DOCUMENTS = sorted((PROJECT_ROOT / "graphql").rglob("*.graphql"))


def _id(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT))


EXTENDED_SINCE_RECORDING = {
    # Issue 14: checkout lines (product type, category), shipping, billing address, language.
    "payment_gateway_initialize_session",
    "transaction_initialize_session",
}


class TestGraphQLDocuments:
    @pytest.mark.parametrize("path", DOCUMENTS, ids=_id)
    def test_document_validates_against_the_saleor_schema(self, path: Path) -> None:
        """A document Saleor would reject (unknown field, bad type, unused fragment) fails here."""
        require_shared(SCHEMA_PATH)
        from tests.fakes.fake_saleor import validate_document

        errors = validate_document(path.read_text(encoding="utf-8"))
        assert errors == [], f"{_id(path)} is invalid against {SCHEMA_PATH}: {errors}"

    def test_the_folder_holds_the_subscriptions_and_the_app_id_query(self) -> None:
        """The glob above really finds the documents (a wrong folder would test nothing)."""
        names = {p.stem for p in DOCUMENTS}
        assert {"app_id", "transaction_initialize_session", "app_deleted"} <= names

    def test_the_validator_rejects_an_invalid_document(self) -> None:
        """The check can fail: a field Saleor does not have is reported."""
        require_shared(SCHEMA_PATH)
        from tests.fakes.fake_saleor import validate_document

        errors = validate_document("query { app { idNotThere } }")
        assert errors
        assert "idNotThere" in errors[0].message

    def test_document_names_are_unique_and_loadable(self) -> None:
        """Code refers to documents by file name, so each name resolves to one file."""
        assert graphql_dir().resolve() == PROJECT_ROOT / "graphql"
        assert set(document_paths()) == {p.stem for p in DOCUMENTS}
        assert "app" in load_document("app_id")

    @pytest.mark.parametrize(
        "path", sorted((PROJECT_ROOT / "graphql" / "subscriptions").glob("*.graphql")), ids=_id
    )
    def test_subscriptions_are_the_recorded_ones(self, path: Path) -> None:
        """The subscriptions are the spec's documents that Saleor 3.23 accepted when recorded,
        except those extended since (they still validate against the schema, above)."""
        recorded = require_shared(
            RECORDED / "subscriptions" / (path.stem.replace("_", "-") + ".graphql")
        )
        if path.stem in EXTENDED_SINCE_RECORDING:
            return
        assert path.read_text(encoding="utf-8") == recorded.read_text(encoding="utf-8")
