"""The package as an operator gets it: the wheel built the `make dist` way, installed into a fresh virtualenv with
plain pip (no npm on the PATH, no checkout), run from an empty directory: `cms db upgrade`, `cms serve`, then
/healthz, the dashboard's log-in page and every file it loads, the API docs page and every file it loads.

Once per CI run: skipped in the PostgreSQL pass (the package does not depend on the database backend).
Dependencies come from the runtime lock through a wheelhouse kept in build/ (filled once, hash-checked), so a
second run downloads nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

from tests.conftest import BACKEND
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / "build" / "wheelhouse"

pytestmark = pytest.mark.skipif(
    BACKEND == "postgres", reason="once per CI run: the SQLite pass builds and installs the wheel"
)


def _run(args: list, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{args}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def _pip(*args, **kw) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], timeout=600, **kw)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """`make dist`: an sdist, and the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run([sys.executable, "-m", "build", "--outdir", out, ROOT], env=env, timeout=600)
    return out


def _vendor_files() -> list[str]:
    spec = json.loads((ROOT / "static-vendor.json").read_text())
    base = spec["target"].removeprefix("cms/web/static/")
    return [f"cms/web/static/{base}/{dest}" for dest in spec["files"]]


def test_the_wheel_and_the_sdist_carry_what_an_installed_cms_needs(dist):
    (wheel,) = dist.glob("ev_cms-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = {f"cms/migrations/versions/{p.name}" for p in (ROOT / "cms/migrations/versions").glob("*.py")}
    needed = {
        "app.py",
        "cms/migrations/env.py",
        "cms/migrations/script.py.mako",
        "cms/web/templates/base.html",
        "cms/web/static/app.css",
        "soap/wsdl/ocpp16/OCPP_CentralSystemService_1.6.wsdl",
        "simulator/charger.py",
        "simulator/cli.py",
        *migrations,
        *_vendor_files(),
    }
    missing = {n for n in needed - names if not (n.endswith("/") and any(m.startswith(n) for m in names))}
    assert not missing, sorted(missing)
    assert not [n for n in names if n.startswith("tests/") or n.endswith(".vendored")]
    (sdist,) = dist.glob("ev_cms-*.tar.gz")
    with tarfile.open(sdist) as tar:
        inside = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    # The sdist carries the copied libraries and their fingerprint: its wheel builds without npm.
    carried = {
        *_vendor_files(),
        "cms/web/static/vendor/.vendored",
        "setup.py",
        "tools/static_vendor.py",
        "static-vendor.json",
        "package-lock.json",
    }
    # A directory entry (a trailing /) is carried when some file under it is.
    assert not {n for n in carried - inside if not (n.endswith("/") and any(m.startswith(n) for m in inside))}


def _wheelhouse(lock: Path) -> Path:
    """Wheels of every package in ``lock``, hash-checked as they are downloaded (an sdist-only package is
    built into a wheel once); kept in build/ for the next run, refilled when the lock changes."""
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    marker = WHEELHOUSE / f".{lock.stem}.sha256"
    if not marker.exists() or marker.read_text() != digest:
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        _pip("wheel", "-q", "--require-hashes", "-r", lock, "-w", WHEELHOUSE)
        marker.write_text(digest)
    return WHEELHOUSE


def _pins(lock: Path, directory: Path) -> Path:
    """The lock's exact versions without their hashes (a wheel built here from an sdist has a hash of its own)."""
    text = lock.read_text().replace("\\\n", " ")
    pins = [
        re.sub(r"\s--hash=\S+", "", line).strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    path = directory / "pins.txt"
    path.write_text("\n".join(pins) + "\n")
    return path


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh virtualenv with exactly the runtime lock's packages, and the wheel; nothing else."""
    lock = ROOT / "requirements" / "runtime.txt"
    wheels = _wheelhouse(lock)
    path = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", path], timeout=120)
    python = path / "bin" / "python"
    # --no-compile: byte-compiling every installed module is most of an install's time; imports compile their own.
    _pip(
        "--python",
        python,
        "install",
        "-q",
        "--no-compile",
        "--no-index",
        "--find-links",
        wheels,
        "-r",
        _pins(lock, path.parent),
    )
    (wheel,) = dist.glob("ev_cms-*.whl")
    _pip("--python", python, "install", "-q", "--no-compile", "--no-deps", wheel)
    _pip("--python", python, "check")  # every dependency the wheel declares is installed
    return path


def _resources(html: str) -> list[str]:
    """The local files a page loads: scripts, style sheets, icons, images."""
    urls = []
    for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", html):
        m = re.search(r'\b(?:src|href)="([^"]+)"', tag)
        if m and m.group(1).startswith("/"):
            urls.append(m.group(1))
    return urls


def test_an_installed_wheel_serves_everything_from_an_empty_directory(venv, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    # Only the virtualenv on the PATH: no npm, no system Python, and no checkout to import from.
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path), "CMS_SECRET_KEY": "package-test", "LANG": "C.UTF-8"}
    where = _run(
        [venv / "bin" / "python", "-c", "import app, cms; print(app.__file__, cms.__file__)"],
        cwd=work,
        env=env,
        timeout=60,
    ).stdout
    assert str(ROOT) not in where and str(venv) in where
    # The simulator's command is plugged in through the wheel's entry points (cms.commands).
    assert "--count" in _run([venv / "bin" / "cms", "simulate", "--help"], cwd=work, env=env, timeout=60).stdout
    _run([venv / "bin" / "cms", "db", "upgrade"], cwd=work, env=env, timeout=120)
    assert (work / "var" / "cms.sqlite3").exists()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen(
            [venv / "bin" / "cms", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(base, server, tmp_path / "serve.log")
        pages = {
            "/dashboard/login": ("vendor/htmx/htmx.min.js", "vendor/chart.js/chart.umd.js", "app.css"),
            "/api/v1/docs": ("vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css"),
        }
        for page, expected in pages.items():
            r = requests.get(base + page, timeout=10)
            assert r.status_code == 200, (page, r.status_code)
            resources = _resources(r.text)
            assert all(any(u.endswith(e) for u in resources) for e in expected), (page, resources)
            for url in resources:
                f = requests.get(base + url, timeout=10)
                assert f.status_code == 200 and len(f.content) > 0, (page, url, f.status_code)
        assert requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()["openapi"].startswith("3.")
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def _wait_healthy(base: str, server: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    import time

    deadline = time.monotonic() + seconds
    while True:
        assert server.poll() is None, f"cms serve exited:\n{log.read_text()[-3000:]}"
        try:
            if requests.get(f"{base}/healthz", timeout=1).json() == {"status": "ok"}:
                return
        except (requests.RequestException, ValueError):
            pass
        assert time.monotonic() < deadline, f"cms serve did not start:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
