"""The OCPP 1.6 request payloads the handlers read, as TypedDicts (camelCase, as on the wire).

Payloads travel as the dicts the transports decoded (a TypedDict costs nothing at run time); these say which
fields a handler may find. Required fields are those the JSON schema requires, which the pipeline has checked,
except in transaction messages, which are processed whatever their flaws (so their handlers use ``.get``).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class BootNotificationRequest(TypedDict):
    chargePointVendor: str
    chargePointModel: str
    chargePointSerialNumber: NotRequired[str]
    chargeBoxSerialNumber: NotRequired[str]
    firmwareVersion: NotRequired[str]
    iccid: NotRequired[str]
    imsi: NotRequired[str]
    meterType: NotRequired[str]
    meterSerialNumber: NotRequired[str]


class AuthorizeRequest(TypedDict):
    idTag: str


class StartTransactionRequest(TypedDict, total=False):
    connectorId: int
    idTag: str
    meterStart: int
    reservationId: int
    timestamp: str


class StopTransactionRequest(TypedDict, total=False):
    transactionId: int
    idTag: str
    meterStop: int
    timestamp: str
    reason: str
    transactionData: list[dict[str, Any]]


class MeterValuesRequest(TypedDict, total=False):
    connectorId: int
    transactionId: int
    meterValue: list[dict[str, Any]]


class StatusNotificationRequest(TypedDict, total=False):
    connectorId: int
    errorCode: str
    status: str
    info: str
    timestamp: str
    vendorId: str
    vendorErrorCode: str


class DataTransferRequest(TypedDict):
    vendorId: str
    messageId: NotRequired[str]
    data: NotRequired[str]


class StatusReport(TypedDict):
    """DiagnosticsStatusNotification and FirmwareStatusNotification."""

    status: str
