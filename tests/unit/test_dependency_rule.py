"""The dependency rule of DESIGN.md: the core imports no web or transport framework and no adapter."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {
    "flask",
    "flask_sock",
    "flask_login",
    "flask_wtf",
    "spyne",
    "zeep",
    "lxml",
    "simple_websocket",
    "json_ws",
    "soap",
    "app",
    "simulator",
}
SERVER_PACKAGES = {"cms", "json_ws", "soap", "app"}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_core_imports_no_framework_or_adapter():
    bad = []
    for path in (ROOT / "cms").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("cms/web/") or rel.startswith("cms/migrations/"):
            continue
        for name in _imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN_IN_CORE or (top == "ocpp" and not name.startswith("ocpp.v16")):
                bad.append(f"{rel}: {name}")
    assert bad == []


def test_adapters_do_not_import_each_other():
    for pkg, other in (("json_ws", "soap"), ("soap", "json_ws")):
        for path in (ROOT / pkg).rglob("*.py"):
            assert not [n for n in _imports(path) if n.split(".")[0] in (other, "app")], path


def test_the_simulator_is_a_client_of_the_server_not_part_of_it():
    """The simulator talks to a CMS over the wire only; no server package imports it (`cms simulate` is found
    through the cms.commands entry point group)."""
    for path in (ROOT / "simulator").rglob("*.py"):
        assert not [n for n in _imports(path) if n.split(".")[0] in SERVER_PACKAGES], path
    for pkg in ("cms", "json_ws", "soap"):
        for path in (ROOT / pkg).rglob("*.py"):
            assert not [n for n in _imports(path) if n.split(".")[0] == "simulator"], path
