"""Operator API, stations: list, create, change, delete; owners see their own, administrators all."""

from __future__ import annotations

import pytest

from tests.support.operator import Api

DEPOT = {"name": "Depot", "address": "1 Yard Road", "latitude": 52.52, "longitude": 13.405, "timezone": "Europe/Berlin"}


def test_create_list_change_and_delete(as_owner, client):
    r = as_owner.post("/stations", DEPOT)
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    sid = created["id"]
    assert created == {"id": sid, **DEPOT, "chargePointCount": 0}
    # Only the name is required; the time zone defaults to UTC.
    bare = as_owner.post("/stations", {"name": "Bare"}).get_json()
    assert (bare["latitude"], bare["longitude"], bare["timezone"], bare["address"]) == (None, None, "UTC", "")

    listed = as_owner.get("/stations").get_json()
    assert [s["name"] for s in listed["items"]] == ["Depot", "Bare"] and listed["nextCursor"] is None

    r = as_owner.patch(f"/stations/{sid}", {"name": "Depot North", "timezone": "Europe/Paris"})
    assert r.status_code == 200
    assert r.get_json() == {**created, "name": "Depot North", "timezone": "Europe/Paris"}
    # Coordinates are cleared together; the public detail shows what the operator stored.
    assert as_owner.patch(f"/stations/{sid}", {"latitude": None, "longitude": None}).get_json()["latitude"] is None
    public = client.get(f"/api/v1/stations/{sid}").get_json()
    assert (public["name"], public["timezone"], public["latitude"]) == ("Depot North", "Europe/Paris", None)

    assert as_owner.delete(f"/stations/{sid}").status_code == 204
    assert client.get(f"/api/v1/stations/{sid}").status_code == 404
    assert as_owner.delete(f"/stations/{sid}").status_code == 404
    assert [s["name"] for s in as_owner.get("/stations").get_json()["items"]] == ["Bare"]


def test_a_station_with_charge_points_is_not_deleted(as_owner, add_charger, client):
    sid = as_owner.post("/stations", DEPOT).get_json()["id"]
    add_charger("CP1", station="Depot")
    add_charger("CP2", station="Depot")
    assert as_owner.get("/stations").get_json()["items"][0]["chargePointCount"] == 2
    r = as_owner.delete(f"/stations/{sid}")
    assert r.status_code == 409
    body = r.get_json()
    assert body["error"] == "station_in_use" and body["details"] == {"chargePointIds": ["CP1", "CP2"]}
    assert "CP1, CP2" in body["message"]
    assert client.get(f"/api/v1/stations/{sid}").status_code == 200  # nothing lost
    # Moved away (to no station), the station can go.
    for cp in ("CP1", "CP2"):
        assert as_owner.patch(f"/charge-points/{cp}", {"stationId": None}).status_code == 200
    assert as_owner.delete(f"/stations/{sid}").status_code == 204


def test_another_owners_station_is_404_and_administrators_see_all(as_owner, as_other, as_admin):
    mine = as_owner.post("/stations", DEPOT).get_json()["id"]
    theirs = as_other.post("/stations", {**DEPOT, "name": "Their Depot"}).get_json()["id"]
    # The same name is fine for another owner; twice for one owner is a conflict.
    assert as_other.post("/stations", DEPOT).status_code == 201
    assert as_owner.post("/stations", DEPOT).status_code == 409

    assert [s["id"] for s in as_owner.get("/stations").get_json()["items"]] == [mine]
    for call in (
        lambda: as_owner.patch(f"/stations/{theirs}", {"name": "Mine now"}),
        lambda: as_owner.delete(f"/stations/{theirs}"),
    ):
        r = call()
        assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert as_other.get("/stations").get_json()["items"][0]["name"] == "Their Depot"

    everything = as_admin.get("/stations").get_json()["items"]
    assert len(everything) == 3
    assert as_admin.patch(f"/stations/{theirs}", {"address": "Fixed by the operator"}).status_code == 200
    assert as_other.get("/stations").get_json()["items"][0]["address"] == "Fixed by the operator"
    # Renaming onto another station of the same owner is a conflict, for administrators too.
    assert as_admin.patch(f"/stations/{theirs}", {"name": "Depot"}).status_code == 409


def test_station_list_pages_with_a_cursor(as_owner):
    for n in range(7):
        assert as_owner.post("/stations", {"name": f"S{n}"}).status_code == 201
    seen, cursor, pages = [], None, 0
    while True:
        r = as_owner.get("/stations", query_string={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        page = r.get_json()
        seen += [s["name"] for s in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"S{n}" for n in range(7)] and pages == 3


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "X" * 121}, "name"),
        ({"name": "X", "timezone": "Mars/Olympus"}, "time zone"),
        ({"name": "X", "latitude": 52.5}, "both latitude and longitude"),
        ({"name": "X", "latitude": 91, "longitude": 0}, "latitude"),
        ({"name": "X", "longitude": "13"}, "longitude"),
        ({"name": "X", "colour": "red"}, "colour"),
        ([{"name": "X"}], "JSON object"),
    ],
)
def test_bad_station_bodies_are_422(as_owner, body, fragment):
    r = as_owner.post("/stations", body)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"] == "invalid_input" and fragment.lower() in r.get_json()["message"].lower()
    assert as_owner.get("/stations").get_json()["items"] == []


def test_bad_changes_are_422_and_change_nothing(as_owner):
    sid = as_owner.post("/stations", DEPOT).get_json()["id"]
    for body in ({"latitude": None}, {"timezone": "Nowhere/Land"}, {"name": None}, {"id": 5}):
        assert as_owner.patch(f"/stations/{sid}", body).status_code == 422, body
    assert as_owner.get("/stations").get_json()["items"][0] == {"id": sid, **DEPOT, "chargePointCount": 0}
    assert as_owner.patch("/stations/nonsense", {"name": "x"}).status_code == 404
    assert as_owner.get("/stations", query_string={"cursor": "garbage"}).status_code == 422
    assert as_owner.get("/stations", query_string={"limit": 0}).status_code == 422


def test_tokens_and_roles(as_nobody, as_driver, as_owner):
    sid = as_owner.post("/stations", DEPOT).get_json()["id"]
    for api, status in ((as_nobody, 401), (as_driver, 403)):
        assert api.get("/stations").status_code == status
        assert api.post("/stations", {"name": "X"}).status_code == status
        assert api.patch(f"/stations/{sid}", {"name": "X"}).status_code == status
        assert api.delete(f"/stations/{sid}").status_code == status
    assert Api(as_owner.client, "not-a-token").get("/stations").status_code == 401
