"""Charging and reservations through the driver API, against a real OCPP-J charger (the ocpp package's
ChargePoint) that answers RemoteStart/Stop, ReserveNow and CancelReservation and then reports like a charger."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cms.driver_sessions import expire_reservations
from cms.models import utcnow

ENERGY = "Energy.Active.Import.Register"
BANDS = [
    {"start": "06:00", "end": "22:00", "pricePerKwh": 0.40, "label": "day"},
    {"start": "22:00", "end": "06:00", "pricePerKwh": 0.25, "label": "night"},
]


@pytest.fixture
def charger(station, set_tariff, add_charger, connect):
    """CP1 at station Depot (Europe/Berlin, day/night tariff), booted, connectors 1 and 2 Available."""
    sid = station("Depot")
    set_tariff(sid, BANDS)
    add_charger("CP1", station="Depot")
    cp = connect("CP1")
    cp.boot()
    cp.status(1, "Available")
    cp.status(2, "Available")
    return cp


def _last(cp, action):
    sent = [kw for a, kw in cp.cp.received if a == action]
    assert sent, f"the charger got no {action}"
    return sent[-1]


def test_full_session_live_view_stop_and_billing(client, charger, driver, fund):
    fund(driver, 20)
    r = client.post("/api/v1/sessions", json={"chargePointId": "CP1", "connectorId": 1}, headers=driver.headers)
    assert r.status_code == 202, r.get_json()
    assert _last(charger, "RemoteStartTransaction") == {"id_tag": driver.id_tag, "connector_id": 1}
    # The charger starts the session itself (21:00 in Berlin, summer time), then reports the meter.
    tx = charger.start(1, driver.id_tag, meter_start=1000, timestamp="2024-06-01T19:00:00Z").transaction_id
    charger.meter(
        1,
        tx,
        [
            {"value": "6000", "measurand": ENERGY, "unit": "Wh"},
            {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
        ],
        timestamp="2024-06-01T19:30:00Z",
    )
    live = client.get(f"/api/v1/sessions/{tx}", headers=driver.headers).get_json()
    assert live["status"] == "active" and live["energyKwh"] == 5.0 and live["powerKw"] == 7.4
    assert live["cost"] == 2.00 and live["stationName"] == "Depot"  # 5 kWh of day energy at 0.40
    assert (
        client.get("/api/v1/sessions", query_string={"status": "active"}, headers=driver.headers).get_json()[0]["id"]
        == tx
    )
    # A second start while charging is refused.
    r = client.post("/api/v1/sessions", json={"chargePointId": "CP1", "connectorId": 2}, headers=driver.headers)
    assert r.status_code == 409
    r = client.post(f"/api/v1/sessions/{tx}/stop", headers=driver.headers)
    assert r.status_code == 202 and _last(charger, "RemoteStopTransaction") == {"transaction_id": tx}
    charger.stop(tx, 11000, timestamp="2024-06-01T20:30:00Z", reason="Remote")
    done = client.get(f"/api/v1/sessions/{tx}", headers=driver.headers).get_json()
    # 21:00-22:00 day: 5 kWh + half of 5 kWh = 7.5 kWh x 0.40 = 3.00; 22:00-22:30 night: 2.5 kWh x 0.25 = 0.625.
    assert done["status"] == "finished" and done["energyKwh"] == 10.0 and done["durationSeconds"] == 5400
    assert [(b["label"], b["energyKwh"], b["cost"]) for b in done["breakdown"]] == [
        ("day", 7.5, 3.0),
        ("night", 2.5, 0.63),
    ]
    assert done["cost"] == 3.63 and done["stopReason"] == "Remote"
    wallet = client.get("/api/v1/wallet", headers=driver.headers).get_json()
    assert wallet["balance"] == 16.37
    ledger = client.get("/api/v1/wallet/ledger", headers=driver.headers).get_json()
    assert [(e["kind"], e["amount"], e["balanceAfter"], e["sessionId"]) for e in ledger] == [
        ("session", -3.63, 16.37, tx),
        ("topup", 20.0, 20.0, None),
    ]
    history = client.get("/api/v1/sessions", headers=driver.headers).get_json()
    assert [(h["id"], h["energyKwh"], h["cost"]) for h in history] == [(tx, 10.0, 3.63)]
    # A repeated StopTransaction (charger retry) debits nothing more.
    charger.stop(tx, 11000, timestamp="2024-06-01T20:30:00Z", reason="Remote")
    assert client.get("/api/v1/wallet", headers=driver.headers).get_json()["balance"] == 16.37
    assert client.post(f"/api/v1/sessions/{tx}/stop", headers=driver.headers).status_code == 409


def test_start_refusals(client, charger, driver, sign_up, fund, rt):
    # Below the minimum balance: refused before the charger is asked.
    r = client.post("/api/v1/sessions", json={"chargePointId": "CP1", "connectorId": 1}, headers=driver.headers)
    assert r.status_code == 402 and r.get_json()["error"] == "insufficient_balance"
    assert not [a for a, _ in charger.cp.received if a == "RemoteStartTransaction"]
    fund(driver, rt.settings.min_balance_to_charge)
    for payload, status in (
        ({"chargePointId": "NOPE", "connectorId": 1}, 404),
        ({"chargePointId": "CP1", "connectorId": 9}, 404),
        ({"chargePointId": "CP1", "connectorId": 0}, 422),
        ({"chargePointId": "CP1"}, 422),
    ):
        assert client.post("/api/v1/sessions", json=payload, headers=driver.headers).status_code == status
    charger.cp.answers["RemoteStartTransaction"] = {"status": "Rejected"}
    r = client.post("/api/v1/sessions", json={"chargePointId": "CP1", "connectorId": 1}, headers=driver.headers)
    assert r.status_code == 409 and r.get_json()["details"] == {"status": "Rejected"}
    charger.close()
    r = client.post("/api/v1/sessions", json={"chargePointId": "CP1", "connectorId": 1}, headers=driver.headers)
    assert r.status_code == 409 and r.get_json()["error"] == "charger_not_connected"


def test_drivers_see_only_their_own_sessions(client, charger, sign_up, fund):
    a, b = sign_up("a@example.com"), sign_up("b@example.com")
    fund(a, 10)
    assert (
        client.post("/api/v1/sessions", json={"chargePointId": "CP1", "connectorId": 1}, headers=a.headers).status_code
        == 202
    )
    tx = charger.start(1, a.id_tag, meter_start=0).transaction_id
    assert client.get(f"/api/v1/sessions/{tx}", headers=b.headers).status_code == 404
    assert client.post(f"/api/v1/sessions/{tx}/stop", headers=b.headers).status_code == 404
    assert client.get("/api/v1/sessions", headers=b.headers).get_json() == []
    assert not [a for a, _ in charger.cp.received if a == "RemoteStopTransaction"]


def test_reserve_cancel_and_refusals(client, charger, sign_up, fund):
    a, b = sign_up("a@example.com"), sign_up("b@example.com")
    r = client.post(
        "/api/v1/reservations",
        json={"chargePointId": "CP1", "connectorId": 1, "durationMinutes": 15},
        headers=a.headers,
    )
    assert r.status_code == 201, r.get_json()
    res = r.get_json()
    sent = _last(charger, "ReserveNow")
    assert res["status"] == "Accepted" and sent["reservation_id"] == res["id"] and sent["id_tag"] == a.id_tag
    assert sent["connector_id"] == 1
    # One active reservation per driver; the connector shows reserved, and others cannot start there.
    assert (
        client.post(
            "/api/v1/reservations", json={"chargePointId": "CP1", "connectorId": 2}, headers=a.headers
        ).status_code
        == 409
    )
    detail = client.get("/api/v1/stations/search", query_string={"q": "Depot"}).get_json()[0]
    assert [c["availability"] for c in detail["connectors"]] == ["reserved", "operative"]
    fund(b, 10)
    r = client.post("/api/v1/sessions", json={"chargePointId": "CP1", "connectorId": 1}, headers=b.headers)
    assert r.status_code == 409 and "reserved" in r.get_json()["message"]
    # Others can neither see nor cancel it.
    assert client.get(f"/api/v1/reservations/{res['id']}", headers=b.headers).status_code == 404
    assert client.delete(f"/api/v1/reservations/{res['id']}", headers=b.headers).status_code == 404
    r = client.delete(f"/api/v1/reservations/{res['id']}", headers=a.headers)
    assert r.status_code == 200 and r.get_json()["status"] == "Cancelled"
    assert _last(charger, "CancelReservation") == {"reservation_id": res["id"]}
    assert client.delete(f"/api/v1/reservations/{res['id']}", headers=a.headers).status_code == 409
    # The charger's refusal is reported with its answer, and kept.
    charger.cp.answers["ReserveNow"] = {"status": "Occupied"}
    r = client.post("/api/v1/reservations", json={"chargePointId": "CP1", "connectorId": 2}, headers=a.headers)
    assert r.status_code == 409 and r.get_json()["details"] == {"status": "Occupied"}
    assert client.get("/api/v1/reservations", headers=a.headers).get_json()[0]["status"] == "Occupied"
    r = client.post(
        "/api/v1/reservations",
        json={"chargePointId": "CP1", "connectorId": 1, "durationMinutes": 9999},
        headers=a.headers,
    )
    assert r.status_code == 422


def test_cancel_refused_by_charger(client, charger, driver):
    rid = client.post(
        "/api/v1/reservations", json={"chargePointId": "CP1", "connectorId": 1}, headers=driver.headers
    ).get_json()["id"]
    charger.cp.answers["CancelReservation"] = {"status": "Rejected"}
    r = client.delete(f"/api/v1/reservations/{rid}", headers=driver.headers)
    assert r.status_code == 409 and r.get_json()["details"] == {"status": "Rejected"}
    assert client.get(f"/api/v1/reservations/{rid}", headers=driver.headers).get_json()["status"] == "Accepted"


def test_reservation_is_used_by_the_drivers_start(client, charger, driver, fund):
    fund(driver, 10)
    rid = client.post(
        "/api/v1/reservations", json={"chargePointId": "CP1", "connectorId": 1}, headers=driver.headers
    ).get_json()["id"]
    assert (
        client.post(
            "/api/v1/sessions", json={"chargePointId": "CP1", "connectorId": 1}, headers=driver.headers
        ).status_code
        == 202
    )
    tx = charger.start(1, driver.id_tag, meter_start=0, reservation_id=rid).transaction_id
    res = client.get(f"/api/v1/reservations/{rid}", headers=driver.headers).get_json()
    assert res["status"] == "Used" and res["sessionId"] == tx


def test_reservations_expire(client, charger, driver, rt):
    rid = client.post(
        "/api/v1/reservations",
        json={"chargePointId": "CP1", "connectorId": 1, "durationMinutes": 1},
        headers=driver.headers,
    ).get_json()["id"]
    with rt.db.uow() as uow:
        assert expire_reservations(uow.session, utcnow() + timedelta(minutes=2)) == 1
        uow.commit()
    assert client.get(f"/api/v1/reservations/{rid}", headers=driver.headers).get_json()["status"] == "Expired"
    # Expired, the driver may reserve again.
    assert (
        client.post(
            "/api/v1/reservations", json={"chargePointId": "CP1", "connectorId": 1}, headers=driver.headers
        ).status_code
        == 201
    )
