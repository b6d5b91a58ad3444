"""cms.limits: what the CMS can store of a charger's values, derived from the models' columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources

import pytest

from cms import limits
from cms.limits import Limit, fitted, problems
from cms.metering import normalise_sample
from cms.models import ChargePoint, DataTransferRecord, MeterValue, Transaction
from cms.pipeline import CHARGER_OPERATIONS
from cms.timeutil import parse_timestamp


def test_limits_come_from_the_column_types():
    assert Limit.of(Transaction.meter_start) == Limit("int", low=-(1 << 31), high=(1 << 31) - 1)  # Integer
    assert Limit.of(MeterValue.id) == Limit("int", low=-(1 << 63), high=(1 << 63) - 1)  # BigInteger (any variant)
    assert Limit.of(ChargePoint.identity) == Limit("text", length=64)
    assert Limit.of(DataTransferRecord.data) == Limit("text", length=None)  # Text
    assert Limit.of(Transaction.start_timestamp) == Limit("time")  # UTCDateTime decorates DateTime


def _schema_fields(action: str) -> set[str]:
    """Every field path of an action's OCPP 1.6 request schema (arrays as ``[]``)."""
    schema = json.loads((resources.files("ocpp") / "v16" / "schemas" / f"{action}.json").read_text("utf-8-sig"))
    out: set[str] = set()

    def walk(node, path):
        for name, sub in node.get("properties", {}).items():
            here = f"{path}.{name}" if path else name
            out.add(here)
            if sub.get("type") == "array":
                walk(sub["items"], here + "[]")
            elif sub.get("type") == "object":
                walk(sub, here)

    walk(schema, "")
    return out


def _table_fields(node, path="") -> set[str]:
    out: set[str] = set()
    for name, sub in node.items():
        here = f"{path}.{name}" if path else name
        out.add(here)
        if isinstance(sub, list):
            out |= _table_fields(sub[0], here + "[]")
        elif isinstance(sub, dict):
            out |= _table_fields(sub, here)
    return out


@pytest.mark.parametrize("action", CHARGER_OPERATIONS)
def test_every_field_named_is_a_field_of_the_action(action):
    table = _table_fields(limits.PAYLOAD_COLUMNS[action])
    assert table <= _schema_fields(action), table - _schema_fields(action)


def test_what_is_checked():
    assert (
        problems(
            "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}
        )
        == []
    )
    found = problems(
        "StatusNotification",
        {"connectorId": 1 << 31, "info": "a\x00", "vendorId": 5, "timestamp": "9999-12-31T23:59:59-05:00"},
    )
    assert sorted((v.field, v.code) for v in found) == [
        ("connectorId", "PropertyConstraintViolation"),
        ("info", "PropertyConstraintViolation"),
        ("timestamp", "PropertyConstraintViolation"),
        ("vendorId", "TypeConstraintViolation"),
    ]
    assert problems("Authorize", {"idTag": "\ud800"})[0].reason == "is not valid Unicode (a lone surrogate)"
    assert problems("Heartbeat", {"anything": 1}) == [] and problems("MakeCoffee", {"x": 1}) == []
    assert problems("MeterValues", "not an object")[0].field == "payload"


def test_timestamps_the_database_and_python_hold():
    assert parse_timestamp("9999-12-31T23:59:59-05:00") is None  # past datetime.max: unreadable, not a crash
    assert problems("StatusNotification", {"timestamp": "0001-01-01T01:00:00+01:00"})  # year 0 in UTC
    assert not problems("StatusNotification", {"timestamp": "1970-01-01T00:00:00"})


def test_a_transaction_message_keeps_what_can_be_used():
    received = {
        "transactionId": 1 << 40,
        "meterStop": "300",
        "timestamp": "soon",
        "vendorX": [1],
        "transactionData": [
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "sampledValue": [{"value": "1" * 3000, "measurand": 7, "unit": "W\x00h"}, "junk"],
            },
            "junk",
        ],
    }
    usable = fitted("StopTransaction", received)
    assert usable == {
        "meterStop": 300,
        "vendorX": [1],
        "transactionData": [
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "sampledValue": [{"value": "1" * 2048, "measurand": "7", "unit": "W\ufffdh"}],
            }
        ],
    }
    assert usable.received is received and usable.problem("transactionId").code == "PropertyConstraintViolation"
    assert {v.field for v in usable.problems} == {
        "transactionId",
        "timestamp",
        "transactionData[0].sampledValue[0].value",
        "transactionData[0].sampledValue[0].measurand",
        "transactionData[0].sampledValue[0].unit",
        "transactionData[0].sampledValue[1]",
        "transactionData[1]",
    }


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("12.5", 12.5),
        ("nan", None),
        ("inf", None),
        ("-1e400", None),
        ("1e12", 1e12),
        ("1.1e12", None),
        ("kaputt", None),
    ],
)
def test_only_readings_a_meter_can_give_are_numbers(value, number):
    now = datetime.now(UTC)
    assert normalise_sample({"value": value}, now, now)["value"] == number
