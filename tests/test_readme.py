"""The README keeps its promises: the two commands, and every setting in the table."""

from __future__ import annotations

import re

from saleor_up2pay.settings import Settings
from tests.conftest import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


class TestReadme:
    def test_every_setting_is_documented(self) -> None:
        """Each environment variable the app reads has a row in the configuration table."""
        documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", README, flags=re.MULTILINE))
        expected = {name.upper() for name in Settings.model_fields}
        assert expected - documented == set(), "settings missing from the README table"
        assert documented - expected == set(), "README documents settings the app does not read"

    def test_quick_start_names_the_two_commands(self) -> None:
        """`make run` and `make test` are the contract a newcomer relies on."""
        assert "make run" in README
        assert "make test" in README

    def test_linked_documents_exist(self) -> None:
        """Every relative link of the README points at a file or folder of the project."""
        links = re.findall(r"\]\(((?!https?:)[^)#]+)\)", README)
        assert links, "the README links to its guides"
        missing = [link for link in links if not (PROJECT_ROOT / link).exists()]
        assert missing == []
