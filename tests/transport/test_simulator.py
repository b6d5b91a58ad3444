"""The simulated charger (json_ws/simulator.py) against the real server: sessions land in the database, and it
answers CMS-initiated commands the way a charger does."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from cms.models import Connector, MeterValue, Transaction
from json_ws.simulator import charger_url, three_phase_sample
from tests.support.simulator import SimulatorThread


def wait_for(predicate, timeout=20.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


@pytest.fixture
def simulate(live_server):
    sims = []

    def _start(identities, **kw):
        sim = SimulatorThread(live_server.ws_url, identities, **kw)
        sims.append(sim)
        return sim

    yield _start
    for sim in sims:
        sim.stop()


def test_charger_url():
    assert charger_url("ws://h:1", "CP1") == "ws://h:1/ocpp/CP1"
    assert charger_url("ws://h:1/", "CP1") == "ws://h:1/ocpp/CP1"
    assert charger_url("ws://h:1/custom/ocpp", "CP1") == "ws://h:1/custom/ocpp/CP1"


def test_three_phase_sample_has_ten_values():
    values = three_phase_sample(1234.0, 11000.0, 42.0)
    assert len(values) == 10
    measurands = {(v["measurand"], v.get("phase")) for v in values}
    assert ("Energy.Active.Import.Register", None) in measurands
    assert {("Current.Import", p) for p in ("L1", "L2", "L3")} <= measurands
    assert {("Voltage", p) for p in ("L1-N", "L2-N", "L3-N")} <= measurands


def test_sessions_back_to_back_are_persisted(rt, add_charger, add_tag, simulate):
    add_charger("SIM1")
    add_tag("SIMTAG")
    simulate(["SIM1"], id_tag="SIMTAG", session_seconds=1.2, meter_interval=0.3)

    def stopped_sessions():
        with rt.db.uow() as uow:
            rows = uow.session.scalars(select(Transaction).where(Transaction.stop_timestamp.is_not(None))).all()
            return [(t.id, t.charge_point_id, t.id_tag, t.meter_start, t.meter_stop) for t in rows]

    done = wait_for(lambda: len(stopped_sessions()) >= 2 and stopped_sessions(), timeout=40)
    tx_id, cp_id, id_tag, meter_start, meter_stop = done[0]
    assert id_tag == "SIMTAG" and meter_stop > meter_start
    with rt.db.uow() as uow:
        s = uow.session
        samples = s.scalar(select(func.count()).select_from(MeterValue).where(MeterValue.transaction_id == tx_id))
        connectors = {c.connector_id for c in s.scalars(select(Connector).where(Connector.charge_point_id == cp_id))}
    assert samples >= 10  # at least the Transaction.End sample
    assert connectors == {0, 1, 2}


def test_answers_cms_commands(rt, add_charger, add_tag, simulate):
    add_charger("SIM2")
    add_tag("SIMTAG")
    # Long sessions so a remote start/stop is what ends them.
    simulate(["SIM2"], id_tag="SIMTAG", session_seconds=600, meter_interval=60)
    wait_for(lambda: rt.dispatcher.holds_locally("SIM2"))
    call = rt.dispatcher.call
    conf = wait_for(lambda: call("SIM2", "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}))
    assert conf["unknownKey"] == ["Nope"] and conf["configurationKey"][0]["key"] == "HeartbeatInterval"
    assert call("SIM2", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"}) == \
        {"status": "Accepted"}
    assert call("SIM2", "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"}) == {"status": "Rejected"}
    assert call("SIM2", "GetConfiguration", {"key": ["MeterValueSampleInterval"]})["configurationKey"][0][
        "value"] == "30"

    assert call("SIM2", "RemoteStartTransaction", {"idTag": "SIMTAG", "connectorId": 2}) == {"status": "Accepted"}

    def open_tx():
        with rt.db.uow() as uow:
            return uow.session.scalar(select(Transaction.id).where(Transaction.connector_id == 2,
                                                                   Transaction.stop_timestamp.is_(None)))

    tx_id = wait_for(open_tx)
    assert call("SIM2", "RemoteStopTransaction", {"transactionId": tx_id}) == {"status": "Accepted"}

    def stopped():
        with rt.db.uow() as uow:
            return uow.session.get(Transaction, tx_id).stop_reason

    assert wait_for(stopped) == "Remote"
    assert call("SIM2", "RemoteStopTransaction", {"transactionId": 999999}) == {"status": "Rejected"}

    assert call("SIM2", "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 2}) == \
        {"status": "Accepted"}
    assert call("SIM2", "ReserveNow", {"connectorId": 2, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "SIMTAG",
                                       "reservationId": 7}) == {"status": "Accepted"}

    def reserved():
        with rt.db.uow() as uow:
            c = uow.session.scalar(select(Connector).where(Connector.connector_id == 2))
            return c is not None and c.status == "Reserved"

    wait_for(reserved)
    assert call("SIM2", "CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
    assert call("SIM2", "CancelReservation", {"reservationId": 7}) == {"status": "Rejected"}
    assert call("SIM2", "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    assert call("SIM2", "SendLocalList", {"listVersion": 3, "updateType": "Full",
                                          "localAuthorizationList": [{"idTag": "A",
                                                                      "idTagInfo": {"status": "Accepted"}}]}) == \
        {"status": "Accepted"}
    assert call("SIM2", "GetLocalListVersion", {}) == {"listVersion": 3}
    assert call("SIM2", "DataTransfer", {"vendorId": "x"}) == {"status": "UnknownVendorId"}
