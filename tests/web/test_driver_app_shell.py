"""The driver app's server side: the shell on every screen's URL, the manifest and icons, the service worker,
the landing page, and markup a strict Content-Security-Policy accepts (no inline script, handler or style)."""

from __future__ import annotations

import json
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cms.web.driver_app import APP_STATIC

TEMPLATES = Path(__file__).resolve().parents[2] / "cms" / "web" / "templates" / "app"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "map_tiles_url": "http://tiles.test/{z}/{x}/{y}.png", "map_tiles_attribution": "© Test tiles"}


class _Markup(HTMLParser):
    """Collects what a strict CSP would refuse: inline scripts, on* handlers, style attributes and elements."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = {k for k, _ in attrs}
        if tag == "script":
            src = dict(attrs).get("src")
            self._in_script = src is None
            if src:
                self.scripts.append(src)
        if tag == "style":
            self.problems.append("<style> element")
        self.problems += [f"{tag}[{n}]" for n in names if n == "style" or n.startswith("on")]

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"inline script: {data.strip()[:40]}")


def _markup(text: str) -> _Markup:
    parser = _Markup()
    parser.feed(text)
    return parser


@pytest.mark.parametrize(
    "path",
    [
        "/app/",
        "/app/login",
        "/app/verify?token=x",
        "/app/reset?token=y",
        "/app/c/CP-1/2",
        "/app/stations/12",
        "/app/sessions/3",
        "/app/wallet",
    ],
)
def test_every_screen_url_serves_the_shell(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    markup = _markup(page)
    assert markup.problems == []
    assert all(src.startswith("/app/") for src in markup.scripts), markup.scripts
    assert 'data-api="/api/v1"' in page and 'data-base="/app"' in page
    assert 'data-tiles-url="http://tiles.test/{z}/{x}/{y}.png"' in page and "© Test tiles" in page
    assert 'data-currency="EUR"' in page
    assert '<link rel="manifest" href="/app/manifest.webmanifest">' in page


def test_the_app_runs_under_the_driver_app_policy(client):
    policy = client.get("/app/").headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:", "http://tiles.test"]
    assert directives["worker-src"] == ["'self'"] and directives["manifest-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "http://tiles.test" not in client.get("/").headers["Content-Security-Policy"]  # the landing page


def test_unknown_app_paths_are_404_with_the_shell(client):
    r = client.get("/app/no-such-screen")
    assert r.status_code == 404 and "data-api" in r.get_data(as_text=True)


def test_templates_and_scripts_stay_within_a_strict_csp():
    for template in TEMPLATES.glob("*.html"):
        assert _markup(template.read_text()).problems == [], template.name
    script = (APP_STATIC / "app.js").read_text()
    assert "eval(" not in script and "new Function" not in script
    assert not re.search(r"style=", script), "style attributes in generated markup"
    assert not re.search(r"\son[a-z]+=", script), "inline event handlers in generated markup"
    assert not re.search(r"fetch\(\s*[\"'`]https?:", script), "requests to other hosts"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_manifest_and_icons(client):
    r = client.get("/app/manifest.webmanifest")
    assert r.status_code == 200 and r.mimetype == "application/manifest+json"
    manifest = json.loads(r.get_data())
    assert manifest["start_url"] == "/app/" and manifest["scope"] == "/app/" and manifest["display"] == "standalone"
    sizes = {}
    for icon in manifest["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200 and png.mimetype == "image/png"
        w, h = _png_size(png.data)
        assert icon["sizes"] == f"{w}x{h}"
        sizes[(icon["sizes"], icon["purpose"])] = True
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= set(sizes)


def test_service_worker_caches_the_shell(client):
    r = client.get("/app/sw.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript" and r.headers["Cache-Control"] == "no-cache"
    text = r.get_data(as_text=True)
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", text).group(1))
    assert shell[0] == "/app/"
    for asset in shell:
        assert asset.startswith("/app/")
        assert client.get(asset).status_code == 200, asset
    assert any("leaflet.js" in a for a in shell)  # a tile server is configured here, so the map is part of it
    version = re.search(r'const CACHE = "driver-app-(\w+)"', text).group(1)
    assert f"app.js?v={version}" in client.get("/app/").get_data(as_text=True)


def test_vendored_libraries_only_the_known_ones(client):
    assert client.get("/app/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/app/vendor/htmx/htmx.min.js").status_code == 404
    assert client.get("/app/vendor/leaflet/../htmx/htmx.min.js").status_code == 404


def test_landing_page_offers_both_ways_in(client):
    r = client.get("/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert 'href="/app/"' in page and 'href="/dashboard/login"' in page
    assert _markup(page).problems == []
