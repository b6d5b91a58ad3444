"""What the CMS can store of what a charger sends: each payload field against the column it ends up in.

Every transport and version hands the service layer an OCPP 1.6 payload, so this is the one place where a
value is checked against the database before it gets there. The JSON schemas check types, enumerations and
OCPP's own lengths; they say nothing of ranges (``"type": "integer"`` admits 10^20) or of what PostgreSQL
refuses (a NUL character in text). The limits come from the models' column types: an ``Integer`` column
holds 32 bits on PostgreSQL (which is also OCPP's ``integer``), ``BigInteger`` 64, ``String(n)`` n characters,
a date-time what Python's ``datetime`` holds (less a day either side, so a time-zone conversion of it still
fits). ``PAYLOAD_COLUMNS`` only says which column each field is stored in (or looked up against).

Two uses: :func:`problems` for messages that are refused when anything is wrong, and :func:`fitted` for
transaction messages, which keep what can be used (see ``cms.pipeline.ChargerPipeline``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, SmallInteger, String
from sqlalchemy.types import TypeDecorator

from .models import (
    ChargePoint,
    Connector,
    DataTransferRecord,
    IdTag,
    MeterValue,
    Reservation,
    StatusEvent,
    Transaction,
)
from .timeutil import parse_timestamp

EARLIEST_STORABLE = datetime(1, 1, 2, tzinfo=UTC)
LATEST_STORABLE = datetime(9999, 12, 30, tzinfo=UTC)
# A decimal integer as some chargers send numbers (``"meterStop": "300"``); longer ones are out of any range.
_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]{1,20}\s*", re.ASCII)
# The OCPP-J codes (1.6, section 4.2.3): a value of the wrong JSON type, or of the right type but unusable.
TYPE_VIOLATION = "TypeConstraintViolation"
VALUE_VIOLATION = "PropertyConstraintViolation"


@dataclass(frozen=True, slots=True)
class Violation:
    """A field the CMS cannot use as sent: where (``meterValue[0].timestamp``), the OCPP-J code, and why."""

    field: str
    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class _Unusable(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _base_type(column_type):
    while isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return column_type


@dataclass(frozen=True, slots=True)
class Limit:
    """What one column holds: ``kind`` is ``int`` (``low``..``high``), ``text`` (up to ``length`` characters,
    None: unbounded) or ``time`` (an ISO 8601 date-time between the storable bounds)."""

    kind: str
    low: int | None = None
    high: int | None = None
    length: int | None = None

    @classmethod
    def of(cls, attribute) -> Limit:
        """The limit of a mapped column (``Transaction.meter_start``), from its type."""
        column_type = _base_type(attribute.property.columns[0].type)
        if isinstance(column_type, Integer):
            bits = 64 if isinstance(column_type, BigInteger) else 16 if isinstance(column_type, SmallInteger) else 32
            return cls("int", low=-(1 << (bits - 1)), high=(1 << (bits - 1)) - 1)
        if isinstance(column_type, String):  # Text is a String without a length
            return cls("text", length=column_type.length)
        if isinstance(column_type, DateTime):
            return cls("time")
        raise TypeError(f"no limit for a {column_type!r} column ({attribute})")

    def usable(self, value) -> Any:
        """``value`` as the column takes it (an int for ``"300"``), or raises :class:`_Unusable`."""
        if self.kind == "int":
            return self._integer(value)
        if self.kind == "text":
            if not isinstance(value, str):
                raise _Unusable(TYPE_VIOLATION, f"expected a string, got {_json_type(value)}")
            return self._text(value)
        if not isinstance(value, str):
            raise _Unusable(TYPE_VIOLATION, f"expected a date-time string, got {_json_type(value)}")
        ts = parse_timestamp(value)
        if ts is None:
            raise _Unusable(VALUE_VIOLATION, f"{_short(value)} is not an ISO 8601 date-time")
        if not EARLIEST_STORABLE <= ts <= LATEST_STORABLE:
            raise _Unusable(VALUE_VIOLATION, f"{_short(value)} is outside the years 1 to 9999")
        return value

    def _integer(self, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _Unusable(TYPE_VIOLATION, f"expected an integer, got {_json_type(value)}")
        if isinstance(value, float):
            if not value.is_integer():  # also NaN and the infinities
                raise _Unusable(TYPE_VIOLATION, f"expected an integer, got {value!r}")
            value = int(value)
        elif isinstance(value, str):
            if not _INTEGER_TEXT.fullmatch(value):
                raise _Unusable(TYPE_VIOLATION, f"expected an integer, got {_short(value)}")
            value = int(value)
        if not self.low <= value <= self.high:
            raise _Unusable(VALUE_VIOLATION, f"{value} is outside {self.low}..{self.high}")
        return value

    def _text(self, value: str) -> str:
        if self.length is not None and len(value) > self.length:
            raise _Unusable(VALUE_VIOLATION, f"longer than {self.length} characters")
        if "\x00" in value:  # PostgreSQL text cannot hold it
            raise _Unusable(VALUE_VIOLATION, "contains a NUL character")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Unusable(VALUE_VIOLATION, "is not valid Unicode (a lone surrogate)") from None
        return value

    def fit(self, value) -> str:
        """Any value as text this column holds: NULs and lone surrogates replaced, cut to the length."""
        text = value if isinstance(value, str) else str(value)
        text = text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
        return text[: self.length] if self.length is not None else text


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


class Fit:
    """A field kept whatever it holds in a transaction message: as text that fits the column (the attributes
    of a sampled value; a cut or cleaned unknown value never turns into a known one)."""

    __slots__ = ("limit",)

    def __init__(self, attribute):
        self.limit = Limit.of(attribute)


def _spec(node):
    """Column attributes of a ``PAYLOAD_COLUMNS`` entry turned into limits, once."""
    if isinstance(node, dict):
        return {k: _spec(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_spec(node[0])]
    return node if isinstance(node, Fit) else Limit.of(node)


_SAMPLED_VALUE = {
    name: Fit(getattr(MeterValue, column))
    for name, column in (
        ("value", "raw_value"),
        ("context", "context"),
        ("format", "format"),
        ("measurand", "measurand"),
        ("phase", "phase"),
        ("location", "location"),
        ("unit", "unit"),
    )
}
_METER_VALUE = {"timestamp": MeterValue.timestamp, "sampledValue": [_SAMPLED_VALUE]}
# Each charger-initiated action's fields -> the column each is stored in or looked up against.
PAYLOAD_COLUMNS = {
    "Authorize": {"idTag": IdTag.tag},
    "BootNotification": {
        "chargePointVendor": ChargePoint.vendor,
        "chargePointModel": ChargePoint.model,
        "chargePointSerialNumber": ChargePoint.serial_number,
        "chargeBoxSerialNumber": ChargePoint.charge_box_serial_number,
        "firmwareVersion": ChargePoint.firmware_version,
        "iccid": ChargePoint.iccid,
        "imsi": ChargePoint.imsi,
        "meterType": ChargePoint.meter_type,
        "meterSerialNumber": ChargePoint.meter_serial_number,
    },
    "DataTransfer": {
        "vendorId": DataTransferRecord.vendor_id,
        "messageId": DataTransferRecord.message_id,
        "data": DataTransferRecord.data,
    },
    "DiagnosticsStatusNotification": {"status": ChargePoint.diagnostics_status},
    "FirmwareStatusNotification": {"status": ChargePoint.firmware_status},
    "Heartbeat": {},
    "MeterValues": {
        "connectorId": MeterValue.connector_id,
        "transactionId": MeterValue.transaction_id,
        "meterValue": [_METER_VALUE],
    },
    "StartTransaction": {
        "connectorId": Transaction.connector_id,
        "idTag": Transaction.id_tag,
        "meterStart": Transaction.meter_start,
        "reservationId": Reservation.id,
        "timestamp": Transaction.start_timestamp,
    },
    "StatusNotification": {
        "connectorId": Connector.connector_id,
        "errorCode": Connector.error_code,
        "info": Connector.info,
        "status": Connector.status,
        "timestamp": StatusEvent.timestamp,
        "vendorId": Connector.vendor_id,
        "vendorErrorCode": Connector.vendor_error_code,
    },
    "StopTransaction": {
        "transactionId": Transaction.id,
        "idTag": Transaction.stop_id_tag,
        "meterStop": Transaction.meter_stop,
        "timestamp": Transaction.stop_timestamp,
        "reason": Transaction.stop_reason,
        "transactionData": [_METER_VALUE],
    },
}
_LIMITS = {action: _spec(fields) for action, fields in PAYLOAD_COLUMNS.items()}
IDENTITY = Limit.of(ChargePoint.identity)
ENDPOINT_URL = Limit.of(ChargePoint.endpoint_url)


class FittedPayload(dict):
    """A transaction message as the CMS can use it: unusable fields left out, sampled-value attributes cut to
    fit. ``received`` is the payload as sent (kept for review), ``problems`` what was wrong with it."""

    def __init__(self, usable: dict, received: dict, problems: list[Violation]):
        super().__init__(usable)
        self.received = received
        self.problems = problems

    def problem(self, field: str) -> Violation | None:
        """The violation of top-level ``field``, if it was left out."""
        return next((v for v in self.problems if v.field == field), None)


def problems(action: str, payload: dict) -> list[Violation]:
    """Every field of ``payload`` the CMS cannot store as sent (empty for an action it does not know)."""
    found: list[Violation] = []
    spec = _LIMITS.get(action)
    if spec is None:
        return found
    if not isinstance(payload, dict):
        return [Violation("payload", TYPE_VIOLATION, f"expected an object, got {_json_type(payload)}")]
    _check(spec, payload, None, found)
    return found


def fitted(action: str, payload: dict) -> FittedPayload:
    """``payload`` with what cannot be stored left out (or, for :class:`Fit` fields, cut to fit)."""
    found: list[Violation] = []
    usable = _fit(_LIMITS.get(action, {}), payload, None, found)
    return FittedPayload(usable if usable is not _GONE else {}, payload, found)


def brief(text, length: int = 255) -> str:
    """A charger's text as a log line or an error description repeats it: at most ``length`` characters (a
    message may hold a megabyte of it)."""
    text = str(text)
    return text if len(text) <= length else text[: length - 3] + "..."


def identity_problem(identity: str) -> str | None:
    """Why a charger identity cannot be one of this CMS's charge points, if it cannot."""
    try:
        IDENTITY.usable(identity)
    except _Unusable as e:
        return f"charge point identity {e.reason}"
    return None


