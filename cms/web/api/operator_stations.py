"""Operator API: the caller's stations (list, create, change, delete). ``GET /stations/{id}`` stays the public
detail in stations.py."""

from __future__ import annotations

from flask import g, jsonify

from cms import stations

from . import bp, spec
from .auth import require_user
from .driver_common import BodySchema, body, ok, path_id, path_param, runtime
from .errors import error_response
from .openapi import error_responses
from .operator_common import OPERATOR_ROLES, page_args, page_params, page_schema

TAG = ["operator stations"]

_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 120, "description": "unique among the owner's stations"},
    "address": {"type": "string", "maxLength": 255},
    "latitude": {
        "type": "number",
        "minimum": -90,
        "maximum": 90,
        "nullable": True,
        "description": "with longitude, or both null",
    },
    "longitude": {"type": "number", "minimum": -180, "maximum": 180, "nullable": True},
    "timezone": {
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "example": "Europe/Berlin",
        "description": "an IANA time zone; the station's tariff bands are in its local time",
    },
}
CREATE_BODY = BodySchema({"type": "object", "required": ["name"], "additionalProperties": False, "properties": _FIELDS})
PATCH_BODY = BodySchema(
    {
        "type": "object",
        "additionalProperties": False,
        "properties": _FIELDS,
        "description": "only the fields given change",
    }
)
STATION = spec.schema(
    "OperatorStation",
    {
        "type": "object",
        "required": ["id", "name", "address", "latitude", "longitude", "timezone", "chargePointCount"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "address": {"type": "string"},
            "latitude": {"type": "number", "nullable": True},
            "longitude": {"type": "number", "nullable": True},
            "timezone": {"type": "string"},
            "chargePointCount": {"type": "integer"},
        },
    },
)
STATION_PAGE = page_schema("OperatorStationPage", STATION)
STATION_ID = path_param("stationId", "station id")
PAGE_DEFAULT = 100


@bp.errorhandler(stations.StationInUse)
def _station_in_use(e: stations.StationInUse):
    return error_response(409, "station_in_use", str(e), {"chargePointIds": e.charge_point_ids})


@bp.get("/stations")
@require_user(*OPERATOR_ROLES)
def list_stations():
    limit, after = page_args(PAGE_DEFAULT, stations.MAX_PAGE)
    with runtime().db.uow() as uow:
        return jsonify(stations.list_stations(uow.session, g.user, limit=limit, after=after))


@bp.post("/stations")
@require_user(*OPERATOR_ROLES)
def create_station():
    data = CREATE_BODY.load()
    with runtime().db.uow() as uow:
        station = stations.create_station(uow.session, g.user, **data)
        uow.commit()
        return jsonify(stations.station_view(station, 0)), 201


@bp.patch("/stations/<station_id>")
@require_user(*OPERATOR_ROLES)
def patch_station(station_id: str):
    data = PATCH_BODY.load()
    with runtime().db.uow() as uow:
        station = stations.patch_station(uow.session, g.user, path_id(station_id, "station"), **data)
        view = stations.station_view(station, stations.charge_point_count(uow.session, station.id))
        uow.commit()
    return jsonify(view)


@bp.delete("/stations/<station_id>")
@require_user(*OPERATOR_ROLES)
def delete_station(station_id: str):
    with runtime().db.uow() as uow:
        stations.delete_unused_station(uow.session, g.user, path_id(station_id, "station"))
        uow.commit()
    return "", 204


spec.operation(
    "/stations",
    "get",
    {
        "summary": "The caller's stations (administrators: everybody's), by id",
        "tags": TAG,
        "parameters": page_params(PAGE_DEFAULT, stations.MAX_PAGE),
        "responses": {**ok("Stations", STATION_PAGE), **error_responses(401, 403, 422)},
    },
)
spec.operation(
    "/stations",
    "post",
    {
        "summary": "Create a station of the caller",
        "tags": TAG,
        "requestBody": body(CREATE_BODY),
        "responses": {**ok("Created", STATION, "201"), **error_responses(401, 403, 409, 422)},
        "description": "409 when the caller has a station of that name already; 422 for an unknown time zone or "
        "only one of latitude and longitude.",
    },
)
spec.operation(
    "/stations/{stationId}",
    "patch",
    {
        "summary": "Change a station's name, address, coordinates or time zone",
        "tags": TAG,
        "parameters": [STATION_ID],
        "requestBody": body(PATCH_BODY),
        "responses": {**ok("The station as stored", STATION), **error_responses(401, 403, 404, 409, 422)},
        "description": "Only the fields given change. Another owner's station is 404.",
    },
)
spec.operation(
    "/stations/{stationId}",
    "delete",
    {
        "summary": "Delete a station that has no charge points (its tariff goes with it)",
        "tags": TAG,
        "parameters": [STATION_ID],
        "responses": {"204": {"description": "Deleted"}, **error_responses(401, 403, 404, 409)},
        "description": "Refused with 409 (`station_in_use`, the charge point ids in `details.chargePointIds`) while "
        "charge points belong to the station, so that no charger silently drops out of the drivers' "
        "search: move them first with `PATCH /charge-points/{chargePointId}` "
        '(`{"stationId": another}` or `{"stationId": null}`). Another owner\'s station is 404.',
    },
)
