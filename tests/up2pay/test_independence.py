"""The Up2pay core never imports the Saleor side, the use cases, the dashboard or the sandbox."""

from __future__ import annotations

import ast
from pathlib import Path

import saleor_up2pay.up2pay

UP2PAY_DIR = Path(saleor_up2pay.up2pay.__file__).parent
# Only the shared infrastructure of the foundation: the Redis store (counters, references) and,
# for the ``ipn verify`` command alone, the settings (extra public keys).
ALLOWED_OUTSIDE = {"saleor_up2pay.redis_store", "saleor_up2pay.settings"}


def project_imports(path: Path) -> set[str]:
    """The saleor_up2pay modules a source file imports, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m.split(".")[0] == "saleor_up2pay"}


class TestIndependence:
    def test_core_imports_only_itself_and_the_store(self) -> None:
        """Outside saleor_up2pay.up2pay the core only imports the Redis store (and settings in its CLI)."""
        outside = {
            path.name: sorted(
                m
                for m in project_imports(path)
                if not m.startswith("saleor_up2pay.up2pay") and m != "saleor_up2pay.up2pay"
            )
            for path in sorted(UP2PAY_DIR.glob("*.py"))
        }
        assert len(outside) >= 9, "the core sources were not found"
        assert {name: mods for name, mods in outside.items() if set(mods) - ALLOWED_OUTSIDE} == {}
        assert [name for name, mods in outside.items() if "saleor_up2pay.settings" in mods] == [
            "cli.py"
        ]
