"""The log-in throttle over HTTP: the dashboard and the driver API share it, an attacker is slowed while the real
user gets in, the holder is mailed, and the client address comes only from trusted proxies."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cms import mail
from cms.login_throttle import ALERT_SUBJECT
from cms.models import LoginAttempt

from .conftest import Browser

ATTACKER, OWNER_ADDR, PROXY = "203.0.113.66", "198.51.100.7", "10.0.0.2"


def browser_at(app, addr: str, **environ) -> Browser:
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": addr, **environ})
    return Browser(client)


def api_at(app, addr: str, **environ):
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": addr, **environ})
    return client


def register_driver(app, rt, email="dee@example.com", password="driver-password"):
    """A verified driver, made the way a driver does it: register, then the mailed link."""
    client = app.test_client()
    assert client.post("/api/v1/auth/register", json={"email": email, "password": password}).status_code == 201
    with rt.db.uow() as uow:
        [verify] = mail.outbox(uow.session, recipient=email)
    token = re.search(r"token=(\S+)", verify["body"]).group(1)
    assert client.get("/api/v1/auth/verify", query_string={"token": token}).status_code == 200
    return email, password


def alerts(rt, email):
    with rt.db.uow() as uow:
        return [m for m in mail.outbox(uow.session, recipient=email) if m["subject"] == ALERT_SUBJECT]


def test_dashboard_attacker_is_slowed_while_the_owner_logs_in(app, rt, owner):
    attacker = browser_at(app, ATTACKER)
    for _ in range(rt.settings.login_max_failures):
        assert attacker.login("owner@example.com", "wrong-password").status_code == 401
    r = attacker.login("owner@example.com", "owner-password")
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= rt.settings.login_backoff_seconds
    assert "Too many failed log-ins from your address; try again in" in r.get_data(as_text=True)
    # The owner, elsewhere: straight in, and the attacker is still waiting afterwards.
    assert browser_at(app, OWNER_ADDR).login("owner@example.com", "owner-password").status_code == 302
    assert attacker.login("owner@example.com", "owner-password").status_code == 429
    [alert] = alerts(rt, "owner@example.com")
    assert ATTACKER in alert["body"]


def test_api_attacker_is_slowed_while_the_driver_logs_in(app, rt):
    email, password = register_driver(app, rt)
    attacker = api_at(app, ATTACKER)
    for _ in range(rt.settings.login_max_failures):
        assert attacker.post("/api/v1/auth/login", json={"email": email, "password": "guess-guess"}).status_code == 401
    r = attacker.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    body = r.get_json()
    assert body["error"] == "too_many_attempts" and "try again in" in body["message"]
    r = api_at(app, OWNER_ADDR).post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200 and r.get_json()["accessToken"]
    assert len(alerts(rt, email)) == 1  # the driver hears of it, once


def test_one_throttle_for_the_dashboard_and_the_api(app, rt, owner):
    """Failures through the API count for the dashboard (and back): one implementation, one count."""
    api = api_at(app, ATTACKER)
    for _ in range(3):
        assert (
            api.post("/api/v1/auth/login", json={"email": "owner@example.com", "password": "x-wrong-x"}).status_code
            == 401
        )
    dashboard = browser_at(app, ATTACKER)
    for _ in range(2):
        assert dashboard.login("owner@example.com", "wrong-password").status_code == 401
    assert dashboard.login("owner@example.com", "owner-password").status_code == 429
    assert (
        api.post("/api/v1/auth/login", json={"email": "owner@example.com", "password": "owner-password"}).status_code
        == 429
    )


def test_throttle_holds_across_processes(app_config, app, rt, owner):
    from app import create_app

    attacker = browser_at(app, ATTACKER)
    for _ in range(rt.settings.login_max_failures):
        attacker.login("owner@example.com", "wrong-password")
    other = create_app(app_config)
    try:
        assert browser_at(other, ATTACKER).login("owner@example.com", "owner-password").status_code == 429
        assert browser_at(other, OWNER_ADDR).login("owner@example.com", "owner-password").status_code == 302
    finally:
        other.extensions["cms"].db.dispose()


def _recorded_addresses(rt) -> list[str]:
    with rt.db.uow() as uow:
        return list(uow.session.scalars(select(LoginAttempt.remote_addr).order_by(LoginAttempt.id)))


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(app, rt, owner):
    """CMS_TRUSTED_PROXIES=0 (the default): a client inventing X-Forwarded-For gains nothing."""
    for i in range(rt.settings.login_max_failures):
        b = browser_at(app, ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
        assert b.login("owner@example.com", "wrong-password").status_code == 401
    b = browser_at(app, ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert b.login("owner@example.com", "owner-password").status_code == 429
    assert set(_recorded_addresses(rt)) == {ATTACKER}


class TestBehindOneProxy:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "trusted_proxies": 1}

    def test_the_address_the_proxy_saw_is_used_never_the_clients_own_header(self, app, rt, owner):
        # The attacker sends its own X-Forwarded-For each time; the proxy appends the address it saw.
        for i in range(rt.settings.login_max_failures):
            b = browser_at(app, PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, {ATTACKER}")
            assert b.login("owner@example.com", "wrong-password").status_code == 401
        assert set(_recorded_addresses(rt)) == {ATTACKER}
        b = browser_at(app, PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.99, {ATTACKER}")
        assert b.login("owner@example.com", "owner-password").status_code == 429
        # The owner behind the same proxy is another client.
        owner_b = browser_at(app, PROXY, HTTP_X_FORWARDED_FOR=OWNER_ADDR)
        assert owner_b.login("owner@example.com", "owner-password").status_code == 302
        assert _recorded_addresses(rt)[-1] == OWNER_ADDR

    def test_the_api_sees_the_forwarded_address_too(self, app, rt):
        email, _ = register_driver(app, rt)
        api = api_at(app, PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)
        api.post("/api/v1/auth/login", json={"email": email, "password": "guess-guess"})
        assert _recorded_addresses(rt) == [ATTACKER]
