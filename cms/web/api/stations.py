"""Finding chargers over JSON: nearby stations, free-text search, station detail with its tariff, FAQ."""

from __future__ import annotations

from flask import g, jsonify

from cms import places, search, tariff

from . import bp, spec
from .auth import require_user
from .driver_common import (
    BodySchema,
    body,
    ok,
    path_id,
    path_param,
    query_float,
    query_int,
    query_param,
    query_str,
    runtime,
)
from .openapi import error_responses

TAG = ["finding chargers"]

PRICE_NOW = {
    "type": "object",
    "nullable": True,
    "description": "null when the station has no tariff (energy is free)",
    "required": ["pricePerKwh", "currency", "label", "from", "until"],
    "properties": {
        "pricePerKwh": {"type": "number"},
        "currency": {"type": "string"},
        "label": {"type": "string"},
        "from": {"type": "string", "description": "local HH:MM the band starts"},
        "until": {"type": "string", "description": "local HH:MM the band ends"},
    },
}
CONNECTOR = spec.schema(
    "StationConnector",
    {
        "type": "object",
        "required": ["chargePointId", "connectorId", "availability", "status", "connectorType", "maxPowerKw"],
        "properties": {
            "chargePointId": {"type": "string"},
            "connectorId": {"type": "integer"},
            "availability": {"type": "string", "enum": ["operative", "inoperative", "in_use", "reserved"]},
            "status": {"type": "string", "description": "the last OCPP status the charger reported"},
            "connectorType": {"type": "string", "nullable": True},
            "maxPowerKw": {"type": "number", "nullable": True},
        },
    },
)
_STATION_PROPS = {
    "id": {"type": "integer"},
    "name": {"type": "string"},
    "address": {"type": "string"},
    "latitude": {"type": "number", "nullable": True},
    "longitude": {"type": "number", "nullable": True},
    "timezone": {"type": "string"},
    "priceNow": PRICE_NOW,
    "availableConnectors": {"type": "integer"},
    "connectors": {"type": "array", "items": CONNECTOR},
}
_STATION_REQUIRED = list(_STATION_PROPS)
STATION = spec.schema("StationSummary", {"type": "object", "required": _STATION_REQUIRED, "properties": _STATION_PROPS})
NEARBY_STATION = spec.schema(
    "NearbyStation",
    {
        "type": "object",
        "required": [*_STATION_REQUIRED, "distanceKm"],
        "properties": {**_STATION_PROPS, "distanceKm": {"type": "number"}},
    },
)
BAND_FIELDS = {
    "start": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$", "example": "22:00"},
    "end": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$", "example": "06:00"},
    "pricePerKwh": {"type": "number", "minimum": 0, "maximum": 100},
    "label": {"type": "string", "maxLength": 40},
}
BAND = spec.schema(
    "TariffBand", {"type": "object", "required": ["start", "end", "pricePerKwh", "label"], "properties": BAND_FIELDS}
)
STATION_DETAIL = spec.schema(
    "StationDetail",
    {
        "type": "object",
        "required": [*_STATION_REQUIRED, "currency", "tariff"],
        "properties": {
            **_STATION_PROPS,
            "currency": {"type": "string"},
            "tariff": {"type": "array", "items": BAND, "description": "time-of-day bands in the station's local time"},
        },
    },
)
PLACE = spec.schema(
    "Place",
    {
        "type": "object",
        "required": ["label", "latitude", "longitude", "kind", "stations"],
        "properties": {
            "label": {"type": "string"},
            "latitude": {"type": "number"},
            "longitude": {"type": "number"},
            "kind": {
                "type": "string",
                "enum": ["coordinates", "area", "station"],
                "description": "typed coordinates; the centre of our stations matching the words; one such station",
            },
            "stations": {"type": "integer", "description": "how many of our stations the place stands for"},
        },
    },
)
HELP = spec.schema(
    "HelpEntry",
    {
        "type": "object",
        "required": ["id", "question", "answer", "category", "position"],
        "properties": {
            "id": {"type": "integer"},
            "question": {"type": "string"},
            "answer": {"type": "string"},
            "category": {"type": "string"},
            "position": {"type": "integer"},
        },
    },
)

TARIFF_BODY = BodySchema(
    {
        "type": "object",
        "required": ["bands"],
        "properties": {
            "bands": {
                "type": "array",
                "maxItems": tariff.MAX_BANDS,
                "items": {"type": "object", "required": ["start", "end", "pricePerKwh"], "properties": BAND_FIELDS},
            }
        },
    }
)
HELP_BODY = BodySchema(
    {
        "type": "object",
        "required": ["question", "answer"],
        "properties": {
            "question": {"type": "string", "minLength": 1, "maxLength": 255},
            "answer": {"type": "string", "minLength": 1, "maxLength": 10000},
            "category": {"type": "string", "minLength": 1, "maxLength": 60},
            "position": {"type": "integer", "minimum": 0, "maximum": 100000},
        },
    }
)


@bp.get("/stations/nearby")
def nearby_stations():
    lat = query_float("lat", -90, 90)
    lon = query_float("lon", -180, 180)
    radius = query_float("radiusKm", 0.001, search.MAX_RADIUS_KM, default=5.0)
    limit = query_int("limit", 50, 1, search.MAX_RESULTS)
    rt = runtime()
    with rt.db.uow() as uow:
        return jsonify(search.nearby(uow.session, lat, lon, radius, rt.settings.currency, limit=limit))


