"""Runtime.shutdown, piece by piece (the whole under gunicorn: tests/integration/test_graceful_restart.py).

A message being handled is answered before its connection closes with 1001; a CALL read after the shutdown began
is not processed; the heartbeat batch is written, and afterwards every record at once; group commit drains;
the Redis presence of this process, and only of this process, is withdrawn.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from ocpp.v16 import call
from sqlalchemy import select

from cms.group_commit import GroupCommitter
from cms.handlers import Charger
from cms.models import ChargePoint, DataTransferRecord, MessageLogEntry
from json_ws.endpoint import handle_frame
from tests.support.processes import shared_redis_url

REDIS_URL = shared_redis_url(1)


@pytest.fixture
def app_config(app_config):
    return {**app_config, "heartbeat_batch_seconds": 300, "group_commit_max": 64}


def _wait(predicate, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_message_in_flight_is_answered_then_the_socket_closes_with_1001(rt, add_charger, connect, live_server):
    add_charger("SD-1")
    charger = connect("SD-1")
    assert charger.boot().status == "Accepted"
    entered, release = threading.Event(), threading.Event()

    def slow(identity, message_id, data):
        entered.set()
        release.wait(10)
        return "Accepted", "done"

    rt.pipeline.data_transfer.register("slow", None, slow)
    answer: dict = {}
    sender = threading.Thread(target=lambda: answer.update(r=charger.call(call.DataTransfer(vendor_id="slow"))))
    sender.start()
    assert entered.wait(5)
    stopper = threading.Thread(target=rt.shutdown, args=(5.0,))
    stopper.start()
    time.sleep(0.3)
    assert charger.ws.close_code is None  # not while its message is being handled
    assert rt.stopping
    release.set()
    sender.join(5)
    assert answer["r"].status == "Accepted" and answer["r"].data == "done"
    assert _wait(lambda: charger.ws.close_code == 1001)
    stopper.join(5)
    assert not stopper.is_alive()
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(DataTransferRecord.status)) == "Accepted"
        assert uow.session.scalar(select(ChargePoint.connected).where(ChargePoint.identity == "SD-1")) is False
    assert len(rt.connections) == 0


def test_a_call_read_after_the_shutdown_began_is_left_for_the_next_process(rt, add_charger):
    add_charger("SD-2")

    class Conn:
        identity = "SD-2"
        going_away = True

    charger = Charger("SD-2")
    assert (
        handle_frame(rt, Conn(), charger, '[2,"1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
        is None
    )
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(ChargePoint.last_boot_at).where(ChargePoint.identity == "SD-2")) is None


def test_readyz_says_stopping(rt, client):
    assert client.get("/readyz").status_code == 200
    rt.shutdown(1.0)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json()["checks"]["process"] == "stopping"


def test_the_heartbeat_batch_is_written_and_then_each_heartbeat_at_once(rt, add_charger, connect):
    add_charger("SD-3")
    charger = connect("SD-3")
    charger.boot()
    beats = [charger.call(call.Heartbeat()).current_time for _ in range(3)]

    def stored():
        with rt.db.uow() as uow:
            cp = uow.session.scalar(select(ChargePoint).where(ChargePoint.identity == "SD-3"))
            logged = uow.session.scalar(
                select(MessageLogEntry.id)
                .where(MessageLogEntry.charge_point_id == cp.id, MessageLogEntry.action == "Heartbeat")
                .limit(1)
            )
            return cp.last_heartbeat_at, logged

    assert stored() == (None, None)  # in the batch (300 s), not yet written
    rt.shutdown(2.0)
    at, logged = stored()
    assert logged is not None and at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z" == beats[-1]
    # A message answered after the drain (a SOAP request still running) is written before it is answered.
    response = rt.pipeline.handle(Charger("SD-3"), "Heartbeat", {})
    at, _ = stored()
    assert at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z" == response["currentTime"]


def test_group_commit_drain_waits_for_what_was_submitted(rt, add_charger, monkeypatch):
    from cms.handlers import HANDLERS
    from tests.support.pipeline import replace_handler, with_group_commit

    original = HANDLERS["StatusNotification"].run

    def slow(ctx, p):
        time.sleep(0.2)
        return original(ctx, p)

    replace_handler(monkeypatch, "StatusNotification", slow)
    committer = GroupCommitter(rt.pipeline.runner, max_group=64, writers=1, idle_exit=1.0)
    with_group_commit(rt, committer, monkeypatch)
    for i in range(3):
        add_charger(f"SD-G{i}")
        rt.pipeline.handle(Charger(f"SD-G{i}"), "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    answers: list = []
    payload = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    threads = [
        threading.Thread(
            target=lambda i=i: answers.append(rt.pipeline.handle(Charger(f"SD-G{i}"), "StatusNotification", payload))
        )
        for i in range(3)
    ]
    for t in threads:
        t.start()
    assert _wait(lambda: committer._pending or committer._idle < committer._writers, 2)
    assert committer.drain(time.monotonic() + 0.01) is False  # a group is being written
    assert committer.drain(time.monotonic() + 5) is True
    # Every submitter was answered by then; its thread records the answer a moment later, so it is joined first.
    for t in threads:
        t.join(5)
    assert len(answers) == 3


@pytest.mark.redis
def test_withdraw_all_forgets_only_this_process(rt):
    import redis

    from cms.node_routing import RedisRouter

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({e.__class__.__name__})")
    namespace = f"test-withdraw-{uuid.uuid4().hex[:8]}"
    here = RedisRouter(client, "node-a", lambda *a: {}, namespace=namespace)
    there = RedisRouter(client, "node-b", lambda *a: {}, namespace=namespace)
    try:
        for i in range(3):
            here.announce(f"CP-{i}", f"t{i}")
        there.announce("CP-B", "tb")
        here.announce("CP-MOVED", "old")
        there.announce("CP-MOVED", "new")  # reconnected to the other process meanwhile
        assert here.withdraw_all() == 3
        assert {k.decode(): v.decode() for k, v in client.hgetall(here.presence_key).items()} == {
            "CP-B": "node-b|tb",
            "CP-MOVED": "node-b|new",
        }
    finally:
        client.delete(here.presence_key)
        client.close()
