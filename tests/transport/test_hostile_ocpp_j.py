"""Hostile input over OCPP-J (issue 17): whatever a charger sends, it hears the OCPP error code for its own
mistake (never InternalError), the log gets one WARNING line and no stack trace, and what can be kept is.

Property-based (hypothesis, generators in tests.support.fuzz) over every charger-initiated action, in-process
through the transport's own ``handle_frame``; a smaller set over a real WebSocket; then the cases of the issue,
and a real server failure, which alone is answered InternalError."""

from __future__ import annotations

import json
import logging
import random

import pytest
import websockets.sync.client as ws_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from cms.handlers import Charger
from cms.models import Connector, MessageLogEntry, MeterValue, Transaction, UnmatchedStop
from json_ws.connection import OcppConnection
from json_ws.endpoint import handle_frame
from tests.support.fuzz import (
    CHARGER_ACTIONS,
    HypothesisSource,
    RandomSource,
    frame,
    hostile_frame,
    hostile_payload,
    json_reply_kind,
    valid_payload,
)
from tests.support.scrape import parse, total

IDENTITY = "FUZZ1"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture
def booted(rt, add_charger, add_tag):
    """FUZZ1 registered and booted (through the service layer, as a first BootNotification does); tag T1."""
    add_charger(IDENTITY)
    add_tag("T1")
    rt.pipeline.handle(Charger(IDENTITY), "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    return rt


def send(rt, text: str | bytes) -> str | None:
    """One frame through the OCPP-J transport, as its receive loop hands it over."""
    return handle_frame(rt, OcppConnection(None, IDENTITY, "test"), Charger(IDENTITY), text)


def internal_errors(client) -> float:
    """InternalError answers counted in the metrics so far (both transports)."""
    return total(parse(client.get("/metrics").get_data(as_text=True)), "cms_charger_internal_errors_total")


def assert_quiet(records, reply_kind: str) -> None:
    """No stack trace and nothing at ERROR for a charger's input; a refusal is one WARNING line naming it."""
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records if r.exc_info]
    assert not [r for r in records if r.levelno >= logging.ERROR], [r.getMessage() for r in records]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    if reply_kind == "error":
        assert len(warnings) == 1 and IDENTITY in warnings[0].getMessage(), [r.getMessage() for r in warnings]


def test_hostile_payloads_are_the_chargers_error(booted, client, caplog):
    """Each example sends every charger-initiated action once, with hostile values, missing and unknown fields."""

    @FUZZ
    @given(st.data())
    def check(data):
        src = HypothesisSource(data.draw)
        for action in CHARGER_ACTIONS:
            payload = hostile_payload(src, action)
            before = len(caplog.records)
            kind, code = json_reply_kind(send(booted, frame("h-1", action, payload)))
            assert kind in ("result", "error") and code != "InternalError", (action, payload, code)
            assert_quiet(caplog.records[before:], kind)

    check()
    assert internal_errors(client) == 0


def test_valid_payloads_are_still_accepted(booted, caplog):
    @settings(FUZZ, max_examples=12)
    @given(st.data())
    def check(data):
        src = HypothesisSource(data.draw)
        for action in CHARGER_ACTIONS:
            payload = valid_payload(src, action)
            before = len(caplog.records)
            assert json_reply_kind(send(booted, frame("v-1", action, payload))) == ("result", None), (action, payload)
            assert_quiet(caplog.records[before:], "result")

    check()


def test_hostile_frames_are_the_chargers_error(booted, client, caplog):
    @settings(FUZZ, max_examples=60)
    @given(st.data())
    def check(data):
        text = hostile_frame(HypothesisSource(data.draw))
        before = len(caplog.records)
        kind, code = json_reply_kind(send(booted, text))
        assert code != "InternalError", text[:300]
        assert_quiet(caplog.records[before:], kind)

    check()
    assert internal_errors(client) == 0


def test_hostile_frames_over_a_real_connection(booted, live_server, caplog):
    """Fuzzed frames on a real WebSocket: each is answered (or ignored) without InternalError or a stack
    trace, and the connection stays up. A Heartbeat after each frame marks where its answers end."""
    src = RandomSource(random.Random(17))
    with ws_client.connect(f"{live_server.ws_url}/ocpp/{IDENTITY}", subprotocols=["ocpp1.6"], open_timeout=5) as ws:
        for n in range(40):
            ws.send(hostile_frame(src, unique_id=f"f-{n}"))
            ws.send(frame(f"hb-{n}", "Heartbeat", {}))
            while True:
                reply = json.loads(ws.recv(timeout=10))
                if reply[1] == f"hb-{n}":
                    assert reply[0] == 3
                    break
                assert reply[0] == 3 or (reply[0] == 4 and reply[2] != "InternalError"), reply
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# ------------------------------------------------------------------------------------------------ the cases
def _call(rt, action: str, payload: dict) -> list:
    return json.loads(send(rt, frame("u-1", action, payload)))


