"""The load management API: shapes, defaults, switching off, validation with JSON errors, visibility."""

from __future__ import annotations

import pytest


def test_set_read_and_switch_off(as_owner, station):
    r = as_owner.put(f"/stations/{station}/load-limit", {"maxCurrentA": 63})
    assert r.status_code == 200
    assert r.get_json() == {
        "enabled": True,
        "maxCurrentA": 63.0,
        "phases": 3,
        "minCurrentA": 6.0,
        "voltageV": 230.0,
        "externalLoadA": [],
    }
    r = as_owner.put(
        f"/stations/{station}/load-limit", {"maxCurrentA": 40, "phases": 1, "minCurrentA": 8, "voltageV": 240}
    )
    assert (r.get_json()["phases"], r.get_json()["minCurrentA"], r.get_json()["voltageV"]) == (1, 8.0, 240.0)
    load = as_owner.get(f"/stations/{station}/load").get_json()
    assert load == {
        "enabled": True,
        "maxCurrentA": 40.0,
        "phases": 1,
        "minCurrentA": 8.0,
        "voltageV": 240.0,
        "externalLoadA": [],
        "allocatedA": 0.0,
        "measuredA": 0.0,
        "allocations": [],
        "chargePoints": [],
    }
    assert as_owner.delete(f"/stations/{station}/load-limit").status_code == 204
    assert as_owner.delete(f"/stations/{station}/load-limit").status_code == 204  # off already: still 204
    off = as_owner.get(f"/stations/{station}/load").get_json()
    assert off["enabled"] is False and off["maxCurrentA"] == 40.0


def test_a_station_without_a_limit(as_owner, station, add_charger):
    add_charger("CP1", station="Depot")
    load = as_owner.get(f"/stations/{station}/load").get_json()
    assert (load["enabled"], load["maxCurrentA"], load["phases"], load["allocations"]) == (False, None, None, [])
    assert load["chargePoints"] == [{"chargePointId": "CP1", "managed": True, "maxCurrentA": None, "fallbackA": None}]
    r = as_owner.put(f"/stations/{station}/external-load", {"currentA": [1, 2, 3]})
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"maxCurrentA": -1},
        {"maxCurrentA": "32"},
        {"maxCurrentA": 32, "phases": 2},
        {"maxCurrentA": 32, "minCurrentA": 100},
        {"maxCurrentA": 32, "voltageV": 5},
        {"maxCurrentA": 32, "extra": 1},
        {"maxCurrentA": True},
    ],
)
def test_bad_limits_are_422_with_a_json_body(as_owner, station, body):
    r = as_owner.put(f"/stations/{station}/load-limit", body)
    assert r.status_code == 422
    assert r.get_json()["error"] == "invalid_input" and r.get_json()["message"]
    assert as_owner.get(f"/stations/{station}/load").get_json()["enabled"] is False  # nothing stored


def test_not_json_is_422(as_owner, station):
    r = as_owner.put(f"/stations/{station}/load-limit", data="maxCurrentA=32", headers={})
    assert r.status_code == 422 and r.get_json()["error"] == "invalid_input"


def test_bad_external_loads(as_owner, station):
    as_owner.put(f"/stations/{station}/load-limit", {"maxCurrentA": 32, "phases": 1})
    for body in ({"currentA": []}, {"currentA": [1, 2]}, {"currentA": [-1]}, {"currentA": "5"}):
        r = as_owner.put(f"/stations/{station}/external-load", body)
        assert r.status_code == 422 and r.get_json()["error"] == "invalid_input", body
    assert as_owner.put(f"/stations/{station}/external-load", {"currentA": [7.5]}).get_json()["externalLoadA"] == [7.5]


def test_another_owners_station_is_404_and_an_administrator_sees_it(as_owner, as_other, as_admin, station, client):
    as_owner.put(f"/stations/{station}/load-limit", {"maxCurrentA": 32})
    for r in (
        as_other.put(f"/stations/{station}/load-limit", {"maxCurrentA": 10}),
        as_other.delete(f"/stations/{station}/load-limit"),
        as_other.get(f"/stations/{station}/load"),
        as_other.put(f"/stations/{station}/external-load", {"currentA": [1]}),
        as_owner.get("/stations/999999/load"),
        as_owner.get("/stations/abc/load"),
    ):
        assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert as_owner.get(f"/stations/{station}/load").get_json()["maxCurrentA"] == 32.0  # unchanged
    assert as_admin.get(f"/stations/{station}/load").get_json()["maxCurrentA"] == 32.0
    assert client.get(f"/api/v1/stations/{station}/load").status_code == 401


def test_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert set(doc["paths"]["/stations/{stationId}/load-limit"]) >= {"put", "delete"}
    assert "get" in doc["paths"]["/stations/{stationId}/load"]
    assert "put" in doc["paths"]["/stations/{stationId}/external-load"]
    load = doc["components"]["schemas"]["StationLoad"]
    assert set(load["required"]) == {"enabled", "maxCurrentA", "phases", "allocatedA", "measuredA", "allocations"}
