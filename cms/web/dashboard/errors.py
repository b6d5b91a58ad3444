"""Errors of the dashboard as pages (or bare fragments for HTMX requests)."""

from __future__ import annotations

from flask import render_template
from flask_wtf.csrf import CSRFError

from cms.errors import InvalidInput, NotFound

from . import bp
from .common import is_htmx


def _page(status: int, title: str, message: str):
    template = "dashboard/_error.html" if is_htmx() else "dashboard/error.html"
    return render_template(template, status=status, title=title, message=message), status


@bp.errorhandler(NotFound)
def not_found(e):
    return _page(404, "Not found", str(e) or "There is nothing here.")


@bp.errorhandler(404)
def http_not_found(e):
    return _page(404, "Not found", "There is nothing here.")


@bp.errorhandler(CSRFError)
def csrf_failed(e):
    return _page(
        400,
        "Form expired",
        "The form was not accepted (its security token is missing or stale). Reload the page and try again.",
    )


@bp.errorhandler(400)
def bad_request(e):
    return _page(400, "Bad request", getattr(e, "description", "") or "The request was not understood.")


@bp.errorhandler(InvalidInput)
def invalid(e):
    return _page(422, "Not possible", str(e))
