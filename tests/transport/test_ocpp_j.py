"""OCPP 1.6-J end to end: a real server, real WebSockets, the ocpp package's ChargePoint as the charger."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import websockets.sync.client as ws_client
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from sqlalchemy import func, select
from websockets.exceptions import InvalidStatus

from cms.models import (
    ChargePoint,
    Connector,
    DataTransferRecord,
    MessageLogEntry,
    MeterValue,
    StatusEvent,
    Transaction,
    UnmatchedStop,
)

PASSWORD = "correct-horse-battery"


def _cp(rt, identity="CP1") -> ChargePoint:
    with rt.db.uow() as uow:
        cp = uow.session.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
        uow.session.expunge(cp)
        return cp


def _raw(live_server, identity="CP1", **kw):
    return ws_client.connect(f"{live_server.ws_url}/ocpp/{identity}", subprotocols=["ocpp1.6"], open_timeout=5, **kw)


def _exchange(ws, frame) -> list:
    ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(ws.recv(timeout=5))


# ------------------------------------------------------------------------------------------------ handshake
def test_unknown_charger_is_refused_at_the_handshake(live_server):
    with pytest.raises(InvalidStatus) as e:
        _raw(live_server, "GHOST")
    assert e.value.response.status_code == 404


def test_handshake_without_our_subprotocol_is_refused(live_server, add_charger):
    add_charger("CP1")
    for offered in ([], ["ocpp2.0.1"]):
        with pytest.raises(InvalidStatus) as e:
            ws_client.connect(f"{live_server.ws_url}/ocpp/CP1", subprotocols=offered or None, open_timeout=5)
        assert e.value.response.status_code == 400


def test_basic_auth_when_the_charger_has_a_password(live_server, add_charger, connect):
    add_charger("CP1", password=PASSWORD)
    for headers in ({}, {"Authorization": "Basic Q1AxOndyb25n"}):  # none; CP1:wrong
        with pytest.raises(InvalidStatus) as e:
            _raw(live_server, additional_headers=headers)
        assert e.value.response.status_code == 401
    charger = connect("CP1", password=PASSWORD)
    assert charger.boot().status == "Accepted"


@pytest.fixture
def auto_register(app_config):
    app_config["auto_register"] = True
    return app_config


def test_auto_registration_accepts_unknown_chargers(auto_register, live_server, connect, rt):
    charger = connect("NEWBIE")
    assert charger.boot().status == "Accepted"
    cp = _cp(rt, "NEWBIE")
    assert cp.registered and cp.owner_id is None


# ------------------------------------------------------------------------------------------------ boot
def test_boot_records_details_and_answers_interval_and_time(add_charger, connect, rt):
    add_charger("CP1")
    charger = connect("CP1")
    res = charger.boot(
        vendor="ACME",
        model="Volt-22",
        charge_point_serial_number="SN-1",
        firmware_version="1.2.3",
        meter_type="EM24",
        iccid="8944",
        imsi="2620",
    )
    assert res.status == "Accepted" and res.interval == rt.settings.heartbeat_interval
    sent = datetime.fromisoformat(res.current_time.replace("Z", "+00:00"))
    assert abs((sent - datetime.now(UTC)).total_seconds()) < 5
    cp = _cp(rt)
    assert (cp.vendor, cp.model, cp.serial_number, cp.firmware_version, cp.meter_type, cp.iccid, cp.imsi) == (
        "ACME",
        "Volt-22",
        "SN-1",
        "1.2.3",
        "EM24",
        "8944",
        "2620",
    )
    assert cp.registration_status == "Accepted" and cp.connected and cp.transport == "json"


def test_calls_before_boot_get_security_error_and_accepted_chargers_need_not_reboot(add_charger, connect):
    add_charger("CP1")
    charger = connect("CP1")
    with pytest.raises(OCPPError) as e:
        charger.call(call.Heartbeat())
    assert e.value.code == "SecurityError"
    charger.boot()
    assert charger.call(call.Heartbeat()).current_time
    charger.close()
    again = connect("CP1")
    assert again.call(call.Heartbeat()).current_time  # accepted before: no boot needed


# ------------------------------------------------------------------------------------------------ authorize
@pytest.fixture
def booted(add_charger, connect):
    add_charger("CP1")
    charger = connect("CP1")
    charger.boot()
    return charger


def test_authorize_statuses(booted, add_tag, owner, rt):
    from cms.accounts import create_user

    past = datetime.now(UTC) - timedelta(days=1)
    future = datetime.now(UTC) + timedelta(days=30)
    add_tag("GROUP", expiry=future)
    add_tag("OK", parent="GROUP")
    add_tag("BLOCKED", blocked=True)
    add_tag("OLD", expiry=past)
    add_tag("BADGROUP", blocked=True)
    add_tag("CHILD", parent="BADGROUP")
    with rt.db.uow() as uow:
        stranger = create_user(uow.session, "stranger@example.com", "stranger-pw")
        uow.commit()
    add_tag("FOREIGN", owner=stranger)

    def status(tag):
        return booted.call(call.Authorize(id_tag=tag)).id_tag_info

    ok = status("OK")
    assert ok["status"] == "Accepted" and ok["parent_id_tag"] == "GROUP"
    assert status("GROUP")["expiry_date"].startswith(future.strftime("%Y-%m-%dT%H:%M"))
    assert status("BLOCKED")["status"] == "Blocked"
    assert status("OLD")["status"] == "Expired"
    assert status("CHILD")["status"] == "Blocked"
    assert status("NOBODY")["status"] == "Invalid"
    assert status("FOREIGN")["status"] == "Invalid"  # another owner's card on this owner's charger
    booted.start(1, "OK")
    assert status("OK")["status"] == "ConcurrentTx"


# ------------------------------------------------------------------------------------------------ transactions
def test_start_is_idempotent_and_ids_are_unique(booted, add_tag, rt, add_charger, connect):
    add_tag("T1")
    add_tag("T2")
    ts = "2026-01-01T10:00:00Z"
    first = booted.start(1, "T1", meter_start=1000, timestamp=ts)
    retry = booted.start(1, "T1", meter_start=1000, timestamp=ts)
    assert first.transaction_id == retry.transaction_id
    assert first.id_tag_info["status"] == "Accepted" and retry.id_tag_info["status"] == "Accepted"
    add_charger("CP2")
    other = connect("CP2")
    other.boot()
    second = other.start(1, "T2", meter_start=1000, timestamp=ts)
    assert second.transaction_id != first.transaction_id
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Transaction)) == 2


def test_invalid_tag_start_is_recorded_and_answered(booted, rt):
    res = booted.start(1, "UNKNOWN", meter_start=5)
    assert res.id_tag_info["status"] == "Invalid"
    with rt.db.uow() as uow:
        tx = uow.session.get(Transaction, res.transaction_id)
        assert tx.start_status == "Invalid" and tx.meter_start == 5


def test_full_session_with_meter_values(booted, add_tag, rt):
    add_tag("T1")
    tx_id = booted.start(1, "T1", meter_start=1000).transaction_id
    booted.meter(
        1,
        tx_id,
        [
            {"value": "1.5", "unit": "kWh"},  # defaults: Energy.Active.Import.Register, Sample.Periodic, Outlet
            {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            {"value": "230.5", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
            {"value": "31", "measurand": "Temperature", "unit": "Celcius", "location": "Body"},
            {"value": "55", "measurand": "SoC", "unit": "Percent", "location": "EV"},
        ],
    )
    booted.meter(1, None, [{"value": "2100", "context": "Sample.Clock"}])  # outside any transaction
    with rt.db.uow() as uow:
        tx = uow.session.get(Transaction, tx_id)
        assert tx.last_meter_wh == 1500.0 and tx.last_power_w == 7400.0
        rows = uow.session.scalars(select(MeterValue).order_by(MeterValue.id)).all()
    energy = rows[0]
    assert (
        energy.measurand,
        energy.unit,
        energy.value,
        energy.raw_value,
        energy.context,
        energy.location,
        energy.format,
        energy.transaction_id,
    ) == ("Energy.Active.Import.Register", "Wh", 1500.0, "1.5", "Sample.Periodic", "Outlet", "Raw", tx_id)
    assert rows[2].phase == "L1" and rows[3].phase == "L1-N"
    assert rows[4].unit == "Celsius" and rows[4].location == "Body"
    assert rows[-1].transaction_id is None and rows[-1].context == "Sample.Clock"
    res = booted.stop(
        tx_id,
        4200,
        id_tag="T1",
        reason="EVDisconnected",
        transaction_data=[
            {"timestamp": "2026-01-01T10:30:00Z", "sampledValue": [{"value": "4200", "context": "Transaction.End"}]}
        ],
    )
    assert res.id_tag_info["status"] == "Accepted"
    with rt.db.uow() as uow:
        tx = uow.session.get(Transaction, tx_id)
        assert (tx.meter_stop, tx.stop_reason, tx.stop_id_tag, tx.energy_wh) == (4200, "EVDisconnected", "T1", 3200)
        end = uow.session.scalar(select(MeterValue).where(MeterValue.context == "Transaction.End"))
        assert end.transaction_id == tx_id and end.value == 4200
    # A retried stop changes nothing.
    booted.stop(tx_id, 9999, reason="Other")
    with rt.db.uow() as uow:
        assert uow.session.get(Transaction, tx_id).meter_stop == 4200


def test_stop_by_another_tag_of_the_same_group(booted, add_tag, rt):
    add_tag("FLEET")
    add_tag("CARD-A", parent="FLEET")
    add_tag("CARD-B", parent="FLEET")
    tx_id = booted.start(1, "CARD-A").transaction_id
    res = booted.stop(tx_id, 100, id_tag="CARD-B")
    assert res.id_tag_info["status"] == "Accepted" and res.id_tag_info["parent_id_tag"] == "FLEET"
    with rt.db.uow() as uow:
        assert uow.session.get(Transaction, tx_id).stop_id_tag == "CARD-B"


@pytest.mark.parametrize("reported", [-1, 987654])
def test_stop_for_unknown_transaction_is_answered_kept_and_reconciled(booted, add_tag, rt, reported):
    add_tag("T1")
    tx_id = booted.start(1, "T1", meter_start=10).transaction_id
    res = booted.stop(
        reported,
        510,
        id_tag="T1",
        transaction_data=[{"timestamp": "2026-01-01T10:30:00Z", "sampledValue": [{"value": "510"}]}],
    )
    assert res.id_tag_info["status"] == "Accepted"
    with rt.db.uow() as uow:
        stop = uow.session.scalar(select(UnmatchedStop))
        assert stop.reported_transaction_id == reported and stop.matched_transaction_id == tx_id
        assert uow.session.get(Transaction, tx_id).meter_stop == 510
        assert uow.session.scalar(select(MeterValue.transaction_id)) == tx_id
    # With nothing to match, it is still answered and kept, with its meter values.
    booted.stop(
        reported, 700, transaction_data=[{"timestamp": "2026-01-01T11:00:00Z", "sampledValue": [{"value": "700"}]}]
    )
    with rt.db.uow() as uow:
        stops = uow.session.scalars(select(UnmatchedStop).order_by(UnmatchedStop.id)).all()
        assert len(stops) == 2 and stops[1].matched_transaction_id is None
        assert uow.session.scalar(select(func.count()).select_from(MeterValue).where(MeterValue.value == 700)) == 1


def test_lenient_with_clocks_and_offsets(booted, add_tag, rt):
    add_tag("T1")
    tx = booted.start(1, "T1", timestamp="1970-01-01T00:00:42").transaction_id  # no offset, dead RTC
    booted.meter(1, tx, [{"value": "10"}], timestamp="1970-01-01T00:05:00")
    with rt.db.uow() as uow:
        t = uow.session.get(Transaction, tx)
        assert t.start_timestamp.year == 1970
        assert abs((t.start_received_at - datetime.now(UTC)).total_seconds()) < 10
        mv = uow.session.scalar(select(MeterValue))
        # An unbelievable charger time is replaced by ours; the raw frame stays in the message log.
        assert mv.timestamp.year >= 2025


# ------------------------------------------------------------------------------------------------ notifications
def test_status_notifications_keep_current_state_and_history(booted, rt):
    booted.status(0, "Available")
    booted.status(1, "Preparing")
    booted.status(1, "Faulted", error_code="GroundFailure", info="RCD", vendor_id="acme", vendor_error_code="E42")
    with rt.db.uow() as uow:
        conns = {c.connector_id: c for c in uow.session.scalars(select(Connector))}
        assert conns[0].status == "Available"
        assert (conns[1].status, conns[1].error_code, conns[1].info, conns[1].vendor_error_code) == (
            "Faulted",
            "GroundFailure",
            "RCD",
            "E42",
        )
        assert uow.session.scalar(select(func.count()).select_from(StatusEvent)) == 3


def test_heartbeat_diagnostics_and_firmware_status(booted, rt):
    booted.call(call.Heartbeat())
    booted.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    booted.call(call.FirmwareStatusNotification(status="Installing"))
    cp = _cp(rt)
    assert cp.last_heartbeat_at is not None
    assert (cp.diagnostics_status, cp.firmware_status) == ("Uploaded", "Installing")


def test_data_transfer_registry(booted, rt):
    rt.pipeline.data_transfer.register(
        "com.example", "echo", lambda identity, message_id, data: ("Accepted", f"{identity}:{data}")
    )
    res = booted.call(call.DataTransfer(vendor_id="com.example", message_id="echo", data="hi"))
    assert (res.status, res.data) == ("Accepted", "CP1:hi")
    assert booted.call(call.DataTransfer(vendor_id="com.example", message_id="other")).status == "UnknownMessageId"
    assert booted.call(call.DataTransfer(vendor_id="org.unknown")).status == "UnknownVendorId"
    with rt.db.uow() as uow:
        rows = uow.session.scalars(select(DataTransferRecord).order_by(DataTransferRecord.id)).all()
        assert [r.status for r in rows] == ["Accepted", "UnknownMessageId", "UnknownVendorId"]


# ------------------------------------------------------------------------------------------------ CALLERRORs
CALLERROR_CASES = [
    ("not json", "{nope", "FormationViolation"),
    ("not an array", '{"a": 1}', "FormationViolation"),
    ("payload not an object", [2, "u1", "Heartbeat", []], "TypeConstraintViolation"),
    ("unknown action", [2, "u1", "MakeCoffee", {}], "NotImplemented"),
    ("CMS action from a charger", [2, "u1", "Reset", {"type": "Soft"}], "NotSupported"),
    (
        "1.6 security extension",
        [2, "u1", "SecurityEventNotification", {"type": "x", "timestamp": "2026-01-01T00:00:00Z"}],
        "NotSupported",
    ),
    ("missing field", [2, "u1", "Authorize", {}], "OccurenceConstraintViolation"),
    ("wrong type", [2, "u1", "Authorize", {"idTag": 5}], "TypeConstraintViolation"),
    ("too long", [2, "u1", "Authorize", {"idTag": "x" * 21}], "PropertyConstraintViolation"),
    (
        "not in enum",
        [2, "u1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"}],
        "PropertyConstraintViolation",
    ),
    ("extra field", [2, "u1", "Heartbeat", {"x": 1}], "FormationViolation"),
    ("bad date", [2, "u1", "DiagnosticsStatusNotification", {"status": "Idle", "x": "y"}], "FormationViolation"),
]


def test_every_callerror_code_and_the_connection_survives(booted, live_server, add_charger):
    add_charger("RAW1")
    with _raw(live_server, "RAW1") as ws:
        assert _exchange(ws, [2, "b", "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}])[0] == 3
        for name, frame, code in CALLERROR_CASES:
            reply = _exchange(ws, frame)
            assert reply[0] == 4 and reply[2] == code, (name, reply)
            if isinstance(frame, list):
                assert reply[1] == "u1", name
            assert _exchange(ws, [2, "hb", "Heartbeat", {}])[0] == 3, f"connection lost after {name}"
        # Not a CALL (an unknown message type, OCPP-J 1.6 4.1.3): ignored, the next answer is the Heartbeat's.
        ws.send(json.dumps([7, "u1", "Heartbeat", {}]))
        assert _exchange(ws, [2, "hb", "Heartbeat", {}])[:2] == [3, "hb"]


def test_transaction_messages_are_never_refused_for_their_content(booted, live_server, add_tag, rt):
    add_tag("T1")
    with _raw(live_server) as ws:
        start = _exchange(
            ws,
            [
                2,
                "s1",
                "StartTransaction",
                {"connectorId": 1, "idTag": "T1", "meterStart": 0, "timestamp": "2026-01-01 10:00:00", "vendorX": 1},
            ],
        )
        assert start[0] == 3 and start[2]["transactionId"] > 0
        tx = start[2]["transactionId"]
        mv = _exchange(
            ws,
            [
                2,
                "m1",
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [
                        {
                            "timestamp": "2026-01-01T10:05:00Z",
                            "sampledValue": [{"value": "12", "unit": "Fahrenheit", "measurand": "Temperature"}],
                        }
                    ],
                },
            ],
        )
        assert mv == [3, "m1", {}]
        stop = _exchange(
            ws,
            [
                2,
                "x1",
                "StopTransaction",
                {"transactionId": tx, "meterStop": "300", "timestamp": "2026-01-01T11:00:00Z"},
            ],
        )
        assert stop[0] == 3
    with rt.db.uow() as uow:
        t = uow.session.get(Transaction, tx)
        assert t.meter_stop == 300
        assert uow.session.scalar(select(MeterValue.unit)) == "Fahrenheit"


# ------------------------------------------------------------------------------------------------ connections
def test_a_new_connection_takes_over(booted, connect, rt):
    newer = connect("CP1")
    assert newer.call(call.Heartbeat()).current_time
    deadline = time.monotonic() + 5
    while booted.ws.state.name != "CLOSED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert booted.ws.state.name == "CLOSED"
    assert rt.connections.get("CP1") is not None and len(rt.connections) == 1
    assert _cp(rt).connected


@pytest.fixture
def fast_ping(app_config):
    app_config["ws_ping_interval"] = 0.5
    return app_config


def test_silent_charger_goes_offline_within_two_ping_intervals(fast_ping, live_server, add_charger, rt):
    add_charger("MUTE")
    s = socket.create_connection(("127.0.0.1", live_server.port))
    s.sendall(
        b"GET /ocpp/MUTE HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    )
    assert b"101" in s.recv(4096).split(b"\r\n", 1)[0]
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not _cp(rt, "MUTE").connected:
            time.sleep(0.05)
        assert _cp(rt, "MUTE").connected
        t0 = time.monotonic()
        while _cp(rt, "MUTE").connected and time.monotonic() - t0 < 5:
            time.sleep(0.1)  # we never answer the pings
        assert not _cp(rt, "MUTE").connected
        assert time.monotonic() - t0 <= 1.6  # about two intervals of 0.5 s
    finally:
        s.close()


def test_messages_are_logged_and_the_log_is_bounded(booted, rt):
    from cms import message_log

    for _ in range(5):
        booted.call(call.Heartbeat())
    cp = _cp(rt)
    with rt.db.uow() as uow:
        rows = uow.session.scalars(select(MessageLogEntry).where(MessageLogEntry.charge_point_id == cp.id)).all()
        assert {(r.direction, r.action) for r in rows} >= {
            ("in", "Heartbeat"),
            ("out", "Heartbeat"),
            ("in", "BootNotification"),
        }
        assert any('"Heartbeat"' in r.payload for r in rows if r.direction == "in")  # the raw frame
        message_log.prune(uow.session, cp.id, 4)
        uow.commit()
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(MessageLogEntry)) == 4
