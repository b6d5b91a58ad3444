"""The operator's bad day (issue 12), end to end: ``cms serve`` with two workers on PostgreSQL and a Redis of
its own, chargers in charging sessions that queue transaction messages until answered and resend them after a
reconnect (with the same or a new message id), then, one after the other: a worker killed with ``kill -9``,
the database's connections terminated, Redis stopped and started again (empty), hostile frames, the whole
server killed with ``kill -9`` and started again, and a reconnect storm. After each fault the seconds until
every charger is answered again are measured; at the end the database must hold every confirmed message
exactly once: nothing confirmed lost, nothing stored twice.

A short form runs in the PostgreSQL pass of ``make test``; ``make chaos`` runs the long form (CHAOS_* sizes)
and prints the figures. Sizes: CHAOS_CHARGERS (chargers in sessions), CHAOS_STORM (chargers in the storm),
CHAOS_FUZZ (hostile frames), CHAOS_SETTLE (seconds of sessions between faults).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest
import requests
import sqlalchemy as sa
import websockets.sync.client as ws_client
from click.testing import CliRunner

from cms.cli import main as cli
from tests.bench.servers import process_tree
from tests.chaos.charger import ChaosCharger
from tests.conftest import BACKEND
from tests.support import databases
from tests.support.fuzz import RandomSource, hostile_frame
from tests.support.processes import free_port, wait_ready
from tests.support.redis_server import OwnRedis

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.chaos]

CHARGERS = int(os.environ.get("CHAOS_CHARGERS", 6))
STORM = int(os.environ.get("CHAOS_STORM", 200))
FUZZ = int(os.environ.get("CHAOS_FUZZ", 300))
SETTLE = float(os.environ.get("CHAOS_SETTLE", 3))
RECOVERY_LIMIT = 60.0  # seconds a fault may take to heal before the run fails


def _cms(env: dict, *args: str) -> str:
    out = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return out.output.strip()


class Server:
    """``cms serve --workers 2`` that can be killed with kill -9 (the master, a worker) and started again."""

    def __init__(self, env: dict, port: int, log_path):
        self.env, self.port, self.log_path = env, port, log_path
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cms.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
                + ["--workers", "2"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_ready(self.base, 60)

    def workers(self) -> list[int]:
        return [p for p in process_tree(self.proc.pid) if p != self.proc.pid]

    def kill_worker(self, url: str) -> int:
        """kill -9 the worker holding most of the chaos chargers (its node id is host:pid)."""
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as db:
            nodes = db.execute(
                sa.text("SELECT connected_node FROM charge_points WHERE connected AND identity LIKE 'CHAOS-%'")
            ).scalars()
            held = Counter(int(node.split("/")[0].rsplit(":", 1)[1]) for node in nodes if node)
        engine.dispose()
        workers = self.workers()
        pid = next((p for p, _ in held.most_common() if p in workers), workers[0])
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_all(self) -> None:
        for pid in reversed(process_tree(self.proc.pid)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_all()


@pytest.fixture
def bad_day(tmp_path):
    if BACKEND != "postgres":
        pytest.skip("the PostgreSQL pass runs it (the production database, two workers)")
    reason = databases.postgres_available() or OwnRedis.unavailable()
    if reason:
        pytest.skip(reason)
    name = f"cms_chaos_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = databases.create_postgres_database(name)
    redis_server = OwnRedis().start()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CMS_DATA_DIR": str(tmp_path),
        "CMS_SECRET_KEY": "chaos",
        "CMS_DATABASE_URL": url,
        "CMS_REDIS_URL": redis_server.url,
        "CMS_PRESENCE_REFRESH_SECONDS": "2",
        "CMS_CALL_TIMEOUT": "5",
        "CMS_WS_PING_INTERVAL": "5",
        "CMS_MAINTENANCE_INTERVAL": "0",
    }
    _cms(env, "owner", "create", "ops@example.com", "--password", "ops-password")
    _cms(env, "idtag", "add", "CHAOS-TAG", "--owner", "ops@example.com")
    rows = ["id,owner"] + [f"CHAOS-{i},ops@example.com" for i in range(CHARGERS)]
    rows += [f"STORM-{i:05d},ops@example.com" for i in range(STORM)] + ["FUZZ-1,ops@example.com"]
    (tmp_path / "chargers.csv").write_text("\n".join(rows) + "\n")
    _cms(env, "chargepoint", "import", str(tmp_path / "chargers.csv"))
    token = _cms(env, "token", "create", "ops@example.com").splitlines()[-1]
    server = Server(env, free_port(), tmp_path / "server.log")
    try:
        yield server, redis_server, url, token
    finally:
        server.stop()
        redis_server.stop(kill=True)
        databases.drop_postgres_database(name)


def _recovered(chargers, since: float) -> float:
    """Seconds from ``since`` until every charger has had a message answered after it."""
    deadline = since + RECOVERY_LIMIT
    while time.monotonic() < deadline:
        if all(c.last_answer_at > since for c in chargers):
            return round(time.monotonic() - since, 2)
        time.sleep(0.05)
    stuck = [c.identity for c in chargers if c.last_answer_at <= since]
    raise AssertionError(f"not answered again within {RECOVERY_LIMIT} s: {stuck}")


def _commands_work(server, token, chargers, since: float) -> float:
    """Seconds from ``since`` until a command reaches every charger through either worker."""
    h = {"Authorization": f"Bearer {token}"}
    pending = {c.identity for c in chargers}
    deadline = since + RECOVERY_LIMIT
    while pending and time.monotonic() < deadline:
        for identity in list(pending):
            try:
                r = requests.post(
                    f"http://{server.base}/api/v1/charge-points/{identity}/commands/GetConfiguration",
                    json={},
                    headers=h,
                    timeout=10,
                )
            except requests.RequestException:
                continue
            assert r.status_code != 500, r.text
            assert r.headers.get("content-type", "").startswith("application/json"), r.text
            if r.status_code == 200:
                pending.discard(identity)
        time.sleep(0.1)
    assert not pending, f"commands do not reach {sorted(pending)}"
    return round(time.monotonic() - since, 2)


def _fuzz(server, count: int) -> dict:
    """Hostile frames from a registered charger: never an InternalError, the connection keeps serving."""
    src = RandomSource(random.Random(12))
    kinds: Counter = Counter()
    with ws_client.connect(f"ws://{server.base}/ocpp/FUZZ-1", subprotocols=["ocpp1.6"], open_timeout=10) as ws:
        ws.send(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "F", "chargePointModel": "F"}]))
        assert json.loads(ws.recv(timeout=10))[0] == 3
        for n in range(count):
            ws.send(hostile_frame(src, unique_id=f"f-{n}"))
            ws.send(json.dumps([2, f"hb-{n}", "Heartbeat", {}]))
            while True:
                reply = json.loads(ws.recv(timeout=20))
                if reply[1] == f"hb-{n}":
                    assert reply[0] == 3
                    break
                assert reply[0] == 3 or (reply[0] == 4 and reply[2] != "InternalError"), reply
                kinds["result" if reply[0] == 3 else reply[2]] += 1
    return dict(kinds)


def _storm(server, size: int) -> float:
    """``size`` chargers connect and boot at once (each retrying a refused handshake); seconds until all are
    accepted."""
    import asyncio

    from tests.bench.loadgen import BOOT, OcppClient

    host, port = server.base.split(":")

    async def one(identity):
        loop = asyncio.get_running_loop()
        while True:
            try:
                _, c = await loop.create_connection(lambda: OcppClient(identity, host, int(port)), host, int(port))
                await asyncio.wait_for(c.opened, 30)
                answer = await c.call("BootNotification", BOOT, timeout=30)
                if answer.get("status") == "Accepted":
                    return c
                c.close()
            except Exception:
                pass
            await asyncio.sleep(random.uniform(0.2, 1.0))

    async def all_of_them():
        started = time.monotonic()
        clients = await asyncio.wait_for(
            asyncio.gather(*(one(f"STORM-{i:05d}") for i in range(size))), RECOVERY_LIMIT * 2
        )
        took = time.monotonic() - started
        for c in clients:
            c.close()
        await asyncio.sleep(0.2)
        return took

    return round(asyncio.run(all_of_them()), 2)


def _check_database(url: str, chargers) -> dict:
    """Every confirmed message is stored, and once: transactions, stops, meter samples."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    lost = duplicated = 0
    try:
        with engine.connect() as db:
            cp_ids = dict(db.execute(sa.text("SELECT identity, id FROM charge_points")).all())
            for c in chargers:
                cp = cp_ids[c.identity]
                stored = {
                    row.id: row
                    for row in db.execute(
                        sa.text("SELECT id, meter_stop, stop_timestamp FROM transactions WHERE charge_point_id = :cp"),
                        {"cp": cp},
                    )
                }
                confirmed = {res.transaction_id for action, _, res in c.answered if action == "StartTransaction"}
                lost += len(confirmed - set(stored))
                # A start processed whose answer was lost is found again by its retry (same transaction): any
                # other transaction of this charger is a start stored twice, but for one still unanswered when the
                # run stopped (processed, never confirmed).
                pending = sum(1 for r in c.unconfirmed if type(r).__name__ == "StartTransaction")
                duplicated += max(0, len(set(stored) - confirmed) - pending)
                for action, req, _ in c.answered:
                    if action == "StopTransaction":
                        row = stored.get(req.transaction_id)
                        lost += row is None or row.stop_timestamp is None or row.meter_stop != req.meter_stop
                samples = Counter(
                    (row.transaction_id, row.value)
                    for row in db.execute(
                        sa.text("SELECT transaction_id, value FROM meter_values WHERE charge_point_id = :cp"),
                        {"cp": cp},
                    )
                )
                for action, req, _ in c.answered:
                    if action == "MeterValues":
                        key = (req.transaction_id, float(req.meter_value[0]["sampledValue"][0]["value"]))
                        lost += samples.get(key, 0) == 0
                duplicated += sum(n - 1 for n in samples.values() if n > 1)
            duplicated += db.execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT 1 FROM meter_values GROUP BY charge_point_id, connector_id, "
                    "transaction_id, timestamp, measurand, phase, location, context HAVING count(*) > 1) AS d"
                )
            ).scalar()
    finally:
        engine.dispose()
    return {"lost": int(lost), "duplicated": int(duplicated)}


