"""Batched heartbeats: answered at once, written together, never for a charger that is not accepted."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from sqlalchemy import func, select, update

from cms.chargepoints import remove_charge_point
from cms.models import ChargePoint, MessageLogEntry
from tests.support.databases import run_while_row_held


@pytest.fixture
def app_config(app_config):
    return {**app_config, "heartbeat_batch_seconds": 3600}  # flushed by the test, not by the thread


def _heartbeat_state(rt, identity):
    with rt.db.uow() as uow:
        cp = uow.session.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
        logged = uow.session.scalar(
            select(func.count())
            .select_from(MessageLogEntry)
            .where(MessageLogEntry.charge_point_id == cp.id, MessageLogEntry.action == "Heartbeat")
        )
        return cp.last_heartbeat_at, logged


def test_heartbeats_are_answered_then_written_in_one_batch(rt, add_charger, connect):
    add_charger("HB1")
    add_charger("HB2")
    one, two = connect("HB1"), connect("HB2")
    with pytest.raises(OCPPError) as e:  # not accepted yet: the full path, SecurityError
        one.call(call.Heartbeat())
    assert e.value.code == "SecurityError"
    one.boot()
    two.boot()
    for _ in range(3):
        assert one.call(call.Heartbeat()).current_time
    assert two.call(call.Heartbeat()).current_time
    assert _heartbeat_state(rt, "HB1") == (None, 1)  # answered, not yet written (1: the refused one)
    assert rt.heartbeats.flush() == 2
    at, logged = _heartbeat_state(rt, "HB1")
    assert at is not None and logged == 1 + 6  # and three requests and three answers
    assert _heartbeat_state(rt, "HB2")[1] == 2


def test_a_removed_charger_does_not_spoil_the_batch(rt, owner, add_charger, connect):
    cp = add_charger("GONE")
    add_charger("STAYS")
    gone, stays = connect("GONE"), connect("STAYS")
    gone.boot()
    stays.boot()
    gone.call(call.Heartbeat())
    stays.call(call.Heartbeat())
    with rt.db.uow() as uow:
        remove_charge_point(uow.session, owner, cp.identity)
        uow.commit()
    assert rt.heartbeats.flush() == 1
    assert _heartbeat_state(rt, "STAYS")[0] is not None


def _logged(rt, identity, action):
    with rt.db.uow() as uow:
        cp_id = uow.session.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity))
        return uow.session.scalar(
            select(func.count())
            .select_from(MessageLogEntry)
            .where(MessageLogEntry.charge_point_id == cp_id, MessageLogEntry.action == action)
        )


def test_every_message_is_logged_with_the_batch_after_its_data(rt, add_charger, connect):
    add_charger("LOGB")
    charger = connect("LOGB")
    charger.boot()
    charger.status(1, "Available")
    with rt.db.uow() as uow:  # the data is written before the answer...
        from cms.models import Connector

        assert uow.session.scalar(select(Connector.status).where(Connector.connector_id == 1)) == "Available"
    assert _logged(rt, "LOGB", "StatusNotification") == 0  # ...its log copies with the next batch
    rt.heartbeats.flush()
    assert _logged(rt, "LOGB", "StatusNotification") == 2
    assert _logged(rt, "LOGB", "BootNotification") == 2


def test_batched_log_stays_bounded(rt, add_charger, connect, monkeypatch):
    from cms import message_log

    monkeypatch.setattr(message_log, "PRUNE_PROBABILITY", 1.0)
    monkeypatch.setattr(rt.heartbeats, "log_limit", 4)
    add_charger("BOUND")
    charger = connect("BOUND")
    charger.boot()
    for _ in range(6):
        charger.call(call.Heartbeat())
    rt.heartbeats.flush()
    with rt.db.uow() as uow:
        cp_id = uow.session.scalar(select(ChargePoint.id).where(ChargePoint.identity == "BOUND"))
        payloads = uow.session.scalars(
            select(MessageLogEntry.action).where(MessageLogEntry.charge_point_id == cp_id).order_by(MessageLogEntry.id)
        ).all()
    assert payloads == ["Heartbeat"] * 4  # the newest four of fourteen


def test_cached_charger_row_is_trusted_for_the_ttl_from_its_read_not_from_its_last_message(
    rt, add_charger, connect, monkeypatch
):
    from ocpp.v16 import call as ocpp_call

    from cms.message_runner import ACCEPTED_TTL

    clock = [1000.0]
    monkeypatch.setattr(rt.pipeline.accepted, "clock", lambda: clock[0])
    add_charger("TTL")
    charger = connect("TTL")
    charger.boot()  # read from the database at t = 1000
    with rt.db.uow() as uow:  # the owner refuses the charger meanwhile
        uow.session.execute(
            update(ChargePoint).where(ChargePoint.identity == "TTL").values(registration_status="Rejected")
        )
        uow.commit()
    clock[0] += ACCEPTED_TTL - 100
    charger.status(1, "Available")  # still within the TTL of the read: trusted
    clock[0] += 150  # TTL past the read, though only 150 s past the last message
    with pytest.raises(OCPPError) as e:
        charger.call(ocpp_call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
    assert e.value.code == "SecurityError"


# ------------------------------------------------------------------------------ a bad row costs nobody else (issue 12)
def test_a_message_id_with_nul_is_logged_without_it_and_spoils_nothing(rt, add_charger, live_server):
    """PostgreSQL cannot store NUL: the id is logged without it, with the other chargers' rows in the batch."""
    import json

    import websockets.sync.client as ws_client

    add_charger("NUL1")
    add_charger("FINE")
    for name in ("NUL1", "FINE"):
        with ws_client.connect(f"{live_server.ws_url}/ocpp/{name}", subprotocols=["ocpp1.6"], open_timeout=5) as ws:
            ws.send(json.dumps([2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
            assert json.loads(ws.recv(timeout=10))[0] == 3
            uid = "a\u0000b" if name == "NUL1" else "hb"
            ws.send(json.dumps([2, uid, "Heartbeat", {}]))
            assert json.loads(ws.recv(timeout=10))[:2] == [3, uid]
    assert rt.heartbeats.flush() == 2
    assert all(
        state[0] is not None and state[1] == 2 for state in map(lambda n: _heartbeat_state(rt, n), ["NUL1", "FINE"])
    )
    with rt.db.uow() as uow:
        assert "ab" in uow.session.scalars(select(MessageLogEntry.unique_id)).all()


def test_a_row_the_database_refuses_is_dropped_alone(rt, add_charger, connect, caplog):
    """Whatever the reason a row cannot be stored, the batch is written apart and only that row is lost."""
    for name in ("R1", "R2", "R3"):
        add_charger(name)
        charger = connect(name)
        charger.boot()
        charger.call(call.Heartbeat())
    with rt.db.uow() as uow:
        cp_id = uow.session.scalar(select(ChargePoint.id).where(ChargePoint.identity == "R2"))
    batcher = rt.heartbeats
    bad = {"charge_point_id": cp_id, "direction": "in", "action": "X", "unique_id": "x", "payload": None}
    from cms.models import utcnow

    batcher.log([{**bad, "created_at": utcnow(), "payload": "fine"}, {**bad, "created_at": utcnow()}])
    assert batcher.flush() == 3  # every heartbeat time written
    for name in ("R1", "R2", "R3"):
        at, logged = _heartbeat_state(rt, name)
        assert at is not None and logged == 2, name
    with rt.db.uow() as uow:
        assert uow.session.scalars(select(MessageLogEntry.payload).where(MessageLogEntry.action == "X")).all() == [
            "fine"
        ]
    assert [r for r in caplog.records if "dropped" in r.getMessage()]


def test_nothing_is_lost_while_the_database_is_away(rt, add_charger, connect, monkeypatch):
    """The database cannot be reached: the batch is kept for the next round, not thrown away."""
    from sqlalchemy.exc import OperationalError

    add_charger("AWAY")
    charger = connect("AWAY")
    charger.boot()
    charger.call(call.Heartbeat())
    batcher = rt.heartbeats
    real = batcher._write

    def unreachable(*a, **kw):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(batcher, "_write", unreachable)
    with pytest.raises(OperationalError):
        batcher.flush()
    monkeypatch.setattr(batcher, "_write", real)
    assert batcher.flush() == 1
    at, logged = _heartbeat_state(rt, "AWAY")
    assert at is not None and logged == 2


def test_a_row_another_transaction_holds_is_written_next_round_not_waited_for(rt, add_charger, connect):
    """A commit group locks charger rows in the order its messages came; a batch that waited for one of them
    while holding others could close a deadlock. It skips the held row and writes its time next round."""
    if rt.db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL (SQLite writers take the whole database in turn)")
    add_charger("HELD")
    add_charger("FREE")
    held, free = connect("HELD"), connect("FREE")
    held.boot()
    free.boot()
    held.call(call.Heartbeat())
    free.call(call.Heartbeat())
    batch_sizes: list[int] = []  # what the batch metric is told was written
    rt.heartbeats.metrics = SimpleNamespace(heartbeat_batch_written=lambda size, lag: batch_sizes.append(size))
    held_row = select(ChargePoint.id).where(ChargePoint.identity == "HELD")
    finished, written = run_while_row_held(rt.db.engine, held_row, rt.heartbeats.flush)
    assert finished, "the batch waited for a row another transaction holds"
    assert written == 1
    assert _heartbeat_state(rt, "HELD")[0] is None and _heartbeat_state(rt, "FREE")[0] is not None
    assert batch_sizes == [1]  # the held one counts when it is written, not now as well
    assert rt.heartbeats.flush() == 1  # the held one, next round
    assert _heartbeat_state(rt, "HELD")[0] is not None
    assert batch_sizes == [1, 1]
