"""What every dashboard view needs: the runtime, the logged-in owner, CSRF, HTMX detection."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, request
from flask_login import UserMixin, current_user

from cms.models import User
from cms.runtime import Runtime
from cms.web.context import runtime

from . import bp


@dataclass
class SessionUser(UserMixin):
    """The logged-in person as the views and use cases need them (``id``, ``role``); no database session."""

    id: int
    email: str
    name: str
    role: str
    email_verified: bool

    @classmethod
    def of(cls, user: User) -> SessionUser:
        return cls(user.id, user.email, user.name, user.role, user.email_verified_at is not None)


def rt() -> Runtime:
    return runtime()


def credentials():
    return rt().credentials


def load_user(user_id: str) -> SessionUser | None:
    """Flask-Login's loader: an active owner or administrator (drivers use the API, not the dashboard)."""
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return None
    with rt().db.uow() as uow:
        user = uow.session.get(User, uid)
        if user is None or not user.is_active or user.role not in ("owner", "admin"):
            return None
        return SessionUser.of(user)


def owner() -> SessionUser:
    """The current user; views are behind ``login_required``, so this is never anonymous there."""
    return current_user._get_current_object()


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def int_arg(name: str, default: int = 1, minimum: int = 1) -> int:
    try:
        return max(minimum, int(request.args.get(name, default)))
    except ValueError:
        abort(400, f"{name} must be a number")


@bp.before_request
def protect_forms():
    """CSRF for every state-changing request of the dashboard (forms send a field, HTMX a header)."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        current_app.extensions["dashboard_csrf"].protect()


@bp.app_template_filter("kwh")
def kwh(wh) -> str:
    return "–" if wh is None else f"{wh / 1000.0:,.2f} kWh"


@bp.app_template_filter("kw")
def kw(w) -> str:
    return "–" if w is None else f"{w / 1000.0:,.1f} kW"


@bp.app_template_filter("dt")
def dt(value) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")
