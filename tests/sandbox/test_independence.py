"""The sandbox is a second, independent reading of the protocol notes: it never uses the app's
Up2pay client, so the end-to-end test really checks one against the other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import saleor_up2pay.sandbox

SANDBOX_DIR = Path(saleor_up2pay.sandbox.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


class TestIndependence:
    def test_no_sandbox_source_imports_the_app_client(self) -> None:
        """No sandbox module names saleor_up2pay.up2pay in an import, even inside a function."""
        offenders = {
            path.name: sorted(
                m for m in imported_modules(path) if m.startswith("saleor_up2pay.up2pay")
            )
            for path in sorted(SANDBOX_DIR.glob("*.py"))
        }
        assert len(offenders) >= 10, "the sandbox sources were not found"
        assert {name: mods for name, mods in offenders.items() if mods} == {}

    def test_loading_the_sandbox_loads_no_app_client_module(self) -> None:
        """Importing the sandbox and its command in a fresh interpreter loads nothing of saleor_up2pay.up2pay."""
        code = (
            "import sys, saleor_up2pay.sandbox, saleor_up2pay.sandbox.cli; "
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('saleor_up2pay'))))"
        )
        loaded = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
        assert "saleor_up2pay.sandbox.gae" in loaded
        assert [m for m in loaded if m.startswith("saleor_up2pay.up2pay")] == []