def _rows(rt, model):
    with rt.db.uow() as uow:
        return uow.session.scalars(select(model).order_by(model.id)).all()


NOW = "2026-01-01T10:00:00Z"


START_REFUSALS = [
    ("meterStart", 10**20, "PropertyConstraintViolation"),  # JSON reads it as 1e20: still out of range
    ("meterStart", 1 << 40, "PropertyConstraintViolation"),
    ("meterStart", "abc", "TypeConstraintViolation"),
    ("connectorId", 10**20, "PropertyConstraintViolation"),
    ("connectorId", 1 << 31, "PropertyConstraintViolation"),
    ("idTag", "T" * 21, "PropertyConstraintViolation"),
    ("idTag", "T\u00001", "PropertyConstraintViolation"),
]


def test_start_with_impossible_facts_is_refused_and_logged(booted, caplog):
    for field, value, code in START_REFUSALS:
        payload = {"connectorId": 1, "idTag": "T1", "meterStart": 0, "timestamp": NOW, field: value}
        reply = _call(booted, "StartTransaction", payload)
        assert reply[0] == 4 and reply[2] == code and field in reply[3], reply
        assert reply[4] == {"field": field}
    assert _rows(booted, Transaction) == []
    kept = [e.payload for e in _rows(booted, MessageLogEntry) if e.action == "StartTransaction"]
    assert len(kept) == len(START_REFUSALS)  # every attempt is in the charger's message log
    assert not [r for r in caplog.records if r.exc_info]


def test_start_with_unusable_details_opens_the_transaction(booted):
    reply = _call(
        booted,
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": "T1",
            "meterStart": 5,
            "timestamp": "9999-12-31T23:59:59-05:00",
            "reservationId": 1 << 40,
        },
    )
    assert reply[0] == 3 and reply[2]["idTagInfo"]["status"] == "Accepted"
    (tx,) = _rows(booted, Transaction)
    assert tx.reservation_id is None and tx.start_timestamp.year >= 2025  # our clock instead of theirs


@pytest.mark.parametrize("reported", [10**20, 1 << 40, -(1 << 63), "12x"])
def test_stop_for_a_transaction_that_cannot_exist_is_answered_and_kept(booted, caplog, reported):
    tx_id = _call(booted, "StartTransaction", {"connectorId": 1, "idTag": "T1", "meterStart": 10, "timestamp": NOW})[2][
        "transactionId"
    ]
    caplog.clear()
    reply = _call(
        booted,
        "StopTransaction",
        {
            "transactionId": reported,
            "meterStop": 510,
            "timestamp": NOW,
            "idTag": "T1",
            "transactionData": [{"timestamp": NOW, "sampledValue": [{"value": "510"}]}],
        },
    )
    assert reply[0] == 3 and reply[2]["idTagInfo"]["status"] == "Accepted"
    (stop,) = _rows(booted, UnmatchedStop)
    assert stop.reported_transaction_id == -1 and stop.matched_transaction_id == tx_id
    assert stop.payload["transactionId"] == reported  # as received, for review
    assert "cannot be one of ours" in stop.note
    (tx,) = _rows(booted, Transaction)
    assert tx.meter_stop == 510 and tx.stop_timestamp is not None
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_stop_with_an_impossible_meter_stop_closes_on_the_last_reading(booted):
    tx_id = _call(booted, "StartTransaction", {"connectorId": 1, "idTag": "T1", "meterStart": 10, "timestamp": NOW})[2][
        "transactionId"
    ]
    _call(
        booted,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "400"}]}],
        },
    )
    reply = _call(
        booted, "StopTransaction", {"transactionId": tx_id, "meterStop": 1 << 40, "timestamp": NOW, "reason": "x" * 40}
    )
    assert reply == [3, "u-1", {}]
    (tx,) = _rows(booted, Transaction)
    assert tx.stop_timestamp is not None and tx.meter_stop is None and tx.energy_wh == 390
    assert tx.stop_reason == "Local"  # an unstorable reason is a missing one


