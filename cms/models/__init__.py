"""Typed SQLAlchemy models, one module per concern; import them from here."""

from .accounts import ApiToken, Station, User
from .base import Base, utcnow
from .charging import (
    ChargePoint,
    ChargerConfigurationKey,
    ChargingProfileRecord,
    Connector,
    DataTransferRecord,
    LocalListEntry,
    MessageLogEntry,
    StatusEvent,
)
from .idtags import IdTag, Reservation
from .transactions import MeterValue, Transaction, UnmatchedStop

__all__ = [
    "ApiToken",
    "Base",
    "ChargePoint",
    "ChargerConfigurationKey",
    "ChargingProfileRecord",
    "Connector",
    "DataTransferRecord",
    "IdTag",
    "LocalListEntry",
    "MessageLogEntry",
    "MeterValue",
    "Reservation",
    "Station",
    "StatusEvent",
    "Transaction",
    "UnmatchedStop",
    "User",
    "utcnow",
]