def endpoint_problem(url: str) -> str | None:
    """Why a charger's endpoint address cannot be kept, if it cannot."""
    try:
        ENDPOINT_URL.usable(url)
    except _Unusable as e:
        return f"endpoint address {e.reason}"
    return None


def _path(path: tuple | None) -> str:
    """A path as the walks carry it, ``(((None, "meterValue"), 0), "timestamp")`` (a pair per step, cheap to
    make), written ``meterValue[0].timestamp``; only for a violation: paths of values that fit never are."""
    steps = []
    while path is not None:
        path, step = path
        steps.append(step)
    out = ""
    for step in reversed(steps):
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out or "payload"


def _check(spec: dict, value: dict, path: tuple | None, found: list[Violation]) -> None:
    """Append to ``found`` what in ``value`` (an object) its ``spec`` says cannot be stored. On the path of
    every message: the usual values are accepted without a call or an allocation."""
    for key, item in value.items():
        sub = spec.get(key)
        if sub is None or item is None:  # not stored, or absent (JSON null): the schema's business
            continue
        kind = type(sub)
        if kind is Limit or kind is Fit:
            limit = sub if kind is Limit else sub.limit
            if limit.kind == "int":
                if type(item) is int and limit.low <= item <= limit.high:
                    continue
            elif limit.kind == "text":
                if (
                    type(item) is str
                    and (limit.length is None or len(item) <= limit.length)
                    and item.isascii()
                    and "\x00" not in item
                ):
                    continue
            try:
                limit.usable(item)
            except _Unusable as e:
                found.append(Violation(_path((path, key)), e.code, e.reason))
        elif kind is dict:
            if type(item) is dict:
                _check(sub, item, (path, key), found)
            else:
                found.append(
                    Violation(_path((path, key)), TYPE_VIOLATION, f"expected an object, got {_json_type(item)}")
                )
        elif type(item) is list:
            element_spec = sub[0]
            for i, element in enumerate(item):
                if type(element) is dict:
                    _check(element_spec, element, ((path, key), i), found)
                else:
                    found.append(
                        Violation(
                            _path(((path, key), i)), TYPE_VIOLATION, f"expected an object, got {_json_type(element)}"
                        )
                    )
        else:
            found.append(Violation(_path((path, key)), TYPE_VIOLATION, f"expected an array, got {_json_type(item)}"))


