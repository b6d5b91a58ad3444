"""Operator API: a station's grid connection limit, its external load, and its live load (site load
management, cms.loadmgmt)."""

from __future__ import annotations

from flask import g, jsonify

from cms import visibility
from cms.loadmgmt import site_limits
from cms.loadmgmt.state import station_snapshot
from cms.loadmgmt.view import load_view
from cms.models import utcnow

from . import bp, spec
from .auth import require_user
from .driver_common import BodySchema, body, ok, path_id, runtime
from .openapi import error_responses
from .operator_common import OPERATOR_ROLES
from .operator_stations import STATION_ID

TAG = ["operator stations"]

LIMIT_BODY = BodySchema(
    {
        "type": "object",
        "required": ["maxCurrentA"],
        "additionalProperties": False,
        "properties": {
            "maxCurrentA": {
                "type": "number",
                "minimum": 0,
                "maximum": site_limits.MAX_CURRENT_A,
                "description": "the grid connection's limit in amperes per phase",
                "example": 32,
            },
            "phases": {"type": "integer", "enum": [1, 3], "default": 3},
            "minCurrentA": {
                "type": "number",
                "minimum": 0,
                "maximum": 80,
                "default": 6,
                "description": "the least current a session gets (IEC 61851: 6 A); below it a session waits",
            },
            "voltageV": {"type": "number", "minimum": 100, "maximum": 1000, "default": 230},
        },
    }
)
EXTERNAL_BODY = BodySchema(
    {
        "type": "object",
        "required": ["currentA"],
        "additionalProperties": False,
        "properties": {
            "currentA": {
                "type": "array",
                "minItems": 1,
                "maxItems": 3,
                "items": {"type": "number", "minimum": 0, "maximum": site_limits.MAX_CURRENT_A},
                "description": "the rest of the building's current now, amperes per phase, L1 first",
                "example": [10.5, 8, 12],
            }
        },
    }
)
LIMIT = spec.schema(
    "StationLoadLimit",
    {
        "type": "object",
        "required": ["enabled", "maxCurrentA", "phases", "minCurrentA", "voltageV", "externalLoadA"],
        "properties": {
            "enabled": {"type": "boolean"},
            "maxCurrentA": {"type": "number"},
            "phases": {"type": "integer", "enum": [1, 3]},
            "minCurrentA": {"type": "number"},
            "voltageV": {"type": "number"},
            "externalLoadA": {"type": "array", "items": {"type": "number"}},
        },
    },
)
LOAD = spec.schema(
    "StationLoad",
    {
        "type": "object",
        "required": ["enabled", "maxCurrentA", "phases", "allocatedA", "measuredA", "allocations"],
        "properties": {
            "enabled": {"type": "boolean"},
            "maxCurrentA": {"type": "number", "nullable": True, "description": "A per phase; null: no limit set"},
            "phases": {"type": "integer", "nullable": True},
            "minCurrentA": {"type": "number", "nullable": True},
            "voltageV": {"type": "number", "nullable": True},
            "externalLoadA": {"type": "array", "items": {"type": "number"}},
            "allocatedA": {
                "type": "number",
                "description": "the most allocated on a phase: managed sessions' limits, unmanaged at their maximum",
            },
            "measuredA": {"type": "number", "description": "the most drawn on a phase now (Current.Import)"},
            "allocations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["chargePointId", "connectorId", "transactionId", "limitA", "measuredA", "managed"],
                    "properties": {
                        "chargePointId": {"type": "string"},
                        "connectorId": {"type": "integer"},
                        "transactionId": {"type": "integer"},
                        "limitA": {
                            "type": "number",
                            "nullable": True,
                            "description": "A per phase (0: paused); an unmanaged charger's maximum",
                        },
                        "measuredA": {"type": "number", "nullable": True},
                        "managed": {
                            "type": "boolean",
                            "description": "false: the charger takes no profiles (OCPP 1.5, or it refused one)",
                        },
                        "reason": {
                            "type": "string",
                            "nullable": True,
                            "enum": [
                                "share",
                                "own_max",
                                "not_taking",
                                "paused",
                                "below_minimum",
                                "unmanaged",
                                None,
                            ],
                        },
                        "status": {"type": "string", "nullable": True},
                    },
                },
            },
            "chargePoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "chargePointId": {"type": "string"},
                        "managed": {"type": "boolean"},
                        "maxCurrentA": {"type": "number", "nullable": True},
                        "fallbackA": {
                            "type": "number",
                            "nullable": True,
                            "description": "its accepted TxDefaultProfile limit (what it draws without the CMS)",
                        },
                    },
                },
            },
        },
    },
)


