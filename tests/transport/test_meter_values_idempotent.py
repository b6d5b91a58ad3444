"""A replayed MeterValues is stored once (issue 12): OCPP lets a charger resend a transaction message whose
answer it lost, with the same or a new message id. One row per sample (charger, connector, transaction,
timestamp, measurand, phase, location, context), enforced by the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import websockets.sync.client as ws_client
from sqlalchemy import select

from cms.handlers import Charger
from cms.migrate import upgrade
from cms.models import ChargePoint, MeterValue, utcnow
from tests.conftest import BACKEND
from tests.support import databases

TS = "2026-01-01T10:00:00Z"
SAMPLES = [
    {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
    {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
    {"value": "10", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
    {"value": "11", "measurand": "Current.Import", "unit": "A", "phase": "L2"},
]


@pytest.fixture
def session(rt, add_charger, add_tag, connect):
    """CP1 booted with an open transaction; the charger is a real OCPP-J one (the ``ocpp`` package)."""
    add_charger("CP1")
    add_tag("T1")
    charger = connect("CP1")
    charger.boot()
    tx_id = charger.start(1, "T1", meter_start=1000).transaction_id
    return charger, tx_id


def stored(rt) -> list[tuple]:
    with rt.db.uow() as uow:
        return uow.session.execute(
            select(MeterValue.transaction_id, MeterValue.measurand, MeterValue.phase, MeterValue.value).order_by(
                MeterValue.id
            )
        ).all()


def test_the_same_meter_values_three_times_is_stored_once(rt, session, live_server):
    charger, tx_id = session
    payload = {"connectorId": 1, "transactionId": tx_id, "meterValue": [{"timestamp": TS, "sampledValue": SAMPLES}]}
    charger.meter(1, tx_id, SAMPLES, timestamp=TS)  # a new message id each time: the ocpp package's own
    charger.meter(1, tx_id, SAMPLES, timestamp=TS)
    with ws_client.connect(f"{live_server.ws_url}/ocpp/CP1", subprotocols=["ocpp1.6"], open_timeout=5) as ws:
        for _ in range(2):  # after a reconnect, with one message id twice
            ws.send(json.dumps([2, "replayed-1", "MeterValues", payload]))
            assert json.loads(ws.recv(timeout=10)) == [3, "replayed-1", {}]
    rows = stored(rt)
    assert len(rows) == len(SAMPLES), rows
    assert {r.phase for r in rows} == {None, "L1", "L2"}


def test_different_samples_are_all_kept(rt, session):
    charger, tx_id = session
    charger.meter(1, tx_id, SAMPLES, timestamp=TS)
    charger.meter(1, tx_id, SAMPLES, timestamp="2026-01-01T10:01:00Z")  # a later sample
    charger.meter(2, None, SAMPLES[:1], timestamp=TS)  # another connector, outside a transaction
    charger.meter(2, None, SAMPLES[:1], timestamp=TS)  # ... replayed
    charger.meter(1, tx_id, [{**SAMPLES[0], "context": "Sample.Clock"}], timestamp=TS)  # another context
    charger.meter(1, tx_id, [{**SAMPLES[0], "location": "Inlet"}], timestamp=TS)  # another location
    assert len(stored(rt)) == 2 * len(SAMPLES) + 3


def test_a_replayed_stop_stores_its_transaction_data_once(rt, session):
    charger, tx_id = session
    data = [{"timestamp": TS, "sampledValue": SAMPLES[:2]}]
    for _ in range(3):
        rt.pipeline.handle(
            Charger("CP1"),
            "StopTransaction",
            {"transactionId": tx_id, "meterStop": 2000, "timestamp": TS, "transactionData": data},
        )
    assert len(stored(rt)) == 2


def test_replays_inside_one_group_are_stored_once(rt, session):
    """Two copies in one commit group (two workers' writers could do the same): one row each."""
    _charger, tx_id = session
    svc = rt.pipeline.runner
    payload = {"connectorId": 1, "transactionId": tx_id, "meterValue": [{"timestamp": TS, "sampledValue": SAMPLES}]}
    with rt.db.uow() as uow:
        for uid in ("a", "b"):
            svc.apply(uow.session, Charger("CP1"), "MeterValues", payload, uid, None, utcnow())
        uow.commit()
    assert len(stored(rt)) == len(SAMPLES)


def test_the_migration_removes_stored_duplicates(tmp_path):
    """0009 keeps the first copy of each sample stored before it, then enforces one row per sample."""
    if BACKEND == "postgres":
        name = f"cms_test_dedupe_{id(tmp_path)}"
        url = databases.create_postgres_database(name)  # migrated to head: go back to 0008 first
        from alembic import command

        from cms.migrate import alembic_config

        command.downgrade(alembic_config(url), "0008_opapi")
    else:
        name, url = None, f"sqlite:///{tmp_path}/old.sqlite3"
        upgrade(url, "0008_opapi")
    engine = sa.create_engine(url)
    try:
        # Core, not the ORM: the model's defaults fill the other columns, and columns added after 0008 stay out.
        with engine.begin() as c:
            c.execute(sa.insert(ChargePoint.__table__).values(identity="OLD", registered=True))
        with engine.begin() as c:
            cp = c.scalar(sa.text("SELECT id FROM charge_points WHERE identity = 'OLD'"))
            row = (
                "INSERT INTO meter_values (charge_point_id, connector_id, transaction_id, timestamp, received_at, "
                "raw_value, value, measurand, phase, unit, context, location, format) VALUES "
                "(:cp, 1, :tx, '2026-01-01 10:00:00', '2026-01-01 10:00:01', '1', 1, 'Energy.Active.Import.Register', "
                ":phase, 'Wh', 'Sample.Periodic', 'Outlet', 'Raw')"
            )
            for tx, phase, copies in ((None, None, 3), (7, None, 2), (7, "L1", 2), (8, None, 1)):
                for _ in range(copies):
                    c.execute(sa.text(row), {"cp": cp, "tx": tx, "phase": phase})
        upgrade(url)
        with engine.begin() as c:
            assert c.scalar(sa.text("SELECT count(*) FROM meter_values")) == 4
            with pytest.raises(sa.exc.IntegrityError):
                with c.begin_nested():
                    c.execute(sa.text(row), {"cp": cp, "tx": None, "phase": None})
    finally:
        engine.dispose()
        if name is not None:
            databases.drop_postgres_database(name)