def _fit(spec, value, path: tuple | None, found: list[Violation]):
    """The usable copy of ``value`` by ``spec`` (dict: object, [x]: array of x, Limit / Fit: a leaf), appending
    to ``found`` what was left out or changed; ``_GONE`` for a value left out."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            found.append(Violation(_path(path), TYPE_VIOLATION, f"expected an object, got {_json_type(value)}"))
            return _GONE
        out = {}
        for key, item in value.items():
            sub = spec.get(key)
            kept = item if sub is None else _fit(sub, item, (path, key), found)  # not stored: the schema's
            if kept is not _GONE:
                out[key] = kept
        return out
    if isinstance(spec, list):
        if not isinstance(value, list):
            found.append(Violation(_path(path), TYPE_VIOLATION, f"expected an array, got {_json_type(value)}"))
            return _GONE
        kept = [_fit(spec[0], item, (path, i), found) for i, item in enumerate(value)]
        return [k for k in kept if k is not _GONE]
    if value is None:
        return None
    if isinstance(spec, Fit):
        text = spec.limit.fit(value)
        if text != value:
            found.append(
                Violation(
                    _path(path),
                    VALUE_VIOLATION if isinstance(value, str) else TYPE_VIOLATION,
                    "kept cut to fit" if isinstance(value, str) else "kept as text",
                )
            )
        return text
    try:
        return spec.usable(value)
    except _Unusable as e:
        found.append(Violation(_path(path), e.code, e.reason))
        return _GONE


_GONE = object()
