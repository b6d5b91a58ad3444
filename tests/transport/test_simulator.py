"""The simulated charger (simulator/charger.py) against the real server: sessions land in the database, and it
answers CMS-initiated commands the way a charger does."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from cms.models import Connector, MeterValue, Transaction
from simulator.charger import charger_url, three_phase_sample
from simulator.simulated_ev import SimulatedEV
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
    # An EV that draws 16 A on three phases (11 kW): a 1.2 s session adds a few Wh.
    simulate(
        ["SIM1"],
        id_tag="SIMTAG",
        session_seconds=1.2,
        meter_interval=0.3,
        ev_factory=lambda: SimulatedEV("sedan", 16.0, 3, 75_000.0, soc=50.0),
    )

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
    assert call("SIM2", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"}) == {
        "status": "Accepted"
    }
    assert call("SIM2", "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"}) == {"status": "Rejected"}
    assert (
        call("SIM2", "GetConfiguration", {"key": ["MeterValueSampleInterval"]})["configurationKey"][0]["value"] == "30"
    )

    assert call("SIM2", "RemoteStartTransaction", {"idTag": "SIMTAG", "connectorId": 2}) == {"status": "Accepted"}

    def open_tx():
        with rt.db.uow() as uow:
            return uow.session.scalar(
                select(Transaction.id).where(Transaction.connector_id == 2, Transaction.stop_timestamp.is_(None))
            )

    tx_id = wait_for(open_tx)
    assert call("SIM2", "RemoteStopTransaction", {"transactionId": tx_id}) == {"status": "Accepted"}

    def stopped():
        with rt.db.uow() as uow:
            return uow.session.get(Transaction, tx_id).stop_reason

    assert wait_for(stopped) == "Remote"
    assert call("SIM2", "RemoteStopTransaction", {"transactionId": 999999}) == {"status": "Rejected"}

    assert call("SIM2", "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 2}) == {
        "status": "Accepted"
    }
    assert call(
        "SIM2",
        "ReserveNow",
        {"connectorId": 2, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "SIMTAG", "reservationId": 7},
    ) == {"status": "Accepted"}

    def reserved():
        with rt.db.uow() as uow:
            c = uow.session.scalar(select(Connector).where(Connector.connector_id == 2))
            return c is not None and c.status == "Reserved"

    wait_for(reserved)
    assert call("SIM2", "CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
    assert call("SIM2", "CancelReservation", {"reservationId": 7}) == {"status": "Rejected"}
    assert call("SIM2", "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    assert call(
        "SIM2",
        "SendLocalList",
        {
            "listVersion": 3,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}],
        },
    ) == {"status": "Accepted"}
    assert call("SIM2", "GetLocalListVersion", {}) == {"listVersion": 3}
    assert call("SIM2", "DataTransfer", {"vendorId": "x"}) == {"status": "UnknownVendorId"}


# ----------------------------------------------------------------------------------------------- smart charging


def test_follows_charging_profiles_sent_through_the_commands_api(
    rt, add_charger, add_tag, owner_token, live_server, simulate
):
    """A real CMS sends SetChargingProfile / ClearChargingProfile / GetCompositeSchedule through the operator API to
    a simulated charger mid-session: the meter values that follow obey the limit, and the composite schedule is
    what it was given."""
    add_charger("SIMLM")
    add_tag("SIMTAG")
    # A van taking 32 A on three phases, on a 32 A charger: unlimited, it draws 32 A per phase.
    simulate(
        ["SIMLM"],
        id_tag="SIMTAG",
        session_seconds=600,
        meter_interval=0.3,
        ev_factory=lambda: SimulatedEV("van", 32.0, 3, 90_000.0, soc=40.0),
    )

    def open_tx():
        with rt.db.uow() as uow:
            return uow.session.scalar(
                select(Transaction.id).where(Transaction.connector_id == 1, Transaction.stop_timestamp.is_(None))
            )

    tx_id = wait_for(open_tx)

    def command(action, payload):
        r = requests.post(
            f"{live_server.url}/api/v1/charge-points/SIMLM/commands/{action}",
            json=payload,
            headers={"Authorization": f"Bearer {owner_token}"},
            timeout=20,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def samples(after, until=None):
        """The periodic samples of the session taken after ``after``: {(measurand, phase): value} each."""
        with rt.db.uow() as uow:
            q = select(MeterValue).where(
                MeterValue.transaction_id == tx_id,
                MeterValue.timestamp > after,
                MeterValue.context == "Sample.Periodic",
            )
            if until is not None:
                q = q.where(MeterValue.timestamp < until)
            rows = uow.session.scalars(q.order_by(MeterValue.timestamp)).all()
        by_time: dict = {}
        for row in rows:
            by_time.setdefault(row.timestamp, {})[(row.measurand, row.phase)] = row.value
        return list(by_time.values())

    def next_samples(after, n=3):
        return wait_for(lambda: len(found := samples(after)) >= n and found, timeout=30)

    def drawn(sample):
        return [sample[("Current.Import", p)] for p in ("L1", "L2", "L3")]

    def soon():
        return datetime.now(UTC) + timedelta(seconds=0.2)  # a sample in flight when the answer came is older

    for s in next_samples(soon()):
        assert all(31.0 <= a <= 32.0 for a in drawn(s)) and s[("Current.Offered", None)] == 32.0

    # A TxProfile of 10 A for this transaction: the next meter values follow it.
    tx_profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 501,
            "transactionId": tx_id,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            },
        },
    }
    assert command("SetChargingProfile", tx_profile) == {"status": "Accepted"}
    limited = next_samples(soon())
    for s in limited:
        assert all(9.5 <= a <= 10.0 for a in drawn(s)), s
        assert s[("Current.Offered", None)] == 10.0
        assert 3 * 230 * 9.5 <= s[("Power.Active.Import", None)] <= 3 * 230 * 10.0
    energy = [s[("Energy.Active.Import.Register", None)] for s in limited]
    assert energy == sorted(energy) and energy[-1] > energy[0]

    composite = command("GetCompositeSchedule", {"connectorId": 1, "duration": 300})
    assert composite["status"] == "Accepted" and composite["connectorId"] == 1
    assert composite["chargingSchedule"]["chargingRateUnit"] == "A"
    assert composite["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0, "numberPhases": 3}
    ]
    in_watts = command("GetCompositeSchedule", {"connectorId": 1, "duration": 300, "chargingRateUnit": "W"})
    assert in_watts["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 6900.0, "numberPhases": 3}
    ]

    # A higher stack level in W, from a whole second 3 s ahead: 13.8 kW (20 A) for 3 s, then 4140 W (6 A).
    start = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    stacked = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 502,
            "transactionId": tx_id,
            "stackLevel": 2,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "startSchedule": start.isoformat().replace("+00:00", "Z"),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 13800.0}, {"startPeriod": 3, "limit": 4140.0}],
            },
        },
    }
    assert command("SetChargingProfile", stacked) == {"status": "Accepted"}
    schedule = command("GetCompositeSchedule", {"connectorId": 1, "duration": 60})["chargingSchedule"]
    periods = schedule["chargingSchedulePeriod"]
    assert [p["limit"] for p in periods] == [10.0, 20.0, 6.0]
    opened = datetime.fromisoformat(schedule["startSchedule"].replace("Z", "+00:00"))
    assert opened + timedelta(seconds=periods[1]["startPeriod"]) == start
    assert periods[2]["startPeriod"] - periods[1]["startPeriod"] == 3
    for s in next_samples(start + timedelta(seconds=3.4)):
        assert all(5.5 <= a <= 6.0 for a in drawn(s)), s
    during = samples(start + timedelta(seconds=0.4), start + timedelta(seconds=2.6))
    assert during and all(all(19.5 <= a <= 20.0 for a in drawn(s)) for s in during), during

    # A TxProfile for another transaction is refused; clearing the TxProfiles lifts the limit.
    assert command(
        "SetChargingProfile",
        {
            **tx_profile,
            "csChargingProfiles": {
                **tx_profile["csChargingProfiles"],
                "chargingProfileId": 503,
                "transactionId": tx_id + 1000,
            },
        },
    ) == {"status": "Rejected"}
    assert command("ClearChargingProfile", {"chargingProfilePurpose": "TxProfile"}) == {"status": "Accepted"}
    for s in next_samples(soon()):
        assert all(31.0 <= a <= 32.0 for a in drawn(s)), s

    # A 0 A default pauses the session (SuspendedEVSE, nothing drawn) until it is cleared.
    pause = {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 504,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0}]},
        },
    }
    assert command("SetChargingProfile", pause) == {"status": "Accepted"}

    def status():
        with rt.db.uow() as uow:
            return uow.session.scalar(select(Connector.status).where(Connector.connector_id == 1))

    wait_for(lambda: status() == "SuspendedEVSE")
    for s in next_samples(soon()):
        assert drawn(s) == [0.0, 0.0, 0.0] and s[("Power.Active.Import", None)] == 0.0
    assert command("ClearChargingProfile", {"id": 504}) == {"status": "Accepted"}
    wait_for(lambda: status() == "Charging")
