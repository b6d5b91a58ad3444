"""Operator API: CMS-initiated OCPP commands, local lists, configuration cache, firmware uploads, charge points."""

from __future__ import annotations

import json
from importlib import resources

from flask import g, jsonify, request

from cms import commands, queries
from cms.chargepoints import add_charge_point, owned_charge_point
from cms.errors import InvalidInput
from cms.models import ChargePoint, Connector, utcnow
from cms.queries import is_online
from cms.runtime import Runtime
from cms.web.context import runtime

from . import bp, spec
from .auth import require_user
from .errors import ApiError
from .openapi import error_responses

_CP_PARAM = {"name": "chargePointId", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 48}}


def _rt() -> Runtime:
    return runtime()


def _json_object() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_input", "The request body must be a JSON object")
    return body


@bp.post("/charge-points/<path:charge_point_id>/commands/<action>")
@require_user("owner")
def send_command(charge_point_id: str, action: str):
    rt = _rt()
    payload = _json_object()
    if action not in commands.COMMANDS_16:
        raise ApiError(404, "unknown_command", f"{action} is not a CMS-initiated OCPP 1.6 command")
    if action == "GetDiagnostics" and "location" not in payload:
        payload["location"] = rt.files.diagnostics_upload_url(charge_point_id)
    return jsonify(commands.send_command(rt, g.user, charge_point_id, action, payload))


@bp.post("/charge-points/<path:charge_point_id>/local-list")
@require_user("owner")
def sync_local_list(charge_point_id: str):
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_input", "The request body must be a JSON object")
    return jsonify(commands.sync_local_list(_rt(), g.user, charge_point_id, body.get("updateType", "Differential")))


@bp.get("/charge-points/<path:charge_point_id>/configuration")
@require_user("owner")
def configuration(charge_point_id: str):
    with _rt().db.uow() as uow:
        cp = owned_charge_point(uow.session, g.user, charge_point_id)
        rows = queries.configuration(uow.session, cp.id)
        return jsonify(
            [
                {
                    "key": r.key,
                    "value": r.value,
                    "readonly": r.readonly,
                    "unknown": r.unknown,
                    "lastChangeStatus": r.last_change_status,
                }
                for r in rows
            ]
        )


def charge_point_view(cp: ChargePoint, connectors: list[Connector]) -> dict:
    """The API's shape of a charge point, the same whatever transport it speaks (a SOAP charger holds no
    connection: it counts as connected while it keeps sending heartbeats)."""
    rt = _rt()
    online = is_online(cp, utcnow(), rt.settings.heartbeat_interval)
    return {
        "id": cp.identity,
        "transport": cp.transport,
        "ocppVersion": cp.ocpp_version,
        "connected": online,
        "registrationStatus": cp.registration_status,
        "vendor": cp.vendor,
        "model": cp.model,
        "firmwareVersion": cp.firmware_version,
        "stationId": cp.station_id,
        "lastSeen": cp.last_seen_at.isoformat() if cp.last_seen_at else None,
        "hasPassword": bool(cp.password_hash),
        "maxCurrentA": cp.max_current_a,
        "connectors": [
            {
                "connectorId": c.connector_id,
                "status": c.status,
                "errorCode": c.error_code,
                "connectorType": c.connector_type,
                "maxPowerKw": c.max_power_kw,
            }
            for c in connectors
        ],
    }


@bp.get("/charge-points")
@require_user("owner")
def list_charge_points():
    with _rt().db.uow() as uow:
        cps = queries.visible_charge_points(uow.session, g.user)
        return jsonify([charge_point_view(cp, cp.connectors) for cp in cps])


@bp.get("/charge-points/<path:charge_point_id>")
@require_user("owner")
def get_charge_point(charge_point_id: str):
    with _rt().db.uow() as uow:
        cp = owned_charge_point(uow.session, g.user, charge_point_id)
        return jsonify(charge_point_view(cp, cp.connectors))


@bp.post("/charge-points")
@require_user("owner")
def create_charge_point():
    body = _json_object()
    identity = body.get("id")
    password = body.get("password")
    station = body.get("station")
    for name, value in (("id", identity), ("password", password), ("station", station)):
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string")
    if not identity:
        raise InvalidInput("id is required")
    with _rt().db.uow() as uow:
        user = uow.session.merge(g.user)
        cp = add_charge_point(uow.session, identity, user, password=password or None, station_name=station)
        uow.commit()
        return jsonify(charge_point_view(cp, [])), 201


@bp.post("/firmware")
@require_user("owner")
def upload_firmware():
    if not request.files:
        raise InvalidInput("Upload the firmware image as multipart/form-data (field 'file')")
    upload = request.files.get("file") or next(iter(request.files.values()))
    name, url = _rt().files.save_firmware(upload.filename or "firmware.bin", upload.stream)
    return jsonify({"name": name, "location": url}), 201


# ---------------------------------------------------------------------------------------------- OpenAPI


