"""Reservations and charging sessions of the signed-in driver, over JSON."""

from __future__ import annotations

from flask import g, jsonify

from cms import driver_sessions as ds

from . import bp, spec
from .auth import require_user
from .driver_common import MAX_ID, BodySchema, body, ok, path_id, path_param, query_int, query_param, query_str, runtime
from .openapi import error_responses

RES_TAG = ["reservations"]
SES_TAG = ["charging"]
CHARGER_ERRORS = (401, 402, 403, 404, 409, 422, 502, 503, 504)

RESERVATION = spec.schema(
    "Reservation",
    {
        "type": "object",
        "required": ["id", "chargePointId", "connectorId", "status", "idTag", "startsAt", "expiresAt", "sessionId"],
        "properties": {
            "id": {"type": "integer"},
            "chargePointId": {"type": "string"},
            "connectorId": {"type": "integer"},
            "status": {
                "type": "string",
                "enum": [
                    "Requested",
                    "Accepted",
                    "Faulted",
                    "Occupied",
                    "Rejected",
                    "Unavailable",
                    "Used",
                    "Cancelled",
                    "Expired",
                    "Failed",
                ],
            },
            "idTag": {"type": "string"},
            "startsAt": {"type": "string", "format": "date-time"},
            "expiresAt": {"type": "string", "format": "date-time"},
            "sessionId": {"type": "integer", "nullable": True, "description": "the session that used it"},
        },
    },
)
BAND_USE = {
    "type": "object",
    "required": ["from", "to", "label", "pricePerKwh", "energyKwh", "cost"],
    "properties": {
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
        "label": {"type": "string"},
        "pricePerKwh": {"type": "number"},
        "energyKwh": {"type": "number"},
        "cost": {"type": "number"},
    },
}
SESSION = spec.schema(
    "ChargingSession",
    {
        "type": "object",
        "required": [
            "id",
            "status",
            "chargePointId",
            "connectorId",
            "stationId",
            "stationName",
            "startedAt",
            "stoppedAt",
            "durationSeconds",
            "energyKwh",
            "powerKw",
            "cost",
            "currency",
            "stopReason",
            "breakdown",
        ],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["active", "finished"]},
            "chargePointId": {"type": "string"},
            "connectorId": {"type": "integer"},
            "stationId": {"type": "integer", "nullable": True},
            "stationName": {"type": "string", "nullable": True},
            "startedAt": {"type": "string", "format": "date-time"},
            "stoppedAt": {"type": "string", "format": "date-time", "nullable": True},
            "durationSeconds": {"type": "integer"},
            "energyKwh": {"type": "number"},
            "powerKw": {"type": "number", "description": "latest power while active"},
            "cost": {"type": "number", "description": "so far while active, final once finished"},
            "currency": {"type": "string"},
            "stopReason": {"type": "string", "nullable": True},
            "breakdown": {"type": "array", "items": BAND_USE, "description": "energy and cost per tariff band"},
        },
    },
)
START_RESULT = spec.schema(
    "StartResult",
    {
        "type": "object",
        "required": ["status", "chargePointId", "connectorId", "idTag"],
        "properties": {
            "status": {"type": "string", "enum": ["Accepted"]},
            "chargePointId": {"type": "string"},
            "connectorId": {"type": "integer"},
            "idTag": {"type": "string"},
        },
    },
)
STOP_RESULT = spec.schema(
    "StopResult",
    {
        "type": "object",
        "required": ["status", "sessionId"],
        "properties": {"status": {"type": "string", "enum": ["Accepted"]}, "sessionId": {"type": "integer"}},
    },
)

CHARGER_REF = {
    "chargePointId": {"type": "string", "minLength": 1, "maxLength": 48},
    "connectorId": {"type": "integer", "minimum": 1, "maximum": 100},
}
RESERVE_BODY = BodySchema(
    {
        "type": "object",
        "required": ["chargePointId", "connectorId"],
        "properties": {
            **CHARGER_REF,
            "durationMinutes": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "how long to hold it, from now (at most the configured maximum, 120 by default)",
            },
        },
    }
)
START_BODY = BodySchema({"type": "object", "required": ["chargePointId", "connectorId"], "properties": CHARGER_REF})


@bp.post("/reservations")
@require_user("driver")
def make_reservation():
    data = RESERVE_BODY.load()
    view = ds.reserve(runtime(), g.user, data["chargePointId"], data["connectorId"], data.get("durationMinutes", 30))
    return jsonify(view), 201


@bp.get("/reservations")
@require_user("driver")
def list_reservations():
    limit = query_int("limit", 50, 1, 200)
    with runtime().db.uow() as uow:
        views = ds.reservations(uow.session, g.user, limit)
        uow.commit()
    return jsonify(views)