@pytest.mark.timeout(1800)
def test_a_bad_day_loses_nothing_and_stores_nothing_twice(bad_day):
    server, redis_server, url, token = bad_day
    server.start()
    chargers = [ChaosCharger(server.base, f"CHAOS-{i}", "CHAOS-TAG", seed=i).start() for i in range(CHARGERS)]
    figures: dict = {"chargers": CHARGERS}
    try:
        assert _recovered(chargers, time.monotonic() - 0.001) < RECOVERY_LIMIT
        time.sleep(SETTLE)

        at = time.monotonic()
        server.kill_worker(url)
        figures["worker_kill9_recovery_s"] = _recovered(chargers, at)
        time.sleep(SETTLE)

        at = time.monotonic()
        engine = sa.create_engine(databases.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as admin:
            name = url.rsplit("/", 1)[1]
            figures["db_connections_terminated"] = admin.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar()
        engine.dispose()
        figures["db_terminate_recovery_s"] = _recovered(chargers, at)
        time.sleep(SETTLE)

        redis_server.stop(kill=True)
        at = time.monotonic()
        time.sleep(2)
        figures["redis_down_sessions_s"] = _recovered(chargers, at)  # sessions go on without Redis
        assert requests.get(f"http://{server.base}/readyz", timeout=5).status_code == 503
        redis_server.start()  # empty
        at = time.monotonic()
        figures["redis_back_commands_s"] = _commands_work(server, token, chargers, at)
        time.sleep(SETTLE)

        figures["fuzz_frames"] = FUZZ
        log_offset = server.log_path.stat().st_size
        figures["fuzz_answers"] = _fuzz(server, FUZZ)
        # What the server logged while it read the hostile frames (and nothing else went wrong on purpose).
        fuzz_log = server.log_path.read_bytes()[log_offset:].decode(errors="replace")
        figures["fuzz_internal_errors"] = fuzz_log.count("answered InternalError")
        figures["fuzz_stack_traces"] = fuzz_log.count("Traceback")

        server.kill_all()
        at = time.monotonic()
        server.start()
        figures["server_kill9_restart_recovery_s"] = _recovered(chargers, at)
        time.sleep(SETTLE)

        figures["storm_chargers"] = STORM
        figures["storm_all_accepted_s"] = _storm(server, STORM)
        at = time.monotonic()
        figures["storm_sessions_recovery_s"] = _recovered(chargers, at)
    finally:
        for c in chargers:
            c._stop.set()
        for c in chargers:
            c.stop()
    for c in chargers:
        assert not c.errors, (c.identity, c.errors)
    figures["sessions_completed"] = sum(c.sessions for c in chargers)
    figures["messages_answered"] = sum(len(c.answered) for c in chargers)
    figures["messages_resent"] = sum(c.resent for c in chargers)
    figures["reconnects"] = sum(c.reconnects for c in chargers)
    figures.update(_check_database(url, chargers))
    print("\nCHAOS " + json.dumps(figures), flush=True)
    assert figures["fuzz_internal_errors"] == 0 and figures["fuzz_stack_traces"] == 0, figures
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["sessions_completed"] >= CHARGERS, figures