@pytest.mark.parametrize("reported", [10**20, 1 << 40])
def test_meter_values_for_a_transaction_that_cannot_exist_are_kept(booted, reported):
    reply = _call(
        booted,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": reported,
            "meterValue": [
                {"timestamp": NOW, "sampledValue": [{"value": "7", "measurand": "x" * 60, "unit": "a\u0000b"}]}
            ],
        },
    )
    assert reply == [3, "u-1", {}]
    (mv,) = _rows(booted, MeterValue)
    assert mv.transaction_id is None and mv.value == 7
    assert mv.measurand == "x" * 48 and mv.unit == "a\ufffdb"  # cut and cleaned to fit, never dropped


def test_readings_no_meter_gives_are_kept_as_text_only(booted):
    tx_id = _call(booted, "StartTransaction", {"connectorId": 1, "idTag": "T1", "meterStart": 10, "timestamp": NOW})[2][
        "transactionId"
    ]
    values = ["nan", "inf", "-1e400", "1e13"]
    # One sample per measurand: samples alike but for their value are one sample, stored once (issue 12)
    measurands = ["Energy.Active.Import.Register", "Power.Active.Import", "Voltage", "Current.Import"]
    _call(
        booted,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [
                {
                    "timestamp": NOW,
                    "sampledValue": [{"value": v, "measurand": m} for v, m in zip(values, measurands, strict=True)],
                }
            ],
        },
    )
    assert [(mv.raw_value, mv.value) for mv in _rows(booted, MeterValue)] == [(v, None) for v in values]
    assert _call(booted, "StopTransaction", {"transactionId": tx_id, "meterStop": 20, "timestamp": NOW})[0] == 3


OTHER_REFUSALS = [
    (
        "StatusNotification",
        {"connectorId": 10**20, "errorCode": "NoError", "status": "Available"},
        "PropertyConstraintViolation",
    ),
    (
        "StatusNotification",
        {"connectorId": 1.5, "errorCode": "NoError", "status": "Available"},
        "TypeConstraintViolation",
    ),
    (
        "StatusNotification",
        {"connectorId": 1 << 40, "errorCode": "NoError", "status": "Available"},
        "PropertyConstraintViolation",
    ),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "9999-12-31T23:59:59-05:00"},
        "PropertyConstraintViolation",
    ),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "a\u0000"},
        "PropertyConstraintViolation",
    ),
    ("Authorize", {"idTag": "\u0000"}, "PropertyConstraintViolation"),
    ("DataTransfer", {"vendorId": "v", "data": "x\u0000y"}, "PropertyConstraintViolation"),
    ("BootNotification", {"chargePointVendor": "\u0000", "chargePointModel": "M"}, "PropertyConstraintViolation"),
]


def test_other_messages_out_of_range_are_refused_with_the_right_code(booted, caplog):
    for action, payload, code in OTHER_REFUSALS:
        caplog.clear()
        reply = _call(booted, action, payload)
        assert reply[0] == 4 and reply[2] == code, reply
        (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert line.levelno == logging.WARNING and IDENTITY in line.getMessage() and code in line.getMessage()
        assert not line.exc_info
    assert _rows(booted, Connector) == []


def test_only_a_server_failure_is_internal_error(booted, client, caplog, monkeypatch):
    """A database outage is the server's failure: InternalError, with its stack trace in the log."""

    def outage(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(booted.pipeline.runner, "apply", outage)
    caplog.clear()
    reply = _call(booted, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
    assert reply[0] == 4 and reply[2] == "InternalError"
    assert [r for r in caplog.records if r.exc_info and "StatusNotification" in r.getMessage()]
    assert [r for r in caplog.records if r.name == "json_ws.endpoint" and r.levelno == logging.ERROR]
    assert internal_errors(client) == 1


def test_binary_frames_are_read_as_text_when_they_are(booted):
    assert json_reply_kind(send(booted, frame("b-1", "Heartbeat", {}).encode())) == ("result", None)
    assert json_reply_kind(send(booted, b"\xff\xfe[2]")) == ("error", "FormationViolation")
    with booted.db.uow() as uow:  # the log keeps the frame as text
        assert uow.session.scalar(select(MessageLogEntry.payload).where(MessageLogEntry.unique_id == "b-1")) == frame(
            "b-1", "Heartbeat", {}
        )