@bp.get("/reservations/<reservation_id>")
@require_user("driver")
def get_reservation(reservation_id: str):
    with runtime().db.uow() as uow:
        view = ds.reservation(uow.session, g.user, path_id(reservation_id, "reservation"))
        uow.commit()
    return jsonify(view)


@bp.delete("/reservations/<reservation_id>")
@require_user("driver")
def cancel_reservation(reservation_id: str):
    return jsonify(ds.cancel_reservation(runtime(), g.user, path_id(reservation_id, "reservation")))


RES_ID = path_param("reservationId", "reservation id")
spec.operation(
    "/reservations",
    "post",
    {
        "summary": "Reserve a connector (ReserveNow); 409 with the charger's answer when it does not accept",
        "tags": RES_TAG,
        "requestBody": body(RESERVE_BODY),
        "responses": {**ok("Reserved", RESERVATION, "201"), **error_responses(*CHARGER_ERRORS)},
    },
)
spec.operation(
    "/reservations",
    "get",
    {
        "summary": "Your reservations, newest first",
        "tags": RES_TAG,
        "parameters": [
            query_param("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size")
        ],
        "responses": {**ok("Reservations", {"type": "array", "items": RESERVATION}), **error_responses(401, 403, 422)},
    },
)
spec.operation(
    "/reservations/{reservationId}",
    "get",
    {
        "summary": "One of your reservations",
        "tags": RES_TAG,
        "parameters": [RES_ID],
        "responses": {**ok("Reservation", RESERVATION), **error_responses(401, 403, 404)},
    },
)
spec.operation(
    "/reservations/{reservationId}",
    "delete",
    {
        "summary": "Cancel a reservation (CancelReservation)",
        "tags": RES_TAG,
        "parameters": [RES_ID],
        "responses": {**ok("Cancelled", RESERVATION), **error_responses(401, 403, 404, 409, 502, 503, 504)},
    },
)


@bp.post("/sessions")
@require_user("driver")
def start_session():
    data = START_BODY.load()
    return jsonify(ds.start_charging(runtime(), g.user, data["chargePointId"], data["connectorId"])), 202


@bp.get("/sessions")
@require_user("driver")
def list_sessions():
    status = query_str("status", 10, choices=("active", "finished"))
    limit = query_int("limit", 20, 1, 100)
    offset = query_int("offset", 0, 0, 1_000_000)
    rt = runtime()
    with rt.db.uow() as uow:
        return jsonify(ds.sessions(uow.session, g.user, rt.settings, status=status, limit=limit, offset=offset))


@bp.get("/sessions/<session_id>")
@require_user("driver")
def get_session(session_id: str):
    rt = runtime()
    with rt.db.uow() as uow:
        return jsonify(ds.charging_session(uow.session, g.user, rt.settings, path_id(session_id, "session")))


@bp.post("/sessions/<session_id>/stop")
@require_user("driver")
def stop_session(session_id: str):
    return jsonify(ds.stop_charging(runtime(), g.user, path_id(session_id, "session"))), 202


SES_ID = path_param("sessionId", "session (OCPP transaction) id")
spec.operation(
    "/sessions",
    "post",
    {
        "summary": "Start charging (RemoteStartTransaction with your id tag); 402 when the balance is too low",
        "tags": SES_TAG,
        "requestBody": body(START_BODY),
        "responses": {
            **ok("The charger accepted; the session appears once it starts", START_RESULT, "202"),
            **error_responses(*CHARGER_ERRORS),
        },
    },
)
spec.operation(
    "/sessions",
    "get",
    {
        "summary": "Your charging sessions, newest first, with kWh, duration and cost",
        "tags": SES_TAG,
        "parameters": [
            query_param("status", {"type": "string", "enum": ["active", "finished"]}, "only these"),
            query_param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "page size"),
            query_param("offset", {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0}, "skip"),
        ],
        "responses": {**ok("Sessions", {"type": "array", "items": SESSION}), **error_responses(401, 403, 422)},
    },
)
spec.operation(
    "/sessions/{sessionId}",
    "get",
    {
        "summary": "A session, live while it runs: energy, power, elapsed time, cost so far, per-band breakdown",
        "tags": SES_TAG,
        "parameters": [SES_ID],
        "responses": {**ok("Session", SESSION), **error_responses(401, 403, 404)},
    },
)
spec.operation(
    "/sessions/{sessionId}/stop",
    "post",
    {
        "summary": "Stop charging (RemoteStopTransaction)",
        "tags": SES_TAG,
        "parameters": [SES_ID],
        "responses": {
            **ok("The charger accepted", STOP_RESULT, "202"),
            **error_responses(401, 403, 404, 409, 502, 503, 504),
        },
    },
)
