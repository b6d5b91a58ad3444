"""Charging sessions, their meter values, and stops the CMS could not match."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigIntPK, utcnow


class Transaction(Base):
    """A charging session. ``id`` is the system-wide OCPP transactionId."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_cp_start", "charge_point_id", "start_timestamp"),
        Index("ix_transactions_id_tag", "id_tag"),
        # A tag's open sessions (ConcurrentTx, checked on every Authorize and Start) among its whole history.
        Index(
            "ix_transactions_open_id_tag",
            "id_tag",
            postgresql_where=text("stop_timestamp IS NULL"),
            sqlite_where=text("stop_timestamp IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    connector_id: Mapped[int]
    id_tag: Mapped[str] = mapped_column(String(20))
    # Identifies a retried StartTransaction: same charger, connector, tag, timestamp and meterStart.
    start_key: Mapped[str] = mapped_column(String(64), unique=True)
    meter_start: Mapped[int]
    start_timestamp: Mapped[datetime]  # the charger's clock
    start_received_at: Mapped[datetime] = mapped_column(default=utcnow)  # ours
    reservation_id: Mapped[int | None]
    start_status: Mapped[str] = mapped_column(String(16), default="Accepted")  # idTagInfo answered
    meter_stop: Mapped[int | None]
    stop_timestamp: Mapped[datetime | None]
    stop_received_at: Mapped[datetime | None]
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    stop_id_tag: Mapped[str | None] = mapped_column(String(20))
    # Last known register (Wh) and power (W), kept current from MeterValues for live views.
    last_meter_wh: Mapped[float | None] = mapped_column(Float)
    last_power_w: Mapped[float | None] = mapped_column(Float)
    last_meter_at: Mapped[datetime | None]
    # Set by billing once the session is closed (cost in the station's currency units).
    cost: Mapped[float | None] = mapped_column(Float)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    charge_point = relationship("ChargePoint")

    @property
    def is_active(self) -> bool:
        return self.stop_timestamp is None

    @property
    def energy_wh(self) -> float | None:
        end = self.meter_stop if self.meter_stop is not None else self.last_meter_wh
        return None if end is None else max(0.0, float(end) - float(self.meter_start))


class MeterValue(Base):
    """One sampledValue with all its attributes, inside a transaction or not."""

    __tablename__ = "meter_values"
    __table_args__ = (
        Index("ix_meter_values_tx_time", "transaction_id", "timestamp"),
        # One row per sample, whatever a charger resends (OCPP lets it replay a MeterValues, with the same or a
        # new message id, when an answer was lost): inserts skip a sample already stored (ON CONFLICT DO
        # NOTHING). NULLs are folded to a sentinel so that they compare equal on every database. It leads with
        # (charge_point_id, timestamp), so it also serves a charger's readings by time, as the plain index it
        # replaced did: a message still maintains two indexes.
        Index(
            "uq_meter_values_sample",
            "charge_point_id",
            "timestamp",
            "connector_id",
            text("coalesce(transaction_id, -1)"),
            "measurand",
            text("coalesce(phase, '')"),
            "location",
            "context",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    connector_id: Mapped[int]
    transaction_id: Mapped[int | None]
    timestamp: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    raw_value: Mapped[str] = mapped_column(String(2048))
    value: Mapped[float | None] = mapped_column(Float)  # normalised: Wh, W, varh, var ...
    measurand: Mapped[str] = mapped_column(String(48))
    phase: Mapped[str | None] = mapped_column(String(8))
    unit: Mapped[str] = mapped_column(String(16))
    context: Mapped[str] = mapped_column(String(24))
    location: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(12), default="Raw")


class UnmatchedStop(Base):
    """A StopTransaction whose transactionId the CMS did not know; kept for review and reconciliation."""

    __tablename__ = "unmatched_stops"

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"), index=True)
    reported_transaction_id: Mapped[int]
    matched_transaction_id: Mapped[int | None]
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
