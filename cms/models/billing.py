"""What drivers pay and own: tariff bands of a station, wallets, their ledger, payments, vehicles, help entries.

Money is kept in integer minor units (cents) so that sums are exact; prices per kWh in micro-units
(millionths of the currency unit), which leaves room for prices like 0.3495 without floating point.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .accounts import Station
from .base import Base, BigIntPK, utcnow

# The nearby search prefilters stations by a latitude/longitude bounding box; this index serves it.
Index("ix_stations_lat_lon", Station.latitude, Station.longitude)


class TariffBand(Base):
    """A time-of-day price of a station: ``[start_minute, end_minute)`` in the station's local wall time."""

    __tablename__ = "tariff_bands"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    start_minute: Mapped[int]  # 0..1439, minutes after local midnight
    end_minute: Mapped[int]  # 1..1440; smaller than start_minute when the band wraps past midnight
    price_per_kwh_micro: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Wallet(Base):
    """A driver's prepaid balance; changed only together with a :class:`LedgerEntry`."""

    __tablename__ = "wallets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LedgerEntry(Base):
    """One movement of a wallet: a top-up (+) or a session's cost (-), with the balance after it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_wallet_id", "wallet_id", "id"),
        # A session is debited once, a payment credited once, whatever retries happen.
        UniqueConstraint("transaction_id", name="uq_ledger_entries_transaction_id"),
        UniqueConstraint("payment_id", name="uq_ledger_entries_payment_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # topup | session | adjustment
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", ondelete="SET NULL"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    """A top-up through a payment provider: pending until the provider confirms, then credited once."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_payments_user_id_idempotency_key"),
        UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | succeeded | failed
    checkout_url: Mapped[str | None] = mapped_column(String(512))
    failure_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class SessionCharge(Base):
    """The priced result of a finished charging session, with its per-band breakdown, kept as billed."""

    __tablename__ = "session_charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id", ondelete="CASCADE"), unique=True)
    energy_wh: Mapped[float]
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    breakdown: Mapped[list] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Vehicle(Base):
    """A driver's car, so the app can suggest compatible connectors."""

    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    make: Mapped[str] = mapped_column(String(60), default="")
    model: Mapped[str] = mapped_column(String(60), default="")
    plate: Mapped[str] = mapped_column(String(20), default="")
    connector_type: Mapped[str | None] = mapped_column(String(32))
    battery_kwh: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HelpEntry(Base):
    """A FAQ / help article shown in the driver app."""

    __tablename__ = "help_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(String(255))
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(60), default="general")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
