"""Every API error is JSON: ``{"error": code, "message": text, "details": {...}}``."""

from __future__ import annotations

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

from cms.db import database_unreachable
from cms.errors import Conflict, InvalidInput, NotFound
from cms.gateway import ChargerCallError, ChargerNotConnected, ChargerTimeout, RoutingUnavailable

from . import bp

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}


def error_response(status: int, code: str, message: str, details: dict | None = None):
    body: dict[str, object] = {"error": code, "message": message}
    if details:
        body["details"] = details
    return jsonify(body), status


@bp.errorhandler(ApiError)
def _api_error(e: ApiError):
    return error_response(e.status, e.code, e.message, e.details)


@bp.errorhandler(NotFound)
def _not_found(e):
    return error_response(404, "not_found", str(e) or "Not found")


@bp.errorhandler(InvalidInput)
def _invalid(e):
    return error_response(422, "invalid_input", str(e))


@bp.errorhandler(Conflict)
def _conflict(e):
    return error_response(409, "conflict", str(e))


@bp.errorhandler(ChargerNotConnected)
def _not_connected(e):
    return error_response(409, "charger_not_connected", str(e))


@bp.errorhandler(RoutingUnavailable)
def _routing_unavailable(e):
    response, status = error_response(503, "routing_unavailable", str(e))
    response.headers["Retry-After"] = "5"
    return response, status


@bp.errorhandler(ChargerCallError)
def _call_error(e: ChargerCallError):
    return error_response(
        502,
        "charger_call_error",
        e.description or e.code,
        {"code": e.code, "description": e.description, "details": e.details},
    )


@bp.errorhandler(ChargerTimeout)
def _timeout(e):
    return error_response(504, "charger_timeout", str(e))


@bp.errorhandler(HTTPException)
def _http(e: HTTPException):
    return error_response(e.code or 500, (e.name or "error").lower().replace(" ", "_"), e.description or e.name)


@bp.errorhandler(Exception)
def _unexpected(e):
    if database_unreachable(e):
        # A pooled connection the database cut (a restart, a failover, an operator's pg_terminate_backend), or
        # no connection to be had: the pool drops the dead ones, so the client's retry is served.
        log.warning("API request: the database could not be used (%s); answered 503", e.__class__.__name__)
        response, status = error_response(503, "database_unavailable", "The database could not be reached; retry")
        response.headers["Retry-After"] = "1"
        return response, status
    log.exception("API error")
    return error_response(500, "internal_error", "Internal server error")