def _ocpp_schema(name: str) -> dict:
    schema = json.loads((resources.files("ocpp") / "v16" / "schemas" / f"{name}.json").read_text("utf-8-sig"))
    for key in ("$schema", "id", "title"):
        schema.pop(key, None)
    return schema


def _describe() -> None:
    cp_view = spec.schema(
        "ChargePoint",
        {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "transport": {"type": "string", "enum": ["json", "soap"]},
                "ocppVersion": {"type": "string"},
                "connected": {"type": "boolean"},
                "registrationStatus": {"type": "string", "nullable": True},
                "vendor": {"type": "string", "nullable": True},
                "model": {"type": "string", "nullable": True},
                "firmwareVersion": {"type": "string", "nullable": True},
                "stationId": {"type": "integer", "nullable": True},
                "lastSeen": {"type": "string", "format": "date-time", "nullable": True},
                "hasPassword": {"type": "boolean", "description": "whether the charger must use HTTP Basic auth"},
                "maxCurrentA": {"type": "number", "nullable": True, "description": "amperes per phase"},
                "connectors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "connectorId": {"type": "integer"},
                            "status": {"type": "string"},
                            "errorCode": {"type": "string"},
                            "connectorType": {"type": "string", "nullable": True},
                            "maxPowerKw": {"type": "number", "nullable": True},
                        },
                    },
                },
            },
        },
    )
    for action in sorted(commands.COMMANDS_16):
        req = spec.schema(f"{action}Request", _ocpp_schema(action))
        res = spec.schema(f"{action}Response", _ocpp_schema(action + "Response"))
        spec.operation(
            f"/charge-points/{{chargePointId}}/commands/{action}",
            "post",
            {
                "tags": ["commands"],
                "summary": f"Send {action} to the charge point (any transport and version)",
                "operationId": f"command{action}",
                "parameters": [_CP_PARAM],
                "requestBody": {"required": True, "content": {"application/json": {"schema": req}}},
                "responses": {
                    "200": {"description": "The charger's answer", "content": {"application/json": {"schema": res}}},
                    **error_responses(401, 403, 404, 409, 422, 502, 503, 504),
                },
            },
        )
    spec.operation(
        "/charge-points/{chargePointId}/local-list",
        "post",
        {
            "tags": ["commands"],
            "summary": "Send the owner's id tags as the charger's local list",
            "parameters": [_CP_PARAM],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"updateType": {"type": "string", "enum": ["Full", "Differential"]}},
                        }
                    }
                }
            },
            "responses": {
                "200": {
                    "description": "The list sent and the answer",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"request": {"type": "object"}, "response": {"type": "object"}},
                            }
                        }
                    },
                },
                **error_responses(401, 403, 404, 409, 422, 502, 503, 504),
            },
        },
    )
    spec.operation(
        "/charge-points/{chargePointId}/configuration",
        "get",
        {
            "tags": ["charge points"],
            "summary": "Configuration keys as the charger last reported or accepted them",
            "parameters": [_CP_PARAM],
            "responses": {
                "200": {
                    "description": "Configuration",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "key": {"type": "string"},
                                        "value": {"type": "string", "nullable": True},
                                        "readonly": {"type": "boolean"},
                                        "unknown": {"type": "boolean"},
                                        "lastChangeStatus": {"type": "string", "nullable": True},
                                    },
                                },
                            }
                        }
                    },
                },
                **error_responses(401, 403, 404),
            },
        },
    )
    spec.operation(
        "/charge-points",
        "get",
        {
            "tags": ["charge points"],
            "summary": "The caller's charge points",
            "responses": {
                "200": {
                    "description": "Charge points",
                    "content": {"application/json": {"schema": {"type": "array", "items": cp_view}}},
                },
                **error_responses(401, 403),
            },
        },
    )
    spec.operation(
        "/charge-points",
        "post",
        {
            "tags": ["charge points"],
            "summary": "Add a charge point",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["id"],
                            "properties": {
                                "id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,48}$"},
                                "password": {"type": "string", "minLength": 16, "maxLength": 40},
                                "station": {"type": "string", "maxLength": 120},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {"description": "Created", "content": {"application/json": {"schema": cp_view}}},
                **error_responses(401, 403, 409, 422),
            },
        },
    )
    spec.operation(
        "/charge-points/{chargePointId}",
        "get",
        {
            "tags": ["charge points"],
            "summary": "A charge point with its connectors",
            "parameters": [_CP_PARAM],
            "responses": {
                "200": {"description": "Charge point", "content": {"application/json": {"schema": cp_view}}},
                **error_responses(401, 403, 404),
            },
        },
    )
    spec.operation(
        "/firmware",
        "post",
        {
            "tags": ["commands"],
            "summary": "Upload a firmware image; returns the location for UpdateFirmware",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "Stored",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"name": {"type": "string"}, "location": {"type": "string"}},
                            }
                        }
                    },
                },
                **error_responses(401, 403, 422),
            },
        },
    )


_describe()