def _manager():
    return runtime().load_manager


@bp.put("/stations/<station_id>/load-limit")
@require_user(*OPERATOR_ROLES)
def put_load_limit(station_id: str):
    data = LIMIT_BODY.load()
    sid = path_id(station_id, "station")
    with runtime().db.uow() as uow:
        row = site_limits.set_limit(
            uow.session,
            g.user,
            sid,
            max_current_a=data["maxCurrentA"],
            phases=data.get("phases", site_limits.DEFAULT_PHASES),
            min_current_a=data.get("minCurrentA", site_limits.DEFAULT_MIN_CURRENT_A),
            voltage_v=data.get("voltageV", site_limits.DEFAULT_VOLTAGE_V),
        )
        view = site_limits.limit_view(row)
        uow.commit()
    if _manager() is not None:
        _manager().limit_changed(sid, enabled=True)
    return jsonify(view)


@bp.delete("/stations/<station_id>/load-limit")
@require_user(*OPERATOR_ROLES)
def delete_load_limit(station_id: str):
    sid = path_id(station_id, "station")
    with runtime().db.uow() as uow:
        was_on = site_limits.switch_off(uow.session, g.user, sid)
        uow.commit()
    if was_on and _manager() is not None:
        _manager().limit_changed(sid, enabled=False)
    return "", 204


@bp.put("/stations/<station_id>/external-load")
@require_user(*OPERATOR_ROLES)
def put_external_load(station_id: str):
    data = EXTERNAL_BODY.load()
    sid = path_id(station_id, "station")
    with runtime().db.uow() as uow:
        row = site_limits.set_external_load(uow.session, g.user, sid, data["currentA"])
        view = site_limits.limit_view(row)
        uow.commit()
    if _manager() is not None:
        _manager().load_changed(sid)
    return jsonify(view)


@bp.get("/stations/<station_id>/load")
@require_user(*OPERATOR_ROLES)
def get_load(station_id: str):
    sid = path_id(station_id, "station")
    with runtime().db.uow() as uow:
        visibility.station(uow.session, g.user, sid)
        snapshot = station_snapshot(uow.session, sid, utcnow())
    return jsonify(load_view(snapshot))


spec.operation(
    "/stations/{stationId}/load-limit",
    "put",
    {
        "summary": "Set (and switch on) a station's grid connection limit: site load management",
        "tags": TAG,
        "parameters": [STATION_ID],
        "requestBody": body(LIMIT_BODY),
        "responses": {**ok("The limit as stored", LIMIT), **error_responses(401, 403, 404, 422)},
        "description": "The station's charging sessions share `maxCurrentA` per phase (minus the external load): "
        "each gets at least `minCurrentA` or waits (the newest first), the rest is shared equally, and power a "
        "car does not take goes to the others. Chargers are driven with OCPP 1.6 SetChargingProfile (a TxProfile "
        "per session, a TxDefaultProfile fallback per charge point, in A, rounded down to 0.1 A); OCPP 1.5 "
        "chargers and chargers that refuse profiles are counted at their maximum (`maxCurrentA` of the charge "
        "point, else 32 A). Another owner's station is 404.",
    },
)
spec.operation(
    "/stations/{stationId}/load-limit",
    "delete",
    {
        "summary": "Switch a station's load management off (the limit is kept for later)",
        "tags": TAG,
        "parameters": [STATION_ID],
        "responses": {"204": {"description": "Off"}, **error_responses(401, 403, 404)},
        "description": "The profiles load management gave its chargers are cleared. Another owner's station is 404.",
    },
)
spec.operation(
    "/stations/{stationId}/external-load",
    "put",
    {
        "summary": "Report the rest of the building's current (a site meter): taken off the station's limit",
        "tags": TAG,
        "parameters": [STATION_ID],
        "requestBody": body(EXTERNAL_BODY),
        "responses": {**ok("The limit with the external load", LIMIT), **error_responses(401, 403, 404, 422)},
        "description": "Amperes per phase, L1 first (as many values as the limit has phases, at most). It stays "
        "until the next report: push it as often as the meter reads (each report re-allocates the station). "
        "404 when the station has no limit.",
    },
)
spec.operation(
    "/stations/{stationId}/load",
    "get",
    {
        "summary": "A station's live load: its limit, the total allocated and drawn, each session's limit and draw",
        "tags": TAG,
        "parameters": [STATION_ID],
        "responses": {**ok("The station's load", LOAD), **error_responses(401, 403, 404)},
        "description": "Amperes per phase. Another owner's station is 404.",
    },
)
