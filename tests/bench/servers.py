"""The two servers a benchmark compares, each started the way it runs for real, and their process figures.

* :class:`CmsServer`: gunicorn with gevent workers (the command ``cms serve`` runs) on a fresh PostgreSQL
  database created and migrated here, seeded through the same use cases the CLI uses.
* :class:`PeerServer`: the ``ocpp`` package's asyncio central system (tests/bench/peer.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("CMS_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def tree_figures(pid: int) -> dict:
    """Resident memory (bytes) and CPU time (seconds) of a process tree."""
    rss, cpu, ticks = 0, 0.0, os.sysconf("SC_CLK_TCK")
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            continue
    return {"rss": rss, "cpu_s": cpu, "processes": len(process_tree(pid))}


def postgres_cpu_s() -> float:
    """CPU seconds used so far by the PostgreSQL processes of this machine (the CMS's database work)."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        if head.split("(", 1)[-1].startswith("postgres"):
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port}")


class _Server:
    name = "server"
    proc: subprocess.Popen | None = None
    port: int = 0

    def figures(self) -> dict:
        return tree_figures(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            for p in reversed(process_tree(self.proc.pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(10)


class CmsServer(_Server):
    """Our server on PostgreSQL, ``workers`` gevent workers, ``identities`` registered as chargers."""

    name = "cms"

    def figures(self) -> dict:
        return {**tree_figures(self.proc.pid), "db_cpu_s": postgres_cpu_s()}

    def __init__(self, workers: int, log_dir: Path, database: str = "cms_bench"):
        self.workers = workers
        self.log_dir = log_dir
        self.database = database
        self.url = ""

    def prepare(self, identities: list[str], id_tag: str) -> None:
        """A fresh database, migrated, with an owner, the chargers and the id tag the load uses."""
        from cms.accounts import create_user
        from cms.chargepoints import import_charge_points
        from cms.db import Database
        from cms.idtags import add_id_tag
        from tests.support.databases import create_postgres_database

        self.url = create_postgres_database(self.database)
        db = Database(self.url)
        with db.uow() as uow:
            owner = create_user(uow.session, "bench@example.com", "bench-password-1", name="Bench", verified=True)
            import_charge_points(
                uow.session,
                ({"id": i, "owner": owner.email, "station": "Bench"} for i in identities),
                {owner.email: owner},
            )
            add_id_tag(uow.session, id_tag, owner=owner)
            uow.commit()
        db.dispose()

    def start(self) -> None:
        from cms.cli import gunicorn_command

        self.port = free_port()
        env = {
            **os.environ,
            "CMS_DATABASE_URL": self.url,
            "CMS_HEARTBEAT_INTERVAL": "30",
            "CMS_SECRET_KEY": "bench",
            "CMS_REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        }
        cmd = gunicorn_command("127.0.0.1", self.port, self.workers)
        log = open(self.log_dir / "cms-server.log", "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        time.sleep(1.0 + self.workers * 0.5)  # every worker has imported the app


class PeerServer(_Server):
    """The ``ocpp`` package's central system in ``workers`` processes."""

    name = "peer"

    def __init__(self, workers: int, log_dir: Path):
        self.workers = workers
        self.log_dir = log_dir

    def prepare(self, identities: list[str], id_tag: str) -> None:
        """Nothing to seed: the peer accepts every charger and tag."""

    def start(self) -> None:
        self.port = free_port()
        log = open(self.log_dir / "peer-server.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.peer", str(self.port), str(self.workers)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port, self.proc)
        time.sleep(1.0)
