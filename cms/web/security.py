"""Browser-facing hardening in one place: security headers on every response, cookie flags, and the client
address behind trusted reverse proxies.

Every response of the Flask app gets a Content-Security-Policy that allows only the CMS itself (no inline
script or style, no framing), ``X-Frame-Options: DENY`` for older browsers, ``X-Content-Type-Options: nosniff``,
``Referrer-Policy: same-origin`` and, when ``CMS_PUBLIC_URL`` is https, ``Strict-Transport-Security``.

A page that needs more says so itself, and only for itself, through :func:`page_policy` (a view) or
:func:`blueprint_policy` (every page of a blueprint), e.g. the Swagger UI page or the drivers' app::

    from cms.web.security import DRIVER_APP_POLICY, blueprint_policy
    blueprint_policy(bp, **DRIVER_APP_POLICY)  # tiles from CMS_MAP_TILES_URL, a service worker, a manifest

Sources are CSP source expressions (``SELF``, ``DATA``, ``"https://host"``) or :data:`MAP_TILES`, the origin of
the configured map tile server (nothing when none is configured).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

SELF = "'self'"
NONE = "'none'"
DATA = "data:"
MAP_TILES = "map-tiles"  # stands for the origin of CMS_MAP_TILES_URL, resolved when the app is built

# Only the CMS itself: scripts, styles, images, fonts and fetches from this origin, forms posted here, never
# framed. default-src 'none' makes everything not named here (objects, frames, manifests, media) refused.
BASE_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": (NONE,),
    "script-src": (SELF,),
    "style-src": (SELF,),
    "img-src": (SELF,),
    "font-src": (SELF,),
    "connect-src": (SELF,),
    "form-action": (SELF,),
    "base-uri": (NONE,),
    "frame-ancestors": (NONE,),
}

# What the drivers' web app at /app/ needs beyond that: map tiles from the configured tile server (and the
# data: images map libraries draw markers with), its service worker and its web app manifest. connect-src names
# the tile server too: a service worker that answers the page's tile requests fetches them under its own policy.
DRIVER_APP_POLICY: dict[str, tuple[str, ...]] = {
    "img_src": (DATA, MAP_TILES),
    "connect_src": (MAP_TILES,),
    "worker_src": (SELF,),
    "manifest_src": (SELF,),
}

HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts of the domain are not ours to decide
_POLICY_ATTR = "cms_csp_extra"
_SOURCE = re.compile(r"^[\w'*:/.\-+=]+$")


def _directives(extra: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """``img_src=[DATA]`` -> ``{"img-src": ("data:",)}``, refusing what is not a plain source expression."""
    out: dict[str, tuple[str, ...]] = {}
    for name, sources in extra.items():
        sources = (sources,) if isinstance(sources, str) else tuple(sources)
        for source in sources:
            if not _SOURCE.match(source) or "'unsafe-" in source:
                raise ValueError(f"not an allowed Content-Security-Policy source for {name}: {source!r}")
        out[name.replace("_", "-")] = sources
    return out


def page_policy(**extra: Iterable[str]) -> Callable:
    """Decorator: this view's responses may also use these sources, e.g. ``@page_policy(img_src=[DATA])``."""
    directives = _directives(extra)

    def mark(view):
        setattr(view, _POLICY_ATTR, directives)
        return view

    return mark


def blueprint_policy(bp: Blueprint, **extra: Iterable[str]) -> None:
    """Every page of ``bp`` may also use these sources (see :data:`DRIVER_APP_POLICY`)."""
    setattr(bp, _POLICY_ATTR, _directives(extra))


def tile_origin(template: str) -> str:
    """The CSP source of a tile URL template: ``https://{s}.tile.example.org/{z}/{x}/{y}.png`` ->
    ``https://*.tile.example.org``; "" for none. Raises ValueError for anything that is not an http(s) URL."""
    template = (template or "").strip()
    if not template:
        return ""
    parts = urlsplit(template)
    host = parts.hostname or ""
    labels = host.split(".")
    if labels and "{" in labels[0]:  # Leaflet's {s} subdomains: any subdomain there
        labels[0] = "*"
    host = ".".join(labels)
    if parts.scheme not in ("http", "https") or not host or "{" in host or "}" in host:
        raise ValueError(
            "CMS_MAP_TILES_URL must be an http(s) URL template such as "
            f"https://tile.example.org/{{z}}/{{x}}/{{y}}.png, not {template!r}"
        )
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


class SecurityHeaders:
    """The headers of every response; built once per app from its settings."""

    def __init__(self, public_url: str, map_tiles_url: str = ""):
        self.https = public_url.strip().lower().startswith("https://")
        self.tiles = tile_origin(map_tiles_url)
        self._cache: dict[tuple, str] = {}

    def policy(self, *extras: Mapping[str, tuple[str, ...]]) -> str:
        """The Content-Security-Policy header value: the base policy plus each page's extra sources."""
        key = tuple(tuple(sorted(e.items())) for e in extras)
        if key not in self._cache:
            merged = {name: list(sources) for name, sources in BASE_POLICY.items()}
            for extra in extras:
                for name, sources in extra.items():
                    have = merged.setdefault(name, [])
                    if have == [NONE]:
                        have.clear()
                    for source in sources:
                        source = self.tiles if source == MAP_TILES else source
                        if source and source not in have:
                            have.append(source)
            self._cache[key] = "; ".join(f"{name} {' '.join(sources or [NONE])}" for name, sources in merged.items())
        return self._cache[key]

    def apply(self, response):
        """``after_request``: set the headers, with the policy of the page that answered."""
        extras = [getattr(current_app.blueprints.get(name), _POLICY_ATTR, None) for name in request.blueprints[::-1]]
        view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
        extras.append(getattr(view, _POLICY_ATTR, None))
        headers = response.headers
        headers["Content-Security-Policy"] = self.policy(*(e for e in extras if e))
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if self.https:
            headers["Strict-Transport-Security"] = HSTS
        return response


def init_app(app: Flask) -> None:
    """Headers on every response, cookie flags, and the client address from ``CMS_TRUSTED_PROXIES`` proxies.

    Call it last in ``create_app``: the proxy fix must wrap every other WSGI layer (the SOAP mount too)."""
    settings = app.extensions["cms"].settings
    headers = SecurityHeaders(settings.public_url, settings.map_tiles_url)
    app.extensions["security_headers"] = headers
    app.after_request(headers.apply)
    # The session (and so the CSRF token) and Flask-Login's remember-me cookie: never readable by scripts, not
    # sent on cross-site requests other than top-level navigation, and only over TLS when the CMS is served so.
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=headers.https,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=headers.https,
    )
    trust_proxies(app, settings.trusted_proxies)


def trust_proxies(app: Flask, count: int) -> None:
    """Believe X-Forwarded-For and X-Forwarded-Proto as set by ``count`` reverse proxies in front (each appends
    to X-Forwarded-For; the client's own entries, further left, are never used). 0: ignore them entirely."""
    if count < 0:
        raise ValueError(f"CMS_TRUSTED_PROXIES is a number of proxies (0 or more), not {count}")
    if count:
        # Flask's documented way to wrap its WSGI callable in middleware (mypy sees a method being replaced).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=0, x_port=0, x_prefix=0
        )
