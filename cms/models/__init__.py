"""Typed SQLAlchemy models, one module per concern; import them from here."""

from .accounts import ApiToken, Station, User
from .base import Base, utcnow
from .billing import HelpEntry, LedgerEntry, Payment, SessionCharge, TariffBand, Vehicle, Wallet
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
from .loadmgmt import LoadAllocation, StationLoadLimit
from .transactions import MeterValue, Transaction, UnmatchedStop
from .web import EnergyDaily, LoginAlert, LoginAttempt, OutboxMail, RollupWatermark

__all__ = [
    "HelpEntry",
    "LedgerEntry",
    "Payment",
    "SessionCharge",
    "TariffBand",
    "Vehicle",
    "Wallet",
    "ApiToken",
    "Base",
    "ChargePoint",
    "ChargerConfigurationKey",
    "ChargingProfileRecord",
    "Connector",
    "DataTransferRecord",
    "EnergyDaily",
    "IdTag",
    "LoadAllocation",
    "LocalListEntry",
    "LoginAlert",
    "LoginAttempt",
    "MessageLogEntry",
    "MeterValue",
    "OutboxMail",
    "Reservation",
    "RollupWatermark",
    "Station",
    "StationLoadLimit",
    "StatusEvent",
    "Transaction",
    "UnmatchedStop",
    "User",
    "utcnow",
]
