"""Dashboard test helpers: logged-in test clients for two owners, and CSRF-aware form posts."""

from __future__ import annotations

import re

import pytest

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, url: str = "/dashboard/login") -> str:
    """The session's CSRF token, read from a rendered form like a browser would."""
    html = client.get(url).get_data(as_text=True)
    m = CSRF.search(html)
    assert m, f"no CSRF field on {url}"
    return m.group(1)


class Browser:
    """A test client that fills in the CSRF token of its session on every POST."""

    def __init__(self, client):
        self.client = client
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            self._token = csrf_token(self.client)
        return self._token

    def get(self, url: str, **kw):
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict | None = None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token())
        return self.client.post(url, data=data, **kw)

    def login(self, email: str, password: str):
        r = self.post("/dashboard/login", {"email": email, "password": password})
        self._token = None  # Flask-Login's strong protection starts a fresh session
        return r


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def owner_browser(app, owner):
    b = Browser(app.test_client())
    r = b.login("owner@example.com", "owner-password")
    assert r.status_code == 302, r.get_data(as_text=True)
    return b


@pytest.fixture
def other_owner(rt):
    from cms.accounts import create_user

    with rt.db.uow() as uow:
        user = create_user(uow.session, "other@example.com", "other-password", name="Otto Other", verified=True)
        uow.commit()
    return user


@pytest.fixture
def other_browser(app, other_owner):
    b = Browser(app.test_client())
    assert b.login("other@example.com", "other-password").status_code == 302
    return b


def at(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def energy(wh: float, **kw) -> dict:
    return {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", **kw}


def power(w: float, **kw) -> dict:
    return {"value": str(w), "measurand": "Power.Active.Import", "unit": "W", **kw}


@pytest.fixture
def history(rt, owner, add_charger, add_tag, connect):
    """Owner A's world, made through the real paths: a station with charger CP-A1 (a real OCPP-J client),
    tags, one finished transaction over two UTC days with meter values, and one running now."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from cms.maintenance import Maintenance
    from cms.models import Station

    add_charger("CP-A1", station="Depot")
    add_tag("TAG-A", owner=owner)
    add_tag("TAG-A2", owner=owner, parent="TAG-A")
    cp = connect("CP-A1")
    cp.boot(firmware_version="1.2.3", charge_point_serial_number="SN-1")
    cp.status(1, "Available")
    cp.status(2, "Available")
    t0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)
    tx = cp.start(1, "TAG-A", meter_start=1000, timestamp=at(t0)).transaction_id
    cp.meter(1, tx, [energy(2000), power(7400)], timestamp=at(t0 + timedelta(minutes=30)))
    cp.meter(1, tx, [energy(6000), power(7200)], timestamp=at(t0 + timedelta(hours=3)))  # 23:00 day 1
    cp.meter(1, tx, [energy(9000), power(3000)], timestamp=at(t0 + timedelta(hours=5)))  # 01:00 day 2
    cp.stop(tx, 9500, timestamp=at(t0 + timedelta(hours=6)), reason="EVDisconnected")
    now = datetime.now(UTC).replace(microsecond=0)
    live = cp.start(2, "TAG-A2", meter_start=50_000, timestamp=at(now - timedelta(minutes=10))).transaction_id
    cp.status(2, "Charging")
    cp.meter(2, live, [energy(51_000), power(11_000)], timestamp=at(now - timedelta(minutes=1)))
    Maintenance(rt.db, rt.settings.heartbeat_interval, 0).roll_up_energy()  # what the next upkeep round does
    with rt.db.uow() as uow:
        station_id = uow.session.scalar(select(Station.id).where(Station.owner_id == owner.id))
    return {"charger": cp, "identity": "CP-A1", "station_id": station_id, "tx": tx, "live_tx": live, "t0": t0}
