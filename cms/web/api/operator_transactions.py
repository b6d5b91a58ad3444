"""Operator API: transactions with filters and cursor pagination, one transaction, its meter values."""

from __future__ import annotations

from flask import g, jsonify

from cms import transaction_reads as reads

from . import bp, spec
from .auth import require_user
from .driver_common import MAX_ID, ok, path_id, path_param, query_int, query_param, query_str, runtime
from .openapi import error_responses
from .operator_common import (
    DATE_TIME_HINT,
    OPERATOR_ROLES,
    page_args,
    page_params,
    page_schema,
    query_date_time,
    query_text,
)

TAG = ["operator transactions"]
PAGE_DEFAULT, METER_PAGE_DEFAULT = 50, 1000

TRANSACTION = spec.schema(
    "OperatorTransaction",
    {
        "type": "object",
        "required": [
            "id",
            "chargePointId",
            "connectorId",
            "idTag",
            "startTimestamp",
            "stopTimestamp",
            "meterStart",
            "meterStop",
            "energyWh",
            "cost",
            "currency",
            "stopReason",
        ],
        "properties": {
            "id": {"type": "integer", "description": "the OCPP transactionId"},
            "chargePointId": {"type": "string"},
            "connectorId": {"type": "integer"},
            "idTag": {"type": "string"},
            "startTimestamp": {"type": "string", "format": "date-time", "description": "the charger's clock"},
            "stopTimestamp": {
                "type": "string",
                "format": "date-time",
                "nullable": True,
                "description": "null while open",
            },
            "meterStart": {"type": "integer", "description": "Wh"},
            "meterStop": {"type": "integer", "nullable": True, "description": "Wh"},
            "energyWh": {
                "type": "number",
                "nullable": True,
                "description": "delivered so far while open (from the latest meter value), final once closed",
            },
            "cost": {"type": "number", "nullable": True, "description": "in currency, once closed and billed"},
            "currency": {"type": "string", "description": "ISO 4217"},
            "stopReason": {"type": "string", "nullable": True},
        },
    },
)
TRANSACTION_PAGE = page_schema("OperatorTransactionPage", TRANSACTION)
METER_VALUE = spec.schema(
    "OperatorMeterValue",
    {
        "type": "object",
        "required": ["timestamp", "measurand", "phase", "unit", "value", "context", "location"],
        "properties": {
            "timestamp": {"type": "string", "format": "date-time"},
            "measurand": {"type": "string"},
            "phase": {"type": "string", "nullable": True},
            "unit": {"type": "string", "description": "normalised: kWh is reported as Wh, kW as W ..."},
            "value": {
                "type": "number",
                "nullable": True,
                "description": "in unit; null when not a plain number (a signed meter value)",
            },
            "context": {"type": "string"},
            "location": {"type": "string"},
        },
    },
)
METER_VALUE_PAGE = page_schema("OperatorMeterValuePage", METER_VALUE)
TRANSACTION_ID = path_param("transactionId", "transaction id")


@bp.get("/transactions")
@require_user(*OPERATOR_ROLES)
def list_transactions():
    f = reads.TransactionFilter(
        charge_point_id=query_text("chargePointId", 48),
        station_id=query_int("stationId", None, 1, MAX_ID),
        status=query_str("status", 10, choices=reads.STATUSES),
        started_from=query_date_time("from"),
        started_to=query_date_time("to"),
    )
    limit, after = page_args(PAGE_DEFAULT, reads.MAX_TRANSACTIONS)
    rt = runtime()
    with rt.db.uow() as uow:
        return jsonify(reads.list_transactions(uow.session, g.user, f, rt.settings.currency, limit=limit, after=after))


@bp.get("/transactions/<transaction_id>")
@require_user(*OPERATOR_ROLES)
def one_transaction(transaction_id: str):
    rt = runtime()
    with rt.db.uow() as uow:
        return jsonify(
            reads.one_transaction(uow.session, g.user, path_id(transaction_id, "transaction"), rt.settings.currency)
        )


@bp.get("/transactions/<transaction_id>/meter-values")
@require_user(*OPERATOR_ROLES)
def transaction_meter_values(transaction_id: str):
    tx_id = path_id(transaction_id, "transaction")
    limit, after = page_args(METER_PAGE_DEFAULT, reads.MAX_METER_VALUES)
    with runtime().db.uow() as uow:
        return jsonify(reads.transaction_meter_values(uow.session, g.user, tx_id, limit=limit, after=after))


spec.operation(
    "/transactions",
    "get",
    {
        "summary": "Transactions on the caller's charge points (administrators: all), newest start first",
        "tags": TAG,
        "parameters": [
            query_param("chargePointId", {"type": "string", "minLength": 1, "maxLength": 48}, "only this charge point"),
            query_param(
                "stationId", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "only charge points of this station"
            ),
            query_param(
                "status", {"type": "string", "enum": list(reads.STATUSES)}, "open: still running; closed: stopped"
            ),
            query_param(
                "from", {"type": "string", "format": "date-time"}, f"started at or after this time; {DATE_TIME_HINT}"
            ),
            query_param("to", {"type": "string", "format": "date-time"}, "started before this time"),
            *page_params(PAGE_DEFAULT, reads.MAX_TRANSACTIONS),
        ],
        "responses": {**ok("A page of transactions", TRANSACTION_PAGE), **error_responses(401, 403, 422)},
        "description": "Keyset pagination: follow nextCursor until it is null; every transaction there when paging "
        "began is listed exactly once, however many arrive meanwhile. Filters naming something the "
        "caller cannot see match nothing.",
    },
)
spec.operation(
    "/transactions/{transactionId}",
    "get",
    {
        "summary": "One transaction",
        "tags": TAG,
        "parameters": [TRANSACTION_ID],
        "responses": {**ok("The transaction", TRANSACTION), **error_responses(401, 403, 404)},
        "description": "A transaction on another owner's charge point is 404.",
    },
)
spec.operation(
    "/transactions/{transactionId}/meter-values",
    "get",
    {
        "summary": "The meter values of a transaction, oldest first",
        "tags": TAG,
        "parameters": [TRANSACTION_ID, *page_params(METER_PAGE_DEFAULT, reads.MAX_METER_VALUES)],
        "responses": {**ok("A page of sampled values", METER_VALUE_PAGE), **error_responses(401, 403, 404, 422)},
    },
)
