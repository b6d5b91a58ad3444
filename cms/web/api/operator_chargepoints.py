"""Operator API: a charge point's settings (station, Basic-auth password, current limit, connector type and power)."""

from __future__ import annotations

from flask import g, jsonify

from cms import chargepoints
from cms.drivers import CONNECTOR_TYPES

from . import bp, spec
from .auth import require_user
from .commands import charge_point_view
from .driver_common import MAX_ID, BodySchema, body, ok, runtime
from .openapi import error_responses
from .operator_common import OPERATOR_ROLES

TAG = ["operator charge points"]

CONNECTOR = {
    "type": "object",
    "required": ["connectorId"],
    "additionalProperties": False,
    "properties": {
        "connectorId": {"type": "integer", "minimum": 1, "maximum": chargepoints.MAX_CONNECTOR_ID},
        "connectorType": {"type": "string", "enum": list(CONNECTOR_TYPES), "nullable": True},
        "maxPowerKw": {
            "type": "number",
            "minimum": chargepoints.MIN_POWER_KW,
            "maximum": chargepoints.MAX_POWER_KW,
            "nullable": True,
        },
    },
}
PATCH_BODY = BodySchema(
    {
        "type": "object",
        "additionalProperties": False,
        "description": "only the fields given change",
        "properties": {
            "stationId": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "nullable": True,
                "description": "a station of the charge point's owner; null: no station",
            },
            "password": {
                "type": "string",
                "minLength": 16,
                "maxLength": 40,
                "nullable": True,
                "description": "HTTP Basic password the charger must send (OCPP security profile 1); null: none",
            },
            "maxCurrentA": {
                "type": "number",
                "minimum": 0,
                "maximum": chargepoints.MAX_CURRENT_A,
                "nullable": True,
                "description": "the most the charger may draw, amperes per phase, stored rounded down to "
                "0.1 A; null: no limit of its own",
            },
            "connectors": {
                "type": "array",
                "maxItems": chargepoints.MAX_CONNECTOR_ID,
                "items": CONNECTOR,
                "description": "per connector, only the fields given change; a connector the charger has "
                "not reported yet is added",
            },
        },
    }
)
CHARGE_POINT = {"$ref": "#/components/schemas/ChargePoint"}  # described in commands.py
CP_PARAM = {
    "name": "chargePointId",
    "in": "path",
    "required": True,
    "description": "charge point identity",
    "schema": {"type": "string", "minLength": 1, "maxLength": 48},
}

# API field -> core keyword
_FIELDS = {"stationId": "station_id", "password": "password", "maxCurrentA": "max_current_a"}
_CONNECTOR_FIELDS = {"connectorId": "connector_id", "connectorType": "connector_type", "maxPowerKw": "max_power_kw"}


@bp.patch("/charge-points/<path:charge_point_id>")
@require_user(*OPERATOR_ROLES)
def patch_charge_point(charge_point_id: str):
    data = PATCH_BODY.load()
    changes = {_FIELDS[k]: v for k, v in data.items() if k in _FIELDS}
    if "connectors" in data:
        changes["connectors"] = [{_CONNECTOR_FIELDS[k]: v for k, v in c.items()} for c in data["connectors"]]
    with runtime().db.uow() as uow:
        cp = chargepoints.patch_charge_point(uow.session, g.user, charge_point_id, **changes)
        uow.commit()
        return jsonify(charge_point_view(cp, cp.connectors))


spec.operation(
    "/charge-points/{chargePointId}",
    "patch",
    {
        "summary": "Assign to a station, set or clear the password, the current limit, connector type and power",
        "tags": TAG,
        "parameters": [CP_PARAM],
        "requestBody": body(PATCH_BODY),
        "responses": {**ok("The charge point as stored", CHARGE_POINT), **error_responses(401, 403, 404, 422)},
        "description": "Only the fields given change. Another owner's charge point is 404; a station the caller "
        "cannot see, or of another owner than the charge point's, is 422. A new password applies from "
        "the charger's next connection.",
    },
)
