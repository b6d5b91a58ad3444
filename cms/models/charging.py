"""Charge points, their connectors and everything they report about themselves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK, utcnow


class ChargePoint(Base):
    """A charger known to the CMS, whichever transport and OCPP version it speaks."""

    __tablename__ = "charge_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id", ondelete="SET NULL"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Accepted | Pending | Rejected: what the last BootNotification was answered; None before the first
    registration_status: Mapped[str | None] = mapped_column(String(16))
    # True when it was added by an owner (or auto-registered); False when only seen knocking
    registered: Mapped[bool] = mapped_column(default=True)
    ocpp_version: Mapped[str] = mapped_column(String(8), default="1.6")
    transport: Mapped[str] = mapped_column(String(8), default="json")  # json | soap
    endpoint_url: Mapped[str | None] = mapped_column(String(512))  # SOAP ChargePointService URL
    vendor: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    serial_number: Mapped[str | None] = mapped_column(String(64))
    charge_box_serial_number: Mapped[str | None] = mapped_column(String(64))
    firmware_version: Mapped[str | None] = mapped_column(String(64))
    iccid: Mapped[str | None] = mapped_column(String(32))
    imsi: Mapped[str | None] = mapped_column(String(32))
    meter_type: Mapped[str | None] = mapped_column(String(64))
    meter_serial_number: Mapped[str | None] = mapped_column(String(64))
    heartbeat_interval: Mapped[int | None]
    last_boot_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    last_heartbeat_at: Mapped[datetime | None]
    connected: Mapped[bool] = mapped_column(default=False)
    connected_node: Mapped[str | None] = mapped_column(String(128))
    connected_at: Mapped[datetime | None]
    disconnected_at: Mapped[datetime | None]
    diagnostics_status: Mapped[str | None] = mapped_column(String(32))
    diagnostics_status_at: Mapped[datetime | None]
    firmware_status: Mapped[str | None] = mapped_column(String(32))
    firmware_status_at: Mapped[datetime | None]
    local_list_version: Mapped[int] = mapped_column(default=0)
    # The most this charger may draw, in amperes per phase (set by its owner; site load management keeps
    # every allocation at or below it). None: no limit of its own.
    max_current_a: Mapped[float | None] = mapped_column(Float)
    # When it last refused a charging profile (Rejected, NotSupported, CALLERROR): load management counts it at
    # its maximum and shows it as unmanaged until it accepts one again. None: it takes profiles (or was not asked).
    profiles_refused_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    connectors: Mapped[list[Connector]] = relationship(
        back_populates="charge_point", order_by="Connector.connector_id", cascade="all, delete-orphan"
    )


class Connector(Base):
    """Connector ``connector_id`` of a charge point; 0 is the charge point itself."""

    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("charge_point_id", "connector_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    connector_id: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="Unavailable")
    error_code: Mapped[str] = mapped_column(String(32), default="NoError")
    info: Mapped[str | None] = mapped_column(String(64))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(String(64))
    status_timestamp: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
    # What a driver sees in the app; optional details set by the owner.
    connector_type: Mapped[str | None] = mapped_column(String(32))
    max_power_kw: Mapped[float | None]

    charge_point: Mapped[ChargePoint] = relationship(back_populates="connectors")


class StatusEvent(Base):
    """Every StatusNotification, kept as history."""

    __tablename__ = "status_events"
    __table_args__ = (Index("ix_status_events_cp_time", "charge_point_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    connector_id: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str] = mapped_column(String(32))
    info: Mapped[str | None] = mapped_column(String(64))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(String(64))
    timestamp: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataTransferRecord(Base):
    """A DataTransfer in either direction, with the answer it got."""

    __tablename__ = "data_transfers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # in (from charger) | out (from CMS)
    vendor_id: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(50))
    data: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(32))
    response_data: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageLogEntry(Base):
    """Raw OCPP traffic of a charger for troubleshooting; bounded per charger."""

    __tablename__ = "message_log"
    __table_args__ = (Index("ix_message_log_cp_id", "charge_point_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))  # in | out
    action: Mapped[str | None] = mapped_column(String(64))
    unique_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChargerConfigurationKey(Base):
    """A configuration key as the charger reported it (GetConfiguration) or the CMS last set it."""

    __tablename__ = "charger_configuration"
    __table_args__ = (UniqueConstraint("charge_point_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(50))
    value: Mapped[str | None] = mapped_column(String(500))
    readonly: Mapped[bool] = mapped_column(default=False)
    unknown: Mapped[bool] = mapped_column(default=False)
    # Accepted | Rejected | RebootRequired | NotSupported of the last ChangeConfiguration
    last_change_status: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChargingProfileRecord(Base):
    """A charging profile the charger accepted, until cleared."""

    __tablename__ = "charging_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"), index=True)
    connector_id: Mapped[int]
    profile_id: Mapped[int]
    stack_level: Mapped[int]
    purpose: Mapped[str] = mapped_column(String(32))
    profile: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LocalListEntry(Base):
    """An id tag as the CMS last sent it in a charger's local authorisation list."""

    __tablename__ = "local_list_entries"
    __table_args__ = (UniqueConstraint("charge_point_id", "id_tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    id_tag: Mapped[str] = mapped_column(String(20))
    # The idTagInfo sent (status, expiryDate, parentIdTag), to compute differential updates.
    id_tag_info: Mapped[dict] = mapped_column(JSON)
    list_version: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