spec.operation(
    "/stations/nearby",
    "get",
    {
        "summary": "Stations within a radius, nearest first, with connectors and the price now",
        "tags": TAG,
        "security": [],
        "parameters": [
            query_param("lat", {"type": "number", "minimum": -90, "maximum": 90}, "latitude", True),
            query_param("lon", {"type": "number", "minimum": -180, "maximum": 180}, "longitude", True),
            query_param(
                "radiusKm",
                {"type": "number", "minimum": 0.001, "maximum": search.MAX_RADIUS_KM, "default": 5},
                "search radius in km",
            ),
            query_param(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": search.MAX_RESULTS, "default": 50},
                "at most this many stations",
            ),
        ],
        "responses": {**ok("Stations", {"type": "array", "items": NEARBY_STATION}), **error_responses(422)},
    },
)


@bp.get("/stations/search")
def search_stations():
    q = query_str("q", 100, required=True)
    limit = query_int("limit", 20, 1, search.MAX_RESULTS)
    rt = runtime()
    with rt.db.uow() as uow:
        return jsonify(search.text_search(uow.session, q, rt.settings.currency, limit=limit))


spec.operation(
    "/stations/search",
    "get",
    {
        "summary": "Stations whose name, address or charge point id contains the text",
        "tags": TAG,
        "security": [],
        "parameters": [
            query_param("q", {"type": "string", "minLength": 1, "maxLength": 100}, "text to find", True),
            query_param(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": search.MAX_RESULTS, "default": 20},
                "at most this many stations",
            ),
        ],
        "responses": {**ok("Stations", {"type": "array", "items": STATION}), **error_responses(422)},
    },
)


@bp.get("/places")
def find_places():
    q = query_str("q", 100, required=True)
    limit = query_int("limit", 5, 1, 20)
    with runtime().db.uow() as uow:
        return jsonify(places.find_place(uow.session, q, limit=limit))


spec.operation(
    "/places",
    "get",
    {
        "summary": 'A typed place as coordinates, without any outside service: typed "lat, lon", or where our '
        "stations whose name or address contains the words are (their area first)",
        "tags": TAG,
        "security": [],
        "parameters": [
            query_param(
                "q",
                {"type": "string", "minLength": 1, "maxLength": 100},
                'a town, street or landmark, or "lat, lon"',
                True,
            ),
            query_param(
                "limit", {"type": "integer", "minimum": 1, "maximum": 20, "default": 5}, "at most this many candidates"
            ),
        ],
        "responses": {
            **ok("Candidates, best first (empty: unknown place)", {"type": "array", "items": PLACE}),
            **error_responses(422),
        },
    },
)


@bp.get("/stations/<station_id>")
def station(station_id: str):
    rt = runtime()
    with rt.db.uow() as uow:
        return jsonify(search.station_detail(uow.session, path_id(station_id, "station"), rt.settings.currency))


STATION_ID = path_param("stationId", "station id")
spec.operation(
    "/stations/{stationId}",
    "get",
    {
        "summary": "A station: connectors, price now and its time-of-day tariff",
        "tags": TAG,
        "security": [],
        "parameters": [STATION_ID],
        "responses": {**ok("Station", STATION_DETAIL), **error_responses(404)},
    },
)


@bp.put("/stations/<station_id>/tariff")
@require_user("owner")
def set_station_tariff(station_id: str):
    data = TARIFF_BODY.load()
    with runtime().db.uow() as uow:
        bands = tariff.set_tariff_bands(uow.session, g.user, path_id(station_id, "station"), data["bands"])
        uow.commit()
    return jsonify([b.as_dict() for b in bands])


spec.operation(
    "/stations/{stationId}/tariff",
    "put",
    {
        "summary": "Owners: replace the station's time-of-day bands (together covering 00:00-24:00 once)",
        "tags": ["owner tariffs"],
        "parameters": [STATION_ID],
        "requestBody": body(TARIFF_BODY),
        "responses": {
            **ok("The bands now in force", {"type": "array", "items": BAND}),
            **error_responses(401, 403, 404, 422),
        },
    },
)


@bp.get("/help")
def help_list():
    q = query_str("q", 100)
    category = query_str("category", 60)
    with runtime().db.uow() as uow:
        return jsonify(search.help_entries(uow.session, q, category))


@bp.post("/help")
@require_user("admin")
def help_add():
    data = HELP_BODY.load()
    with runtime().db.uow() as uow:
        entry = search.add_help_entry(
            uow.session,
            g.user,
            data["question"],
            data["answer"],
            category=data.get("category", "general"),
            position=data.get("position", 0),
        )
        uow.commit()
        return jsonify(search.help_view(entry)), 201


@bp.get("/help/<entry_id>")
def help_one(entry_id: str):
    with runtime().db.uow() as uow:
        return jsonify(search.help_entry(uow.session, path_id(entry_id, "help entry")))


spec.operation(
    "/help",
    "get",
    {
        "summary": "FAQ and help entries",
        "tags": TAG,
        "security": [],
        "parameters": [
            query_param("q", {"type": "string", "maxLength": 100}, "words in question or answer"),
            query_param("category", {"type": "string", "maxLength": 60}, "only this category"),
        ],
        "responses": {**ok("Entries", {"type": "array", "items": HELP}), **error_responses(422)},
    },
)
spec.operation(
    "/help",
    "post",
    {
        "summary": "Administrators: publish a help entry",
        "tags": ["help administration"],
        "requestBody": body(HELP_BODY),
        "responses": {**ok("Created", HELP, "201"), **error_responses(401, 403, 422)},
    },
)
spec.operation(
    "/help/{entryId}",
    "get",
    {
        "summary": "One help entry",
        "tags": TAG,
        "security": [],
        "parameters": [path_param("entryId", "entry id")],
        "responses": {**ok("Entry", HELP), **error_responses(404)},
    },
)
