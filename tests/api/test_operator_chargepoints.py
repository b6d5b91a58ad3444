"""Operator API, charge points: assign to a station, set or clear the Basic-auth password, the current limit,
connector type and power; checked against a real OCPP-J charger where it matters."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from websockets.exceptions import InvalidStatus

from cms.models import ChargePoint, Connector

PASSWORD = "sixteen-chars-ok"


def test_assign_password_limit_and_connectors(as_owner, add_charger, rt):
    add_charger("CP1", station=None)
    sid = as_owner.post("/stations", {"name": "Depot"}).get_json()["id"]
    r = as_owner.patch(
        "/charge-points/CP1",
        {
            "stationId": sid,
            "password": PASSWORD,
            "maxCurrentA": 16.37,
            "connectors": [
                {"connectorId": 1, "connectorType": "Type2", "maxPowerKw": 11},
                {"connectorId": 2, "connectorType": "CCS2", "maxPowerKw": 50.5},
            ],
        },
    )
    assert r.status_code == 200, r.get_json()
    cp = r.get_json()
    assert (cp["id"], cp["stationId"], cp["hasPassword"], cp["maxCurrentA"]) == ("CP1", sid, True, 16.3)
    assert [(c["connectorId"], c["connectorType"], c["maxPowerKw"]) for c in cp["connectors"]] == [
        (1, "Type2", 11.0),
        (2, "CCS2", 50.5),
    ]
    # GET shows the same; the station counts it.
    assert as_owner.get("/charge-points/CP1").get_json() == cp
    assert as_owner.get("/stations").get_json()["items"][0]["chargePointCount"] == 1
    with rt.db.uow() as uow:
        row = uow.session.scalar(select(ChargePoint).where(ChargePoint.identity == "CP1"))
        assert row.max_current_a == 16.3 and row.password_hash.startswith("$argon2")

    # Only what is given changes: one connector's power, the limit cleared, everything else kept.
    cp = as_owner.patch(
        "/charge-points/CP1", {"maxCurrentA": None, "connectors": [{"connectorId": 2, "maxPowerKw": None}]}
    ).get_json()
    assert (cp["stationId"], cp["hasPassword"], cp["maxCurrentA"]) == (sid, True, None)
    assert [(c["connectorId"], c["connectorType"], c["maxPowerKw"]) for c in cp["connectors"]] == [
        (1, "Type2", 11.0),
        (2, "CCS2", None),
    ]
    # Unassigned and without a password.
    cp = as_owner.patch("/charge-points/CP1", {"stationId": None, "password": None}).get_json()
    assert (cp["stationId"], cp["hasPassword"]) == (None, False)


def test_connector_settings_reach_the_drivers_search(as_owner, add_charger, connect, client):
    sid = as_owner.post("/stations", {"name": "Depot", "latitude": 52.5, "longitude": 13.4}).get_json()["id"]
    add_charger("CP1", station="Depot")
    charger = connect("CP1")
    charger.boot()
    charger.status(1, "Available")
    assert (
        as_owner.patch(
            "/charge-points/CP1", {"connectors": [{"connectorId": 1, "connectorType": "CCS2", "maxPowerKw": 150}]}
        ).status_code
        == 200
    )
    connectors = client.get(f"/api/v1/stations/{sid}").get_json()["connectors"]
    assert [(c["connectorId"], c["status"], c["connectorType"], c["maxPowerKw"]) for c in connectors] == [
        (1, "Available", "CCS2", 150.0)
    ]


def test_a_connector_set_before_the_charger_reports_it_takes_its_status_later(as_owner, add_charger, connect, rt):
    add_charger("CP1")
    assert (
        as_owner.patch("/charge-points/CP1", {"connectors": [{"connectorId": 1, "connectorType": "Type2"}]}).status_code
        == 200
    )
    charger = connect("CP1")
    charger.boot()
    charger.status(1, "Charging")
    with rt.db.uow() as uow:
        rows = uow.session.execute(select(Connector.connector_id, Connector.status, Connector.connector_type)).all()
    assert rows == [(1, "Charging", "Type2")]


def test_the_password_set_is_the_one_the_charger_must_use(as_owner, add_charger, connect):
    add_charger("CP1")
    assert as_owner.patch("/charge-points/CP1", {"password": PASSWORD}).status_code == 200
    with pytest.raises(InvalidStatus) as refused:
        connect("CP1")
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        connect("CP1", password="wrong-password-xyz")
    assert connect("CP1", password=PASSWORD).boot().status == "Accepted"
    # Cleared, it connects without one.
    assert as_owner.patch("/charge-points/CP1", {"password": None}).status_code == 200
    assert connect("CP1").boot().status == "Accepted"


def test_another_owners_charge_point_and_station(as_owner, as_other, as_admin, other_owner, add_charger):
    add_charger("MINE", station=None)
    add_charger("THEIRS", station=None, user=other_owner[0])
    theirs = as_other.post("/stations", {"name": "Their Depot"}).get_json()["id"]
    mine = as_owner.post("/stations", {"name": "Depot"}).get_json()["id"]
    r = as_owner.patch("/charge-points/THEIRS", {"maxCurrentA": 10})
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert as_owner.patch("/charge-points/NOBODY", {"maxCurrentA": 10}).status_code == 404
    # Another owner's station is reported like a missing one.
    for station in (theirs, 999999):
        r = as_owner.patch("/charge-points/MINE", {"stationId": station})
        assert r.status_code == 422 and r.get_json()["message"] == f"No such station {station}"
    # Administrators reach every charge point, but a charge point joins only its own owner's stations.
    assert as_admin.patch("/charge-points/THEIRS", {"maxCurrentA": 32}).get_json()["maxCurrentA"] == 32
    r = as_admin.patch("/charge-points/THEIRS", {"stationId": mine})
    assert r.status_code == 422 and "another owner" in r.get_json()["message"]
    assert as_admin.patch("/charge-points/THEIRS", {"stationId": theirs}).get_json()["stationId"] == theirs


@pytest.mark.parametrize(
    "body",
    [
        {"password": "short"},
        {"password": "x" * 41},
        {"maxCurrentA": -1},
        {"maxCurrentA": 1001},
        {"maxCurrentA": "16"},
        {"stationId": 0},
        {"stationId": "1"},
        {"connectors": [{"connectorType": "Type2"}]},
        {"connectors": [{"connectorId": 0, "connectorType": "Type2"}]},
        {"connectors": [{"connectorId": 1, "connectorType": "Steam"}]},
        {"connectors": [{"connectorId": 1, "maxPowerKw": 0}]},
        {"connectors": [{"connectorId": 1, "colour": "red"}]},
        {"connectors": [{"connectorId": 1, "maxPowerKw": 11}, {"connectorId": 1, "maxPowerKw": 22}]},
        {"registered": False},
        "not an object",
    ],
)
def test_bad_bodies_are_422_and_change_nothing(as_owner, add_charger, body):
    add_charger("CP1")
    before = as_owner.get("/charge-points/CP1").get_json()
    r = as_owner.patch("/charge-points/CP1", body)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"] == "invalid_input" and r.get_json()["message"]
    assert as_owner.get("/charge-points/CP1").get_json() == before


def test_tokens_and_roles(as_nobody, as_driver, add_charger):
    add_charger("CP1")
    assert as_nobody.patch("/charge-points/CP1", {"maxCurrentA": 10}).status_code == 401
    assert as_driver.patch("/charge-points/CP1", {"maxCurrentA": 10}).status_code == 403
