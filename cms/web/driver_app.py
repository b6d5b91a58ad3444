"""The drivers' mobile web app at ``/app/`` and the landing page ``/``.

The server only hands out the app's shell (one HTML page for every screen, so links mailed to drivers and QR
codes printed on stations open the right screen), its static files, the web app manifest and the service worker.
Everything a driver sees or does goes through the JSON API under ``/api/v1`` with Bearer tokens, like a native
app. Configuration the JavaScript needs travels in ``data-`` attributes of the shell (the Content-Security-Policy
allows no inline script).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, jsonify, render_template, send_from_directory, url_for

from cms.web.context import runtime

from .security import DRIVER_APP_POLICY, blueprint_policy

STATIC = Path(__file__).parent / "static"
APP_STATIC = STATIC / "app"
VENDOR = STATIC / "vendor"
# Front-end libraries the app loads, served under /app/vendor/ so that the app touches no path outside /app/
# and /api/v1 (copied from npm by `make static-vendor`).
VENDORED = {"leaflet"}
# First path segments of the app's screens (the router in app.js knows the rest).
SCREENS = {
    "",
    "login",
    "register",
    "verify",
    "forgot",
    "reset",
    "search",
    "stations",
    "charge",
    "c",
    "sessions",
    "history",
    "wallet",
    "profile",
    "reservations",
    "help",
}

bp = Blueprint("driver_app", __name__, url_prefix="/app", static_folder=str(APP_STATIC), static_url_path="/assets")
# Beyond the CMS's own strict policy: tiles from CMS_MAP_TILES_URL, the service worker, the manifest.
blueprint_policy(bp, **DRIVER_APP_POLICY)


def _asset_version() -> str:
    """A digest of the app's own files: it busts browser caches and renews the service worker's cache."""
    cached = current_app.extensions.get("driver_app_version")
    if cached is None:
        digest = hashlib.sha256()
        for path in sorted(APP_STATIC.rglob("*")) + sorted((VENDOR / "leaflet").rglob("*")):
            if path.is_file():
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
        cached = current_app.extensions["driver_app_version"] = digest.hexdigest()[:12]
    return cached


def _settings():
    return runtime().settings


def _shell(status: int = 200):
    s = _settings()
    return render_template(
        "app/shell.html",
        version=_asset_version(),
        tiles_url=s.map_tiles_url,
        tiles_attribution=s.map_tiles_attribution,
        currency=s.currency,
    ), status


@bp.get("/")
def home():
    return _shell()


@bp.get("/<path:screen>")
def screen(screen: str):
    """Every screen's URL serves the shell (404 for paths that are no screen; the app then says so too)."""
    return _shell(200 if screen.split("/", 1)[0] in SCREENS else 404)


@bp.get("/manifest.webmanifest")
def manifest():
    def icon(name: str, size: str, purpose: str) -> dict:
        return {
            "src": url_for("driver_app.static", filename=f"icons/{name}"),
            "sizes": size,
            "type": "image/png",
            "purpose": purpose,
        }

    body = {
        "name": "EV Charging",
        "short_name": "Charging",
        "id": "/app/",
        "start_url": "/app/",
        "scope": "/app/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#0f5132",
        "description": "Find a charger, charge, pay and see what it cost.",
        "icons": [
            icon("icon-192.png", "192x192", "any"),
            icon("icon-512.png", "512x512", "any"),
            icon("icon-maskable-512.png", "512x512", "maskable"),
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker():
    """The service worker, from /app/ so that its scope is the app; never cached itself (updates reach phones)."""
    version = _asset_version()
    assets = [url_for("driver_app.home"), url_for("driver_app.manifest")]
    assets += [f"{url_for('driver_app.static', filename=name)}?v={version}" for name in ("app.js", "app.css")]
    assets += [url_for("driver_app.static", filename=f"icons/{n}") for n in ("icon-192.png", "icon-512.png")]
    if _settings().map_tiles_url:  # the map only exists with a tile server
        assets += [
            f"{url_for('driver_app.vendor', lib='leaflet', filename=n)}?v={version}"
            for n in ("leaflet.js", "leaflet.css")
        ]
    response = current_app.response_class(
        render_template("app/sw.js", version=version, assets=assets), mimetype="text/javascript"
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/vendor/<lib>/<path:filename>")
def vendor(lib: str, filename: str):
    if lib not in VENDORED:
        abort(404)
    return send_from_directory(VENDOR / lib, filename)


def landing():
    """Two ways in: drivers to the app, owners to the dashboard's log-in."""
    return render_template("app/landing.html", version=_asset_version())


def init_app(app: Flask) -> None:
    """Register ``/app/`` and the landing page ``/`` (endpoint ``index``; the dashboard then adds no ``/`` of its
    own)."""
    app.register_blueprint(bp)
    app.add_url_rule("/", "index", landing)
