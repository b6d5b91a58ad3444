#!/usr/bin/env python3
"""Copy the front-end libraries listed in ``static-vendor.json`` from ``node_modules`` into the package.

One list, two users: ``make static-vendor`` (a checkout) and the package build (``setup.py``: every sdist and
wheel), so a checkout and an installed CMS serve the same files. The libraries come from npm (``npm ci`` with
``package-lock.json``), never pasted into the repository. A build that finds them already copied from the same
list and lock (an sdist carries them) needs no npm.

Standard library only: it runs before any virtualenv exists and inside pip's isolated build environment.

    python3 tools/static_vendor.py [ROOT]     # ROOT: the directory holding static-vendor.json (default: ..)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

LIST = "static-vendor.json"
LOCK = "package-lock.json"
STAMP = ".vendored"  # in the target directory: the fingerprint of the list and lock it was copied from


class VendorError(Exception):
    """The libraries cannot be copied (no npm, a file missing from its npm package): a one-line reason."""


def read_list(root: Path) -> tuple[Path, dict[str, str]]:
    """The target directory and ``{path under target: path under node_modules}`` of ``static-vendor.json``."""
    spec = json.loads((root / LIST).read_text())
    target = root / spec["target"]
    files = spec["files"]
    for dest, src in files.items():
        for part in (dest, src):
            if part.startswith("/") or ".." in Path(part).parts:
                raise VendorError(f"{LIST}: {part!r} must be a relative path inside its directory")
    return target, files


def fingerprint(root: Path) -> str:
    """What the copies depend on: the list itself and the npm lock (the libraries' exact versions)."""
    digest = hashlib.sha256((root / LIST).read_bytes())
    lock = root / LOCK
    if lock.exists():
        digest.update(lock.read_bytes())
    return digest.hexdigest()


def is_built(root: Path) -> bool:
    """True when every listed file was copied from this list and lock."""
    target, files = read_list(root)
    stamp = target / STAMP
    return (
        stamp.exists()
        and stamp.read_text().strip() == fingerprint(root)
        and all((target / dest).exists() for dest in files)
    )


def _npm_ci(root: Path, log) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError(
            "npm is needed to fetch the front-end libraries (package.json) into "
            "cms/web/static/vendor/; install Node.js and npm, or build from an sdist, which carries them"
        )
    log(f"static-vendor: npm ci in {root}")
    done = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        raise VendorError(f"npm ci failed in {root}: {last}")


def _node_modules_current(root: Path, files: dict[str, str]) -> bool:
    """npm's own record of the last install is at least as new as the lock, and every source file is there."""
    modules = root / "node_modules"
    record = modules / ".package-lock.json"
    lock = root / LOCK
    if not record.exists() or (lock.exists() and record.stat().st_mtime < lock.stat().st_mtime):
        return False
    return all((modules / src.rstrip("/")).exists() for src in files.values())


def ensure(root: Path | str, log=lambda line: print(line, file=sys.stderr)) -> bool:
    """Copy the listed libraries unless they are already copied from the same list and lock.

    Runs ``npm ci`` first when ``node_modules`` is missing or older than the lock. Returns True when it copied.
    """
    root = Path(root).resolve()
    if is_built(root):
        return False
    target, files = read_list(root)
    if not _node_modules_current(root, files):
        _npm_ci(root, log)
    modules = root / "node_modules"
    if target.exists():
        shutil.rmtree(target)  # nothing stale stays behind when the list shrinks
    for dest, src in files.items():
        source, destination = modules / src.rstrip("/"), target / dest.rstrip("/")
        if not source.exists():
            raise VendorError(f"{LIST}: node_modules/{src} does not exist (is its package in package.json?)")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)
    (target / STAMP).write_text(fingerprint(root) + "\n")
    log(f"static-vendor: {len(files)} entries copied into {os.path.relpath(target, root)}/")
    return True


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    try:
        ensure(root)
    except VendorError as e:
        print(f"static-vendor: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
