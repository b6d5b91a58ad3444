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
