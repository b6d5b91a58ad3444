"""Finding chargers: nearby by distance, availability per connector, price now, text search, detail, FAQ."""

from __future__ import annotations

import pytest

from cms.accounts import create_user, issue_token

BERLIN = (52.5200, 13.4050)


def test_nearby_sorted_by_distance_within_radius(client, station):
    near = station("Near", 52.5210, 13.4060)  # ~130 m
    mid = station("Mid", 52.5400, 13.4050)  # ~2.2 km
    station("Far", 52.6200, 13.4050)  # ~11 km
    station("Nowhere", None, None)
    r = client.get("/api/v1/stations/nearby", query_string={"lat": BERLIN[0], "lon": BERLIN[1], "radiusKm": 5})
    assert r.status_code == 200
    found = r.get_json()
    assert [s["id"] for s in found] == [near, mid]
    assert found[0]["distanceKm"] == pytest.approx(0.13, abs=0.01) and found[1]["distanceKm"] == pytest.approx(
        2.22, abs=0.02
    )
    r = client.get(
        "/api/v1/stations/nearby", query_string={"lat": BERLIN[0], "lon": BERLIN[1], "radiusKm": 20, "limit": 1}
    )
    assert [s["name"] for s in r.get_json()] == ["Near"]


def test_nearby_across_the_antimeridian(client, station):
    east = station("East", -17.0, 179.99)
    west = station("West", -17.0, -179.99)
    found = client.get("/api/v1/stations/nearby", query_string={"lat": -17.0, "lon": 179.999, "radiusKm": 10})
    assert {s["id"] for s in found.get_json()} == {east, west}


@pytest.mark.parametrize(
    "query",
    [
        {"lat": 91, "lon": 0},
        {"lat": 0},
        {"lat": "x", "lon": 0},
        {"lat": 0, "lon": 0, "radiusKm": 0},
        {"lat": 0, "lon": 0, "radiusKm": 1000},
        {"lat": 0, "lon": 0, "limit": 0},
        {"lat": "nan", "lon": 0},
    ],
)
def test_nearby_refuses_bad_queries(client, query):
    r = client.get("/api/v1/stations/nearby", query_string=query)
    assert r.status_code == 422 and r.get_json()["error"] == "invalid_input"


def test_connectors_availability_and_price_now(client, station, set_tariff, add_charger, connect):
    sid = station("Depot", *BERLIN, timezone="Europe/Berlin")
    set_tariff(sid, [{"start": "00:00", "end": "24:00", "pricePerKwh": 0.39, "label": "flat"}])
    add_charger("CP1", station="Depot")
    add_charger("CP2", station="Depot")  # never connected: no connectors known yet
    cp = connect("CP1")
    cp.boot()
    cp.status(1, "Available")
    cp.status(2, "Charging")
    cp.status(3, "Faulted", error_code="GroundFailure")
    found = client.get("/api/v1/stations/nearby", query_string={"lat": BERLIN[0], "lon": BERLIN[1]}).get_json()
    depot = found[0]
    assert [(c["chargePointId"], c["connectorId"], c["availability"]) for c in depot["connectors"]] == [
        ("CP1", 1, "operative"),
        ("CP1", 2, "in_use"),
        ("CP1", 3, "inoperative"),
    ]
    assert depot["availableConnectors"] == 1
    assert depot["priceNow"] == {
        "pricePerKwh": 0.39,
        "currency": "EUR",
        "label": "flat",
        "from": "00:00",
        "until": "24:00",
    }
    cp.close()
    # Offline chargers are inoperative whatever they said last.
    import time

    for _ in range(50):
        detail = client.get(f"/api/v1/stations/{sid}").get_json()
        if all(c["availability"] == "inoperative" for c in detail["connectors"]):
            break
        time.sleep(0.1)
    assert [c["availability"] for c in detail["connectors"]] == ["inoperative"] * 3


def test_station_detail_and_unknown_station(client, station):
    sid = station("Depot", *BERLIN, address="Alexanderplatz 1")
    detail = client.get(f"/api/v1/stations/{sid}").get_json()
    assert detail["address"] == "Alexanderplatz 1" and detail["tariff"] == [] and detail["priceNow"] is None
    assert client.get("/api/v1/stations/999999").status_code == 404


def test_text_search(client, station, add_charger):
    station("Hauptbahnhof Garage", 52.525, 13.369, address="Europaplatz 1")
    station("Airport P4", 52.36, 13.51, address="Willy-Brandt-Platz")
    add_charger("BER-01", station="Airport P4")
    names = lambda q: [s["name"] for s in client.get("/api/v1/stations/search", query_string={"q": q}).get_json()]  # noqa: E731
    assert names("garage") == ["Hauptbahnhof Garage"]
    assert names("europaPLATZ") == ["Hauptbahnhof Garage"]
    assert names("ber-0") == ["Airport P4"]
    assert names("%") == []  # LIKE wildcards are literal
    assert client.get("/api/v1/stations/search").status_code == 422


def test_help_entries(client, rt):
    with rt.db.uow() as uow:
        admin = create_user(uow.session, "admin@example.com", "admin-password", role="admin", verified=True)
        token = issue_token(uow.session, admin)
        uow.commit()
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post(
        "/api/v1/help",
        json={"question": "How do I pay?", "answer": "Top up your wallet.", "category": "payment"},
        headers=headers,
    )
    assert r.status_code == 201
    hid = r.get_json()["id"]
    client.post("/api/v1/help", json={"question": "How do I start?", "answer": "Scan the QR code."}, headers=headers)
    assert [h["question"] for h in client.get("/api/v1/help").get_json()] == ["How do I start?", "How do I pay?"]
    assert [h["id"] for h in client.get("/api/v1/help", query_string={"q": "wallet"}).get_json()] == [hid]
    assert [h["id"] for h in client.get("/api/v1/help", query_string={"category": "payment"}).get_json()] == [hid]
    assert client.get(f"/api/v1/help/{hid}").get_json()["answer"] == "Top up your wallet."
    assert client.get("/api/v1/help/424242").status_code == 404
    assert client.post("/api/v1/help", json={"question": "", "answer": "x"}, headers=headers).status_code == 422


def test_only_administrators_publish_help(client, driver, owner_token):
    for headers in (driver.headers, {"Authorization": f"Bearer {owner_token}"}):
        assert client.post("/api/v1/help", json={"question": "q", "answer": "a"}, headers=headers).status_code == 403
