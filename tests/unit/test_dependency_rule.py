"""The dependency rule of DESIGN.md. The contracts live in pyproject.toml ([tool.importlinter]) and `make lint`
runs them; this test runs them too, so that `pytest` alone catches a broken rule.

One part of the rule import-linter cannot state (it sees an external package as one module, never its
submodules): the core may use the ``ocpp`` package's OCPP 1.6 types (``ocpp.v16``), nothing else of it.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept():
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _imported_names(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_core_uses_only_the_ocpp_16_types_of_the_ocpp_package():
    bad = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "cms").rglob("*.py")
        if "web" not in path.relative_to(ROOT / "cms").parts[:1]
        for name in _imported_names(path)
        if name.split(".")[0] == "ocpp" and not name.startswith("ocpp.v16")
    ]
    assert bad == []
