"""``cms serve --workers 2`` the production way (gunicorn, gevent, Redis, CMS_LOG_FORMAT=json): one scrape adds
up the counters of both workers, a dead worker's gauges go while its counts stay, every line written is a JSON
object naming the charger, and the metrics directory goes with the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from websockets.sync.client import connect as ws_connect

from tests.support import databases
from tests.support.charger import ChargerClient, now_iso
from tests.support.processes import free_port, redis_unavailable, run_cms, shared_redis_url, wait_ready
from tests.support.scrape import key, parse, table_missing, total

pytestmark = [pytest.mark.redis]

REDIS_URL = shared_redis_url(8)
BACKEND = os.environ.get("CMS_TEST_DATABASE", "sqlite")
CHARGERS = 24  # registered; connected one by one until both workers hold some


class Server:
    def __init__(self, address: str, database_url: str, log_path: str, proc: subprocess.Popen):
        self.address, self.database_url, self.log_path, self.proc = address, database_url, log_path, proc

    def scrape(self) -> dict:
        r = requests.get(f"http://{self.address}/metrics", timeout=10)
        assert r.status_code == 200, r.text
        return parse(r.text)

    def log_lines(self) -> list[str]:
        with open(self.log_path, encoding="utf-8") as f:
            return [line for line in f.read().splitlines() if line.strip()]

    def holders(self) -> dict[str, int]:
        """Connected charger -> the pid of the worker holding it (its node id is host:pid)."""
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as c:
                rows = c.execute(
                    sa.text("SELECT identity, connected_node FROM charge_points WHERE connected = :yes"), {"yes": True}
                ).all()
        finally:
            engine.dispose()
        return {identity: int(node.split("/")[0].rsplit(":", 1)[1]) for identity, node in rows}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    reason = redis_unavailable(REDIS_URL) or (databases.postgres_available() if BACKEND == "postgres" else None)
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("metrics-server")
    pg_name = None
    if BACKEND == "postgres":
        pg_name = f"cms_metrics_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        url = databases.create_postgres_database(pg_name)
    else:
        url = f"sqlite:///{tmp}/cms.sqlite3"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        {
            "CMS_DATABASE_URL": url,
            "CMS_REDIS_URL": REDIS_URL,
            "CMS_LOG_FORMAT": "json",
            "CMS_DATA_DIR": str(tmp),
            "CMS_WS_PING_INTERVAL": "0",
            "CMS_CALL_TIMEOUT": "5",
            "CMS_HEARTBEAT_BATCH_SECONDS": "0.2",
            "CMS_CONNECTION_FLAGS_BATCH_SECONDS": "0",  # the test reads who holds which charger at once
        }
    )
    if pg_name is None:
        run_cms(env, "db", "upgrade")
    run_cms(env, "owner", "create", "ops@example.com", "--password", "ops-password")
    csv_path = tmp / "chargers.csv"
    csv_path.write_text(
        "id,owner\n" + "".join(f"MP-{i},ops@example.com\n" for i in range(CHARGERS)) + "MP-LOG,ops@example.com\n"
    )
    run_cms(env, "chargepoint", "import", str(csv_path))
    port = free_port()
    log_path = str(tmp / "server.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cms.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    srv = Server(f"127.0.0.1:{port}", url, log_path, proc)
    try:
        wait_ready(srv.address, seconds=90)
        yield srv
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if pg_name is not None:
            databases.drop_postgres_database(pg_name)
    # The server removed the directory its workers kept their values in.
    kept = [json.loads(line)["message"] for line in srv.log_lines() if "metrics of all workers" in line]
    assert kept and not os.path.exists(kept[0].rsplit(" ", 1)[1])


def test_one_scrape_adds_up_both_workers_and_a_dead_workers_gauges_go(server):
    clients = []
    try:
        # Four chargers, handed to either worker by the kernel; then, if one worker took them all, it is
        # paused while the next charger connects, so that the other one (polling the same socket) accepts it.
        for i in range(4):
            c = ChargerClient(f"ws://{server.address}", f"MP-{i}")
            clients.append(c)
            assert c.boot().status == "Accepted"
        for i in range(4, CHARGERS):
            held = set(server.holders().values())
            if len(held) == 2:
                break
            (busy,) = held
            os.kill(busy, signal.SIGSTOP)
            try:  # only the handshake while it is paused: its writes (a batch, a lock) must not hold up the boot
                c = ChargerClient(f"ws://{server.address}", f"MP-{i}")
            finally:
                os.kill(busy, signal.SIGCONT)
            clients.append(c)
            assert c.boot().status == "Accepted"
        holders = server.holders()
        pids = set(holders.values())
        assert len(pids) == 2, f"all {len(clients)} chargers went to one worker: {holders}"
        for c in clients:
            for n in range(3):
                c.status(n, "Available")
        n = len(clients)
        # Whichever worker answers a scrape, it shows everything both did.
        for _ in range(6):
            s = server.scrape()
            assert (
                s[key("cms_charger_messages_total", transport="json", action="BootNotification", outcome="result")] == n
            )
            assert (
                s[key("cms_charger_messages_total", transport="json", action="StatusNotification", outcome="result")]
                == 3 * n
            )
            assert total(s, "cms_charger_message_duration_seconds_count", action="StatusNotification") == 3 * n
            assert total(s, "cms_group_commit_messages_sum") == 4 * n  # every boot and StatusNotification in a group
            assert s[key("cms_chargers_connected", transport="json", ocpp_version="1.6")] == n
            assert {dict(ls)["pid"] for name, ls in s if name == "cms_db_pool_size_connections"} == {
                str(p) for p in pids
            }

        victim = next(iter(pids))
        os.kill(victim, signal.SIGKILL)  # a worker of the server this test started
        deadline = time.monotonic() + 30
        while True:
            s = server.scrape()
            gauges = {dict(ls)["pid"] for name, ls in s if name == "cms_db_pool_checked_out_connections"}
            if str(victim) not in gauges:
                break
            assert time.monotonic() < deadline, f"the dead worker {victim} still has gauges: {gauges}"
            time.sleep(0.5)
        # A counter never goes down: the dead worker's messages stay in the totals.
        assert s[key("cms_charger_messages_total", transport="json", action="BootNotification", outcome="result")] == n
        assert (
            s[key("cms_charger_messages_total", transport="json", action="StatusNotification", outcome="result")]
            == 3 * n
        )
    finally:
        for c in clients:
            c.close()


def test_every_line_is_json_and_names_the_charger_whose_message_it_is_about(server):
    before = server.scrape()
    with ws_connect(f"ws://{server.address}/ocpp/MP-LOG", subprotocols=["ocpp1.6"]) as ws:
        ws.send('[2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
        assert json.loads(ws.recv(timeout=10))[2]["status"] == "Accepted"
        # A transaction message that does not fit its schema: processed anyway, with a WARNING line.
        ws.send(
            json.dumps(
                [
                    2,
                    "m",
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "bogusField": 1,
                        "meterValue": [{"timestamp": now_iso(), "sampledValue": [{"value": "5"}]}],
                    },
                ]
            )
        )
        assert json.loads(ws.recv(timeout=10))[0] == 3
        # The server's own failure: an ERROR line with the exception's text.
        with table_missing(server.database_url, "status_events"):
            ws.send(
                json.dumps(
                    [
                        2,
                        "s",
                        "StatusNotification",
                        {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": now_iso()},
                    ]
                )
            )
            answer = json.loads(ws.recv(timeout=20))
        assert answer[:3] == [4, "s", "InternalError"]
    after = server.scrape()
    assert total(after, "cms_charger_internal_errors_total") - total(before, "cms_charger_internal_errors_total") == 1

    deadline = time.monotonic() + 10
    while True:
        entries = [json.loads(line) for line in server.log_lines()]  # each line is one JSON object
        mine = [e for e in entries if e.get("charger") == "MP-LOG"]
        if any(e["level"] == "ERROR" and "exception" in e for e in mine) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for e in entries:
        assert {"time", "level", "logger", "message", "pid"} <= set(e), e
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own lines too
    assert any(e["level"] == "WARNING" and "MeterValues" in e["message"] for e in mine), mine
    failure = [e for e in mine if e["level"] == "ERROR" and "exception" in e]
    assert failure, mine
    assert failure[0]["exception"].startswith("Traceback") and "status_events" in failure[0]["exception"]
    # Another charger's message is never attributed to this one.
    assert not [e for e in entries if e.get("charger") not in (None, "MP-LOG") and "MP-LOG" in e["message"]]
