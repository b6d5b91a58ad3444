"""What the driver app needed from the API: the forgotten-password flow, mailed links that open app screens, and
a typed place turned into coordinates without an outside service."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pytest

from cms.mail import outbox


def _mailed_link(rt, email: str, subject_word: str) -> str:
    with rt.db.uow() as uow:
        mails = [m for m in outbox(uow.session, email) if subject_word in m["subject"]]
    assert mails, f"no {subject_word!r} mail to {email}"
    return re.search(r"(http://\S+)", mails[0]["body"]).group(1)


def _token(link: str) -> str:
    return unquote(re.search(r"token=([^\s&]+)", link).group(1))


def test_verification_link_opens_the_app_screen(client, rt):
    r = client.post("/api/v1/auth/register", json={"email": "vera@example.com", "password": "vera-password"})
    assert r.status_code == 201
    link = _mailed_link(rt, "vera@example.com", "Confirm")
    assert urlsplit(link).path == "/app/verify"
    page = client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert page.status_code == 200 and page.mimetype == "text/html"  # the app's shell, not raw JSON
    r = client.post("/api/v1/auth/verify", json={"token": _token(link)})
    assert r.status_code == 200 and r.get_json()["emailVerified"] is True


def test_forgotten_password(client, rt, driver):
    r = client.post("/api/v1/auth/password-reset", json={"email": driver.email.upper()})
    assert r.status_code == 202
    link = _mailed_link(rt, driver.email, "Reset")
    assert urlsplit(link).path == "/app/reset"
    token = _token(link)
    r = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "newPassword": "brand-new-pass"})
    assert r.status_code == 200 and r.get_json()["email"] == driver.email
    # Every device is logged out; the old password no longer works, the new one does.
    assert client.get("/api/v1/me", headers=driver.headers).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": driver.refresh}).status_code == 401
    assert (
        client.post("/api/v1/auth/login", json={"email": driver.email, "password": driver.password}).status_code == 401
    )
    assert (
        client.post("/api/v1/auth/login", json={"email": driver.email, "password": "brand-new-pass"}).status_code == 200
    )
    # The link works once.
    r = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "newPassword": "another-pass"})
    assert r.status_code == 422 and "used already" in r.get_json()["message"]


def test_password_reset_refusals(client, rt, driver, owner):
    # Unknown addresses and owners get the same answer and no mail (no probing; owners reset on the dashboard).
    for email in ("nobody@example.com", "owner@example.com"):
        r = client.post("/api/v1/auth/password-reset", json={"email": email})
        assert r.status_code == 202
        with rt.db.uow() as uow:
            assert outbox(uow.session, email) == []
    assert client.post("/api/v1/auth/password-reset", json={}).status_code == 422
    r = client.post("/api/v1/auth/password-reset/confirm", json={"token": "forged", "newPassword": "long-enough"})
    assert r.status_code == 422 and r.get_json()["error"] == "invalid_input"
    client.post("/api/v1/auth/password-reset", json={"email": driver.email})
    token = _token(_mailed_link(rt, driver.email, "Reset"))
    r = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "newPassword": "short"})
    assert r.status_code == 422
    # An owner's reset token (from the dashboard) does not reset through the driver API.
    with rt.db.uow() as uow:
        rt.credentials.request_password_reset(uow.session, "owner@example.com", lambda t: f"http://x/?token={t}")
        uow.commit()
    owner_token = _token(_mailed_link(rt, "owner@example.com", "Reset"))
    r = client.post("/api/v1/auth/password-reset/confirm", json={"token": owner_token, "newPassword": "long-enough"})
    assert r.status_code == 422


@pytest.fixture
def stations(station):
    station("Canal Garage", 52.3791, 4.8846, "Europe/Amsterdam", "Prinsengracht 1, 1015 Amsterdam")
    station("Zuid Hub", 52.3383, 4.8722, "Europe/Amsterdam", "Zuidplein 10, Amsterdam")
    station("Harbour", 51.9225, 4.4792, "Europe/Amsterdam", "Wilhelminakade 1, Rotterdam")
    station("Hidden", None, None, "Europe/Amsterdam", "Somewhere, Amsterdam")  # no position: never a place


def test_places_from_our_stations(client, stations):
    r = client.get("/api/v1/places", query_string={"q": "amsterdam"})
    assert r.status_code == 200
    places = r.get_json()
    assert places[0]["kind"] == "area" and places[0]["stations"] == 2
    assert places[0]["latitude"] == pytest.approx((52.3791 + 52.3383) / 2)
    assert {p["label"].split(",")[0] for p in places[1:]} == {"Canal Garage", "Zuid Hub"}
    # One match is a station, not an area; the nearby list from it finds the station first.
    [place] = client.get("/api/v1/places", query_string={"q": "Rotterdam"}).get_json()
    assert place["kind"] == "station" and place["label"] == "Harbour, Wilhelminakade 1, Rotterdam"
    near = client.get(
        "/api/v1/stations/nearby", query_string={"lat": place["latitude"], "lon": place["longitude"], "radiusKm": 100}
    ).get_json()
    assert [s["name"] for s in near] == ["Harbour", "Zuid Hub", "Canal Garage"]
    # Spread-out matches: the biggest group of close stations is the area.
    places = client.get("/api/v1/places", query_string={"q": "a", "limit": 2}).get_json()
    assert places[0]["kind"] == "area" and places[0]["stations"] == 2 and len(places) == 2


def test_places_typed_coordinates_and_refusals(client, stations):
    assert client.get("/api/v1/places", query_string={"q": "52.1, 5.12"}).get_json() == [
        {"label": "52.10000, 5.12000", "latitude": 52.1, "longitude": 5.12, "kind": "coordinates", "stations": 0}
    ]
    assert client.get("/api/v1/places", query_string={"q": "-33.9 18.4"}).get_json()[0]["latitude"] == -33.9
    assert client.get("/api/v1/places", query_string={"q": "Utrecht"}).get_json() == []
    assert client.get("/api/v1/places", query_string={"q": "100_%"}).get_json() == []  # LIKE wildcards are text
    for bad in ({"q": "95, 10"}, {"q": ""}, {}, {"q": "x" * 101}, {"q": "a", "limit": 0}):
        r = client.get("/api/v1/places", query_string=bad)
        assert r.status_code == 422 and r.get_json()["error"] == "invalid_input", bad


def test_openapi_documents_the_new_operations(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/auth/password-reset"]) == {"post"}
    assert set(paths["/auth/password-reset/confirm"]) == {"post"}
    assert paths["/places"]["get"]["security"] == []
