"""Security headers on every kind of response, the per-page policy mechanism, and templates without inline code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Blueprint

from cms.web.security import DATA, DRIVER_APP_POLICY, SELF, blueprint_policy, page_policy

TEMPLATES = Path(__file__).resolve().parents[2] / "cms" / "web" / "templates"


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    out = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        out[name] = sources
    return out


def assert_hardened(response, *, hsts: bool = False, connect: tuple | list = ("'self'",)) -> dict[str, list[str]]:
    h = response.headers
    assert h["X-Frame-Options"] == "DENY"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"
    assert ("Strict-Transport-Security" in h) is hsts
    d = directives(response)
    assert d["default-src"] == ["'none'"] and d["frame-ancestors"] == ["'none'"] and d["base-uri"] == ["'none'"]
    assert d["script-src"] == ["'self'"] and d["style-src"] == ["'self'"] and d["connect-src"] == list(connect)
    assert d["form-action"] == ["'self'"]
    assert "unsafe" not in h["Content-Security-Policy"]
    return d


def test_dashboard_pages_are_hardened(client, owner_browser):
    d = assert_hardened(client.get("/dashboard/login"))
    assert d["img-src"] == ["'self'"]
    r = owner_browser.get("/dashboard/chargers")
    assert r.status_code == 200
    assert_hardened(r)
    assert_hardened(owner_browser.get("/dashboard/chargers/NOPE"))  # an error page too
    assert_hardened(client.get("/static/app.js"))


def test_api_responses_are_hardened(client, owner_token):
    assert_hardened(client.get("/api/v1/openapi.json"))
    r = client.get("/api/v1/charge-points", headers={"Authorization": f"Bearer {owner_token}"})
    assert r.status_code == 200
    assert_hardened(r)
    r = client.post("/api/v1/auth/login", json={"email": "x@example.com", "password": "nope-nope"})
    assert r.status_code == 401
    assert_hardened(r)
    assert_hardened(client.get("/healthz"))


def test_the_api_docs_page_gets_data_images_and_nothing_inline(client):
    r = client.get("/api/v1/docs")
    d = assert_hardened(r)
    assert d["img-src"] == ["'self'", "data:"]
    html = r.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all("src=" in attrs for attrs in scripts)
    assert 'data-openapi-url="/api/v1/openapi.json"' in html
    assert client.get("/static/swagger-init.js").status_code == 200
    # Only that page: the rest of the API keeps the strict img-src.
    assert directives(client.get("/api/v1/openapi.json"))["img-src"] == ["'self'"]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "map_tiles_url": "https://{s}.tiles.example.org:8443/{z}/{x}/{y}.png"}


def test_per_page_policies_for_a_blueprint_and_a_view(app, client):
    """The hook the driver app (/app/) uses: DRIVER_APP_POLICY on its blueprint; here on a stand-in."""
    shell = Blueprint("app_shell_under_test", __name__, url_prefix="/app-under-test")
    blueprint_policy(shell, **DRIVER_APP_POLICY)

    @shell.get("/")
    def home():
        return "<!doctype html><title>app</title>"

    @shell.get("/plain.json")
    def plain():
        return {"ok": True}

    other = Blueprint("page_policy_under_test", __name__)

    @other.get("/one-page-under-test")
    @page_policy(img_src=[DATA], font_src=["https://fonts.example.org"])
    def one_page():
        return "one"

    app.register_blueprint(shell)
    app.register_blueprint(other)

    for path in ("/app-under-test/", "/app-under-test/plain.json"):
        d = assert_hardened(client.get(path), connect=["'self'", "https://*.tiles.example.org:8443"])
        assert d["img-src"] == ["'self'", "data:", "https://*.tiles.example.org:8443"]
        assert d["worker-src"] == [SELF] and d["manifest-src"] == [SELF]
    d = assert_hardened(client.get("/one-page-under-test"))
    assert d["img-src"] == ["'self'", "data:"] and "worker-src" not in d
    assert d["font-src"] == ["'self'", "https://fonts.example.org"]
    # Nowhere else.
    d = assert_hardened(client.get("/dashboard/login"))
    assert d["img-src"] == ["'self'"] and "worker-src" not in d and "manifest-src" not in d


def test_a_bad_tile_url_stops_the_app_at_start_up(app_config):
    from app import create_app

    with pytest.raises(ValueError, match="CMS_MAP_TILES_URL"):
        create_app({**app_config, "map_tiles_url": "tiles.example.org/{z}/{x}/{y}.png"})


def test_templates_have_no_inline_scripts_handlers_or_styles():
    """What the policy would refuse, caught before a browser sees it (the driver app's templates too)."""
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        html = path.read_text()
        for attrs in re.findall(r"<script\b([^>]*)>", html):
            if "src=" not in attrs and 'type="application/json"' not in attrs:
                offenders.append(f"{path.name}: inline <script{attrs}>")
        offenders += [f"{path.name}: {m}" for m in re.findall(r"\s(on[a-z]+=)[\"']", html)]
        offenders += [f"{path.name}: {m}" for m in re.findall(r"\s(style=)[\"']", html)]
        offenders += [f"{path.name}: <style>" for _ in re.findall(r"<style\b", html)]
        offenders += [f"{path.name}: javascript: URL" for _ in re.findall(r"javascript:", html, re.I)]
    assert offenders == []
