"""Connected flags in batches (issue 12): a connect or disconnect costs no transaction of its own; a batch
holding a charger's old connection's end and its new connection leaves it online, on the new connection."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from cms.models import ChargePoint
from tests.support.databases import run_while_row_held


@pytest.fixture
def app_config(app_config):
    # flushed by the test, not by the threads
    return {**app_config, "heartbeat_batch_seconds": 3600, "connection_flags_batch_seconds": 3600}


def flags(rt, identity):
    with rt.db.uow() as uow:
        cp = uow.session.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
        return cp.connected, cp.connected_node


def test_connects_and_disconnects_are_written_together(rt, add_charger, connect):
    batch = rt.connection_flags
    for name in ("F1", "F2"):
        add_charger(name)
    one, two = connect("F1"), connect("F2")
    one.boot()
    two.boot()
    assert flags(rt, "F1") == (False, None)  # not yet: with the next batch
    assert batch.flush() == 2
    assert flags(rt, "F1")[0] and flags(rt, "F2")[0]
    node = flags(rt, "F1")[1]
    one.close()
    deadline = time.monotonic() + 5
    while rt.connections.get("F1") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert batch.flush() == 1
    assert flags(rt, "F1") == (False, node) and flags(rt, "F2")[0]


def test_a_reconnect_in_one_batch_stays_online(rt, add_charger, connect):
    batch = rt.connection_flags
    add_charger("F3")
    first = connect("F3")
    first.boot()
    batch.flush()
    old_token = rt.connections.get("F3").token
    second = connect("F3")  # replaces the first connection
    second.boot()
    batch.disconnected("F3", old_token, batch_now())  # the old connection's end, late, in the same batch
    assert batch.flush() == 2
    connected, node = flags(rt, "F3")
    assert connected and node == rt.connections.get("F3").token


def batch_now():
    from cms.models import utcnow

    return utcnow()


def test_shutdown_writes_what_is_pending(rt, add_charger, connect):
    add_charger("F4")
    connect("F4").boot()
    rt.shutdown(timeout=5)
    assert flags(rt, "F4")[0] is False


def test_a_row_another_transaction_holds_is_written_next_round_not_waited_for(rt, add_charger, connect):
    """A commit group (thousands of BootNotifications in a storm) locks charger rows in the order its messages
    came; a flags batch that waited for one of them while holding others could close a deadlock (seen in the
    storm benchmark). It skips the held row, writes the others, and writes the held one next round."""
    if rt.db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL (SQLite writers take the whole database in turn)")
    batch = rt.connection_flags
    add_charger("HELD")
    add_charger("FREE")
    held, free = connect("HELD"), connect("FREE")
    held.boot()
    free.boot()
    held_row = select(ChargePoint.id).where(ChargePoint.identity == "HELD")
    finished, written = run_while_row_held(rt.db.engine, held_row, batch.flush)
    assert finished, "the batch waited for a row another transaction holds"
    assert written == 1
    assert flags(rt, "HELD") == (False, None) and flags(rt, "FREE")[0]
    assert batch.flush() == 1  # the held one, next round
    assert flags(rt, "HELD")[0]
