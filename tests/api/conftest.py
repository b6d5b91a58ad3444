"""Driver API fixtures: drivers signed up, verified (through the mailed link) and logged in over the API."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.support.operator import (  # noqa: F401  (the operator API's fixtures)
    as_admin,
    as_driver,
    as_nobody,
    as_other,
    as_owner,
    other_owner,
    sessions,
)


@dataclass
class Driver:
    email: str
    password: str
    token: str
    refresh: str
    id_tag: str
    user_id: int

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


def verification_token(rt, email: str) -> str:
    """The token of the newest verification mail to ``email`` (from the outbox)."""
    from cms.mail import outbox

    with rt.db.uow() as uow:
        mails = outbox(uow.session, email)
    assert mails, f"no mail to {email}"
    match = re.search(r"token=([^\s]+)", mails[0]["body"])
    assert match, mails[0]["body"]
    from urllib.parse import unquote

    return unquote(match.group(1))


@pytest.fixture
def sign_up(client, rt):
    """``sign_up("a@example.com")`` registers, verifies and logs in a driver through the API."""

    def _sign_up(email: str = "driver@example.com", password: str = "driver-password", name: str = "Dee Driver"):
        r = client.post("/api/v1/auth/register", json={"email": email, "password": password, "name": name})
        assert r.status_code == 201, r.get_json()
        profile = r.get_json()
        r = client.post("/api/v1/auth/verify", json={"token": verification_token(rt, email)})
        assert r.status_code == 200, r.get_json()
        r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.get_json()
        tokens = r.get_json()
        return Driver(email, password, tokens["accessToken"], tokens["refreshToken"], profile["idTag"], profile["id"])

    return _sign_up


@pytest.fixture
def driver(sign_up):
    return sign_up()


@pytest.fixture
def fund(client):
    """``fund(driver, 20)`` tops up the driver's wallet through the (sandbox) payment provider."""

    def _fund(d: Driver, amount: float = 20.0):
        r = client.post("/api/v1/wallet/top-ups", json={"amount": amount}, headers=d.headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    return _fund


@pytest.fixture
def station(rt, owner):
    """``station("Depot", lat, lon, tz)`` creates a station for ``owner`` (the dashboard's use case)."""
    from cms.stations import create_station

    def _station(
        name: str = "Depot",
        latitude: float | None = 52.52,
        longitude: float | None = 13.405,
        timezone: str = "Europe/Berlin",
        address: str = "",
    ):
        with rt.db.uow() as uow:
            s = create_station(
                uow.session,
                owner,
                name=name,
                address=address,
                latitude=latitude,
                longitude=longitude,
                timezone=timezone,
            )
            uow.commit()
            return s.id

    return _station


@pytest.fixture
def set_tariff(rt, owner):
    from cms.tariff import set_tariff_bands

    def _set(station_id: int, bands: list[dict]):
        with rt.db.uow() as uow:
            set_tariff_bands(uow.session, owner, station_id, bands)
            uow.commit()

    return _set
