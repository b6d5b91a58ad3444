"""Cookie flags (session and remember-me) and HSTS, over an http and an https public URL."""

from __future__ import annotations

import pytest

from .conftest import CSRF
from .test_security_headers import assert_hardened


def _cookies(response) -> dict[str, set[str]]:
    """Set-Cookie headers as {name: {lower-case attributes such as "httponly", "samesite=lax"}}."""
    out = {}
    for header in response.headers.getlist("Set-Cookie"):
        name, *attrs = header.split(";")
        out[name.split("=", 1)[0]] = {a.strip().lower() for a in attrs}
    return out


def _log_in(client, base_url: str):
    """Log in with "keep me logged in" like a browser on ``base_url`` (its Referer included: Flask-WTF checks it
    on https)."""
    page = client.get("/dashboard/login", base_url=base_url)
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    return page, client.post(
        "/dashboard/login",
        base_url=base_url,
        headers={"Referer": f"{base_url}/dashboard/login"},
        data={"csrf_token": token, "email": "owner@example.com", "password": "owner-password", "remember": "1"},
    )


def test_cookies_over_http(client, owner):
    page, r = _log_in(client, "http://127.0.0.1")
    assert r.status_code == 302
    cookies = {**_cookies(page), **_cookies(r)}
    for name in ("session", "remember_token"):
        assert {"httponly", "samesite=lax"} <= cookies[name], (name, cookies)
        assert "secure" not in cookies[name]
    assert_hardened(r, hsts=False)


class TestHttps:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "public_url": "https://cms.example.org"}

    def test_cookies_are_secure_and_hsts_is_sent(self, client, owner):
        base = "https://cms.example.org"
        page, r = _log_in(client, base)
        assert r.status_code == 302
        cookies = {**_cookies(page), **_cookies(r)}
        for name in ("session", "remember_token"):
            assert {"httponly", "samesite=lax", "secure"} <= cookies[name], (name, cookies)
        assert_hardened(r, hsts=True)
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
        # The remembered log-in works on the next visit over https.
        assert client.get("/dashboard/chargers", base_url=base).status_code == 200
        assert_hardened(client.get("/api/v1/openapi.json", base_url=base), hsts=True)
