"""CMS-initiated commands through the operator API, to a real OCPP-J charger (the ocpp package's ChargePoint)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from ocpp.exceptions import NotSupportedError
from sqlalchemy import select

from cms.accounts import create_user, issue_token
from cms.models import ChargerConfigurationKey, ChargingProfileRecord, LocalListEntry, Reservation
from tests.support.commands import SAMPLE_COMMANDS


def _post(server, token, identity, action, payload, **kw):
    return requests.post(
        f"{server.url}/api/v1/charge-points/{identity}/commands/{action}",
        json=payload,
        headers={"Authorization": f"Bearer {token}"},
        timeout=kw.get("timeout", 20),
    )


@pytest.fixture
def booted(add_charger, connect):
    add_charger("CP1")
    cp = connect("CP1")
    cp.boot()
    return cp


ALL_COMMANDS = SAMPLE_COMMANDS


def test_every_command_reaches_the_charger_and_answers(booted, live_server, owner_token):
    for action, payload in ALL_COMMANDS.items():
        r = _post(live_server, owner_token, "CP1", action, payload)
        assert r.status_code == 200, (action, r.text)
        assert isinstance(r.json(), dict)
    sent = [a for a, _ in booted.cp.received]
    assert sorted(sent) == sorted(ALL_COMMANDS)


@pytest.mark.parametrize(
    "action,payload,answer",
    [
        ("Reset", {"type": "Hard"}, {"status": "Rejected"}),
        ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, {"status": "Scheduled"}),
        ("UnlockConnector", {"connectorId": 1}, {"status": "NotSupported"}),
        ("RemoteStartTransaction", {"idTag": "TAG1"}, {"status": "Rejected"}),
        ("TriggerMessage", {"requestedMessage": "MeterValues"}, {"status": "NotImplemented"}),
    ],
)
def test_rejections_come_back_as_the_chargers_answer(booted, live_server, owner_token, action, payload, answer):
    booted.cp.answers[action] = answer
    r = _post(live_server, owner_token, "CP1", action, payload)
    assert r.status_code == 200
    assert r.json() == answer


def test_configuration_cache_keeps_values_readonly_and_unknown_keys(booted, live_server, owner_token, rt):
    booted.cp.answers["GetConfiguration"] = {
        "configuration_key": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        ],
        "unknown_key": ["Bogus"],
    }
    assert _post(live_server, owner_token, "CP1", "GetConfiguration", {}).status_code == 200
    r = _post(live_server, owner_token, "CP1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"})
    assert r.json() == {"status": "Accepted"}
    booted.cp.answers["ChangeConfiguration"] = {"status": "Rejected"}
    _post(live_server, owner_token, "CP1", "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"})
    conf = requests.get(
        f"{live_server.url}/api/v1/charge-points/CP1/configuration", headers={"Authorization": f"Bearer {owner_token}"}
    ).json()
    by_key = {c["key"]: c for c in conf}
    assert by_key["HeartbeatInterval"]["value"] == "60"
    assert by_key["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "value": "2",
        "readonly": True,
        "unknown": False,
        "lastChangeStatus": "Rejected",
    }
    assert by_key["Bogus"]["unknown"] is True
    with rt.db.uow() as uow:
        assert (
            uow.session.scalar(
                select(ChargerConfigurationKey.value).where(ChargerConfigurationKey.key == "HeartbeatInterval")
            )
            == "60"
        )


def test_charging_profiles_are_stored_and_cleared(booted, live_server, owner_token, rt):
    payload = ALL_COMMANDS["SetChargingProfile"]
    assert _post(live_server, owner_token, "CP1", "SetChargingProfile", payload).json() == {"status": "Accepted"}
    with rt.db.uow() as uow:
        rows = uow.session.scalars(select(ChargingProfileRecord)).all()
        assert [(r.profile_id, r.purpose) for r in rows] == [(1, "TxDefaultProfile")]
    booted.cp.answers["SetChargingProfile"] = {"status": "Rejected"}
    rejected = {**payload, "csChargingProfiles": {**payload["csChargingProfiles"], "chargingProfileId": 2}}
    _post(live_server, owner_token, "CP1", "SetChargingProfile", rejected)
    with rt.db.uow() as uow:
        assert len(uow.session.scalars(select(ChargingProfileRecord)).all()) == 1
    _post(live_server, owner_token, "CP1", "ClearChargingProfile", {"id": 1})
    with rt.db.uow() as uow:
        assert uow.session.scalars(select(ChargingProfileRecord)).all() == []


def test_reservation_follows_the_answers_and_is_used_by_start(booted, live_server, owner_token, rt, add_tag):
    add_tag("TAG1")
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    payload = {"connectorId": 1, "expiryDate": expiry, "idTag": "TAG1", "reservationId": 42}
    assert _post(live_server, owner_token, "CP1", "ReserveNow", payload).json() == {"status": "Accepted"}
    with rt.db.uow() as uow:
        assert uow.session.get(Reservation, 42).status == "Accepted"
    res = booted.start(1, "TAG1", meter_start=100, reservation_id=42)
    with rt.db.uow() as uow:
        r = uow.session.get(Reservation, 42)
        assert (r.status, r.transaction_id) == ("Used", res.transaction_id)
    booted.cp.answers["ReserveNow"] = {"status": "Occupied"}
    _post(live_server, owner_token, "CP1", "ReserveNow", {**payload, "reservationId": 43})
    _post(live_server, owner_token, "CP1", "ReserveNow", {**payload, "reservationId": 44, "connectorId": 2})
    booted.cp.answers["ReserveNow"] = {"status": "Accepted"}
    _post(live_server, owner_token, "CP1", "CancelReservation", {"reservationId": 44})
    with rt.db.uow() as uow:
        assert uow.session.get(Reservation, 43).status == "Occupied"
        assert uow.session.get(Reservation, 44).status == "Cancelled"


def test_local_list_full_then_differential(booted, live_server, owner_token, owner, rt, add_tag):
    add_tag("A1", owner=owner)
    add_tag("B1", owner=owner, blocked=True)
    h = {"Authorization": f"Bearer {owner_token}"}
    r = requests.post(f"{live_server.url}/api/v1/charge-points/CP1/local-list", json={"updateType": "Full"}, headers=h)
    assert r.status_code == 200, r.text
    sent = r.json()["request"]
    assert sent["listVersion"] == 1 and sent["updateType"] == "Full"
    assert {e["idTag"]: e["idTagInfo"]["status"] for e in sent["localAuthorizationList"]} == {
        "A1": "Accepted",
        "B1": "Blocked",
    }
    add_tag("C1", owner=owner)
    r = requests.post(f"{live_server.url}/api/v1/charge-points/CP1/local-list", json={}, headers=h)
    sent = r.json()["request"]
    assert sent["listVersion"] == 2 and sent["updateType"] == "Differential"
    assert [e["idTag"] for e in sent["localAuthorizationList"]] == ["C1"]
    with rt.db.uow() as uow:
        assert {e.id_tag for e in uow.session.scalars(select(LocalListEntry))} == {"A1", "B1", "C1"}
    booted.cp.answers["GetLocalListVersion"] = {"list_version": 2}
    assert _post(live_server, owner_token, "CP1", "GetLocalListVersion", {}).json() == {"listVersion": 2}


def test_failure_modes_have_their_status_codes(booted, live_server, owner_token, add_charger, rt):
    # 404: unknown charger, unknown command
    assert _post(live_server, owner_token, "NOPE", "Reset", {"type": "Soft"}).status_code == 404
    assert _post(live_server, owner_token, "CP1", "Explode", {}).status_code == 404
    # 422: invalid payload, validated before anything is sent
    r = _post(live_server, owner_token, "CP1", "Reset", {"type": "Sideways"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    assert _post(live_server, owner_token, "CP1", "Reset", {}).status_code == 422
    assert all(a != "Reset" for a, _ in booted.cp.received)
    # 409: registered but not connected
    add_charger("CP2")
    r = _post(live_server, owner_token, "CP2", "Reset", {"type": "Soft"})
    assert r.status_code == 409 and r.json()["error"] == "charger_not_connected"
    # 502: the charger answers with a CALLERROR
    booted.cp.answers["Reset"] = NotSupportedError(description="no resets here")
    r = _post(live_server, owner_token, "CP1", "Reset", {"type": "Soft"})
    assert r.status_code == 502
    assert r.json()["details"]["code"] in ("NotSupported", "NotImplemented")
    # 504: no answer in time (call_timeout is 5 s in tests)
    booted.cp.answers.pop("Reset")
    booted.cp.delay["Reset"] = 8
    t0 = time.monotonic()
    r = _post(live_server, owner_token, "CP1", "Reset", {"type": "Soft"})
    assert r.status_code == 504 and time.monotonic() - t0 < 8
    # 401: no or bad token
    assert (
        requests.post(f"{live_server.url}/api/v1/charge-points/CP1/commands/Reset", json={"type": "Soft"}).status_code
        == 401
    )


def test_owner_cannot_command_another_owners_charger(booted, live_server, rt):
    with rt.db.uow() as uow:
        other = create_user(uow.session, "other@example.com", "other-password", verified=True)
        token = issue_token(uow.session, other)
        uow.commit()
    r = _post(live_server, token, "CP1", "Reset", {"type": "Soft"})
    assert r.status_code == 404
    assert booted.cp.received == []


def test_concurrent_commands_to_one_charger_are_queued(booted, live_server, owner_token):
    booted.cp.delay["ClearCache"] = 0.3
    results = []

    def send():
        results.append(_post(live_server, owner_token, "CP1", "ClearCache", {}).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4
    # One outstanding CALL at a time: four 0.3 s answers take at least 1.2 s in all.
    assert time.monotonic() - t0 >= 1.1
    assert [a for a, _ in booted.cp.received] == ["ClearCache"] * 4


def test_charger_keeps_calling_while_a_command_waits(booted, live_server, owner_token):
    from ocpp.v16 import call

    booted.cp.delay["Reset"] = 1.0
    out = {}
    t = threading.Thread(
        target=lambda: out.setdefault("r", _post(live_server, owner_token, "CP1", "Reset", {"type": "Soft"}))
    )
    t.start()
    time.sleep(0.2)
    assert booted.call(call.Heartbeat()).current_time  # answered while the CMS waits for Reset
    t.join()
    assert out["r"].status_code == 200


def test_reconnect_fails_calls_in_flight_and_uses_new_connection(booted, live_server, owner_token, connect):
    booted.cp.delay["Reset"] = 3
    out = {}
    t = threading.Thread(
        target=lambda: out.setdefault("r", _post(live_server, owner_token, "CP1", "Reset", {"type": "Soft"}))
    )
    t.start()
    time.sleep(0.5)
    fresh = connect("CP1")
    t.join()
    assert out["r"].status_code == 409
    r = _post(live_server, owner_token, "CP1", "ClearCache", {})
    assert r.status_code == 200
    assert ("ClearCache", {}) in fresh.cp.received
