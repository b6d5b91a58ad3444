"""The JSON API under ``/api/v1``: Bearer auth, JSON errors, OpenAPI description.

Route modules (``commands``, ``chargers``, ``drivers`` ...) add their routes to :data:`bp` and their
OpenAPI operations to :data:`spec`; ``create_app`` imports them all through :func:`register`.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from .openapi import OpenApiSpec

bp = Blueprint("api", __name__, url_prefix="/api/v1")
spec = OpenApiSpec(title="EV CMS API", version="1.0.0")

# Route modules, imported for their side effect of adding routes to ``bp``. Add new ones here.
ROUTE_MODULES = [
    "errors",
    "docs",
    "commands",
    "driver_common",
    "drivers",
    "stations",
    "sessions",
    "wallet",
    "operator_stations",
    "operator_load",
    "operator_chargepoints",
    "operator_transactions",
    "operator_idtags",
]


def register(app: Flask) -> None:
    import importlib

    for name in ROUTE_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    app.register_blueprint(bp)
