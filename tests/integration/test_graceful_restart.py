"""Graceful restarts of `cms serve`: chargers in sessions while its worker is replaced (`kill -HUP`) and then the
server stopped (SIGTERM). Every answered message must be in the database (heartbeat times and message-log copies,
which are batched, included), nothing unanswered may have been processed, each charger's socket gets close code
1001 and it reconnects, to the new worker after the reload. With Redis, the stopped worker's presence is gone.

Once per CI run (it starts gunicorn workers three times): in the PostgreSQL pass, the production database; in the
SQLite pass only when PostgreSQL is not there. tests/transport/test_shutdown.py runs the pieces in both passes.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import websockets
from click.testing import CliRunner
from ocpp.v16 import call

from cms.cli import main as cli
from cms.models import ChargePoint
from tests.conftest import BACKEND
from tests.support import databases
from tests.support.charger import ChargerClient, now_iso
from tests.support.processes import free_port, shared_redis_url, wait_ready

REDIS_URL = shared_redis_url(1)
CHARGERS = 4
GRACEFUL = 10  # cms serve's default --graceful-timeout


class Closed(Exception):
    """The connection closed before the message was answered."""

    def __init__(self, code):
        super().__init__(f"closed with {code}")
        self.code = code


class SessionCharger:
    """A charger running sessions in a loop (start, meter values, heartbeat, stop), as fast as it is answered.

    Like a real charger, when its connection closes it reconnects at once, boots, and sends the unanswered
    message again. It records what was answered and the close codes it got.
    """

    def __init__(self, base: str, identity: str, tag: str):
        self.base, self.identity, self.tag = base, identity, tag
        self.answered: list[tuple[str, str, dict, object]] = []  # (action, unique id, request, response)
        self.close_codes: list[int | None] = []
        self.connections = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._seq = 0
        self._client: ChargerClient | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    # ----- one message, answered or closed -----
    def _send(self, request):
        client = self._client
        self._seq += 1
        uid = f"{self.identity}-{self._seq}"

        async def race():
            answer = asyncio.ensure_future(client.cp.call(request, suppress=False, unique_id=uid))
            closed = asyncio.ensure_future(client.ws.wait_closed())
            await asyncio.wait({answer, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not answer.done():  # an answer read just before the close is still handed over
                await asyncio.wait({answer}, timeout=0.5)
            closed.cancel()
            if answer.done() and not isinstance(answer.exception(), websockets.ConnectionClosed):
                return answer.result()
            answer.cancel()
            await client.ws.wait_closed()
            raise Closed(client.ws.close_code)

        response = client._run(race(), timeout=30)
        self.answered.append((type(request).__name__, uid, request, response))
        return response

    def call(self, request):
        """Send until answered, reconnecting (and booting) whenever the connection closes."""
        while True:
            try:
                return self._send(request)
            except Closed as e:
                self.close_codes.append(e.code)
                self._connect()

    def _connect(self) -> None:
        """(Re)connect and boot; again if that connection closes too."""
        deadline = time.monotonic() + 40
        while True:
            if self._client is not None:
                self._client.close()
                self._client = None
            try:
                self._client = ChargerClient(f"ws://{self.base}", self.identity)
            except Exception as e:  # the new worker may still be starting: retry like a charger
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.identity} could not reconnect: {e!r}") from e
                time.sleep(0.2)
                continue
            self.connections += 1
            try:
                self._send(call.BootNotification(charge_point_vendor="Test", charge_point_model="Restart"))
                return
            except Closed as e:
                self.close_codes.append(e.code)

    # ----- the loop -----
    def _run(self) -> None:
        try:
            self._connect()
            meter = 0
            while not self._stop.is_set():
                start = self.call(
                    call.StartTransaction(connector_id=1, id_tag=self.tag, meter_start=meter, timestamp=now_iso())
                )
                tx = start.transaction_id
                for _ in range(5):
                    meter += 100
                    self.call(
                        call.MeterValues(
                            connector_id=1,
                            transaction_id=tx,
                            meter_value=[
                                {
                                    "timestamp": now_iso(),
                                    "sampledValue": [
                                        {
                                            "value": str(meter),
                                            "measurand": "Energy.Active.Import.Register",
                                            "unit": "Wh",
                                        }
                                    ],
                                }
                            ],
                        )
                    )
                    time.sleep(0.02)
                self.call(call.Heartbeat())
                self.call(call.StopTransaction(transaction_id=tx, meter_stop=meter, timestamp=now_iso()))
        except Exception as e:
            self.errors.append(repr(e))
        finally:
            if self._client is not None:
                self._client.close()

    def answered_count(self) -> int:
        return len(self.answered)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), f"{self.identity} did not stop"


def _redis():
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        return client
    except Exception:
        return None


@pytest.fixture
def server_env(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CMS_DATA_DIR": str(tmp_path),
        "CMS_SECRET_KEY": "test",
        "CMS_MAINTENANCE_INTERVAL": "0",
        # Only the drain writes batched heartbeat times and log copies: nothing may be left in a batch.
        "CMS_HEARTBEAT_BATCH_SECONDS": "300",
        "CMS_MESSAGE_LOG_LIMIT": "100000",
    }
    name = None
    if BACKEND != "postgres" and databases.postgres_available() is None:
        pytest.skip("once per CI run: the PostgreSQL pass runs it")
    if BACKEND == "postgres":
        reason = databases.postgres_available()
        if reason:
            pytest.skip(reason)
        name = f"cms_restart_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        env["CMS_DATABASE_URL"] = databases.create_postgres_database(name)
    else:
        env["CMS_DATABASE_URL"] = f"sqlite:///{tmp_path}/cms.sqlite3"
        _cms(env, "db", "upgrade")
    redis_client = _redis()
    if redis_client is not None:
        env["CMS_REDIS_URL"] = REDIS_URL
    _cms(env, "owner", "create", "ops@example.com", "--password", "ops-password")
    for i in range(1, CHARGERS + 1):
        _cms(env, "chargepoint", "add", f"RESTART-{i}", "--owner", "ops@example.com")
        _cms(env, "idtag", "add", f"RESTART-TAG-{i}", "--owner", "ops@example.com")
    try:
        yield env, redis_client
    finally:
        if redis_client is not None:
            redis_client.hdel("cms:presence", *[f"RESTART-{i}" for i in range(1, CHARGERS + 1)])
        if name is not None:
            databases.drop_postgres_database(name)


def _cms(env: dict, *args: str) -> None:
    """The `cms` command line, in this process (a subprocess per command costs seconds on a busy machine)."""
    out = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output


def _worker_pids(engine) -> dict[str, int | None]:
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT identity, connected, connected_node FROM charge_points")).all()
    pids = {}
    for identity, connected, node in rows:
        m = re.search(r":(\d+)/", node or "")
        pids[identity] = int(m.group(1)) if connected and m else None
    return pids


def _one_worker(pids: dict, chargers, besides: int | None = None) -> dict | None:
    """``pids`` when every charger is marked connected to one worker (not ``besides``), else None."""
    held = {pids.get(c.identity) for c in chargers}
    return pids if len(held) == 1 and None not in held and besides not in held else None


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_reload_and_stop_under_load_lose_nothing(server_env, tmp_path):
    env, redis_client = server_env
    port = free_port()
    base = f"127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "cms.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    engine = sa.create_engine(env["CMS_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"))
    chargers = [SessionCharger(base, f"RESTART-{i}", f"RESTART-TAG-{i}") for i in range(1, CHARGERS + 1)]
    try:
        wait_ready(base, 60)
        for c in chargers:
            c.thread.start()
        # Everyone in a session on the first worker.
        _wait(lambda: all(c.answered_count() >= 4 for c in chargers), 60, "chargers in sessions")
        # connected flags are written in batches (cms.connection_flags): wait for them
        pids = _wait(lambda: _one_worker(_worker_pids(engine), chargers), 10, "connected flags")
        old = {pids[c.identity] for c in chargers}
        assert len(old) == 1 and None not in old, pids
        old_pid = old.pop()

        # Reload: a new worker starts, the old one gets SIGTERM and drains while the chargers keep talking.
        reload_at = time.monotonic()
        server.send_signal(signal.SIGHUP)
        _wait(lambda: not _alive(old_pid), GRACEFUL + 30, "the old worker to exit")
        old_exit = time.monotonic() - reload_at
        for c in chargers:
            assert not c.errors, (c.identity, c.errors)
        _wait(lambda: all(c.connections >= 2 for c in chargers), 60, "chargers to reconnect")
        counts = {c.identity: c.answered_count() for c in chargers}
        _wait(
            lambda: all(c.answered_count() >= counts[c.identity] + 4 for c in chargers),
            60,
            "sessions to go on after the reload",
        )
        pids = _wait(
            lambda: _one_worker(_worker_pids(engine), chargers, besides=old_pid), 10, "connected flags after the reload"
        )
        new = {pids[c.identity] for c in chargers}
        assert len(new) == 1 and None not in new and old_pid not in new, pids
        new_pid = new.pop()
        if redis_client is not None:  # announced by the new worker; the old one's presence is gone
            for c in chargers:
                assert f":{new_pid}|" in redis_client.hget("cms:presence", c.identity).decode()

        # Stop: the server exits within its graceful timeout, the chargers get 1001 again.
        stop_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=GRACEFUL + 20) == 0
        stopped_in = time.monotonic() - stop_at
    finally:
        for c in chargers:
            c._stop.set()
        if server.poll() is None:
            server.kill()
            server.wait()
    for c in chargers:
        c.stop()

    log = log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert f"Worker drained (pid: {old_pid})" in log, log[-3000:]
    assert old_exit < GRACEFUL, old_exit
    assert stopped_in < GRACEFUL + 2, stopped_in
    for c in chargers:
        # Reload and stop: each time a going-away close, never a broken connection.
        assert c.close_codes[:2] == [1001, 1001] and set(c.close_codes) == {1001}, (c.identity, c.close_codes)
    _check_everything_answered_is_stored(engine, chargers)
    if redis_client is not None:
        left = redis_client.hmget("cms:presence", [c.identity for c in chargers])
        assert left == [None] * CHARGERS, left
    engine.dispose()


def _check_everything_answered_is_stored(engine, chargers) -> None:
    with engine.connect() as db:
        cp_ids = dict(db.execute(sa.text("SELECT identity, id FROM charge_points")).all())
        for c in chargers:
            cp = cp_ids[c.identity]
            answered = Counter(action for action, *_ in c.answered)
            assert answered["StopTransaction"] >= 1 and answered["BootNotification"] >= 2, answered
            # Transactions: each answered start exists, each answered stop is recorded.
            stored = {
                row.id: row
                for row in db.execute(
                    sa.text("SELECT id, meter_start, meter_stop FROM transactions WHERE charge_point_id = :cp"),
                    {"cp": cp},
                )
            }
            starts = [(req, res) for action, _, req, res in c.answered if action == "StartTransaction"]
            assert sorted(res.transaction_id for _, res in starts) == sorted(stored), "a start was lost or doubled"
            for action, _, req, _res in c.answered:
                if action == "StopTransaction":
                    assert stored[req.transaction_id].meter_stop == req.meter_stop
            # Meter values: exactly the answered ones (an unanswered message was never processed).
            sent = Counter(
                (req.transaction_id, float(req.meter_value[0]["sampledValue"][0]["value"]))
                for action, _, req, _ in c.answered
                if action == "MeterValues"
            )
            kept = Counter(
                (row.transaction_id, row.value)
                for row in db.execute(
                    sa.text(
                        "SELECT transaction_id, value FROM meter_values WHERE charge_point_id = :cp "
                        "AND measurand = 'Energy.Active.Import.Register'"
                    ),
                    {"cp": cp},
                )
            )
            assert kept == sent
            # The batched parts: the newest answered heartbeat time, and a log copy of every answered message.
            beats = [res.current_time for action, _, _, res in c.answered if action == "Heartbeat"]
            last_beat = db.execute(sa.select(ChargePoint.last_heartbeat_at).where(ChargePoint.id == cp)).scalar_one()
            newest = datetime.fromisoformat(max(beats).replace("Z", "+00:00"))
            last_beat = last_beat if last_beat.tzinfo else last_beat.replace(tzinfo=UTC)
            assert abs((last_beat - newest).total_seconds()) < 0.002, (last_beat, newest)
            logged = {
                uid
                for (uid,) in db.execute(
                    sa.text("SELECT unique_id FROM message_log WHERE charge_point_id = :cp AND direction = 'out'"),
                    {"cp": cp},
                )
            }
            missing = [(action, uid) for action, uid, _, _ in c.answered if uid not in logged]
            assert missing == []
