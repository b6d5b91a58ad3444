#!/usr/bin/env python3
"""Fail when a lock file misses a dependency that pyproject.toml declares (a dependency added, `make lock` not run).

    python3 tools/check_lock.py requirements/runtime.txt [requirements/test.txt:test ...]

Each argument is a lock file, optionally with ``:EXTRA,EXTRA`` naming the optional-dependency groups it must
cover as well. ``make install`` runs it before installing, so a stale lock is one clear line, not an ImportError
somewhere in the tests. Standard library only (it runs before the virtualenv has anything).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    """The canonical project name of a requirement (PEP 503): ``Flask-Login>=0.6`` -> ``flask-login``."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def locked(path: Path) -> set[str]:
    """The names pinned in a pip requirements file (``name==version`` lines; hashes and comments skipped)."""
    return {
        _name(line) for line in path.read_text().splitlines() if line.strip() and not line.startswith((" ", "#", "-"))
    }


def missing(lock: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project.get("dependencies", []))
    for extra in extras:
        declared += project.get("optional-dependencies", {}).get(extra, [])
    have = locked(lock)
    return sorted({_name(r) for r in declared} - have)


def main(argv: list[str]) -> int:
    failed = False
    for arg in argv[1:]:
        path, _, extras = arg.partition(":")
        gaps = missing(ROOT / path, [e for e in extras.split(",") if e])
        if gaps:
            failed = True
            print(f"{path} lacks {', '.join(gaps)} (declared in pyproject.toml): run `make lock`", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
