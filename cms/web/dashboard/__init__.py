"""The owner dashboard: server-rendered pages with HTMX partials under ``/dashboard``.

Views are split by area (auth, chargers, transactions, consumption, operations, tags, tokens); they read
through :mod:`cms.queries` and change things through the use cases of the core.
"""

from __future__ import annotations

import importlib

from flask import Blueprint, Flask, redirect, url_for
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

VIEW_MODULES = ["errors", "auth", "chargers", "transactions", "consumption", "load", "operations", "tags", "tokens"]


def init_app(app: Flask) -> None:
    """Sessions (Flask-Login), CSRF on the dashboard's forms, the blueprint."""
    from .common import load_user

    login = LoginManager()
    login.login_view = "dashboard.login"
    login.login_message = "Please log in to see this page."
    login.session_protection = "strong"
    login.user_loader(load_user)
    login.init_app(app)

    # CSRF is checked by the dashboard itself (see common.protect_forms): the JSON API (Bearer tokens), the
    # OCPP WebSocket and the SOAP services are not browser forms and must never need a token.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    # Cookie flags (HttpOnly, SameSite, Secure): cms.web.security.
    csrf = CSRFProtect(app)
    app.extensions["dashboard_csrf"] = csrf

    for name in VIEW_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    app.register_blueprint(bp)
    if "index" not in app.view_functions:
        app.add_url_rule("/", "index", lambda: redirect(url_for("dashboard.home")))
