"""State of the owner dashboard: the mail outbox, login attempts, and the energy rollup behind consumption."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, utcnow
from .transactions import Transaction


class OutboxMail(Base):
    """Every mail the CMS sends: delivered by SMTP when configured, else kept here for the dashboard or CLI."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(255), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "outbox" (no SMTP configured) | "smtp" (sent) | "failed" (SMTP refused; see error)
    delivery: Mapped[str] = mapped_column(String(16), default="outbox")
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(500))


class LoginAttempt(Base):
    """One try to log in, kept for rate limiting across processes (by account and by client address)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_time", "email", "created_at"),
        Index("ix_login_attempts_addr_time", "remote_addr", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    succeeded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginAlert(Base):
    """When an account's holder was last mailed about failed log-ins: at most one mail per window, claimed by a
    single UPDATE or INSERT so that several processes never send it twice."""

    __tablename__ = "login_alerts"

    email: Mapped[str] = mapped_column(String(255), primary_key=True)
    sent_at: Mapped[datetime]


class EnergyDaily(Base):
    """Lowest and highest energy register (Wh) of a connector on a UTC day: the consumption rollup.

    Per connector, because each connector of a charger may have its own meter. Connector 0 (the charger's main
    meter) is left out so that energy is not counted twice. Min/max merge idempotently, so refreshing an
    overlapping range of readings twice changes nothing.
    """

    __tablename__ = "energy_daily"
    __table_args__ = (Index("ix_energy_daily_day", "day"),)

    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"), primary_key=True)
    connector_id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    min_wh: Mapped[float] = mapped_column(Float)
    max_wh: Mapped[float] = mapped_column(Float)
    # Energy of the day: max_wh minus the previous day's max_wh (first day: minus min_wh), never negative.
    # Kept current by the refresh for the days it touches and those after them.
    wh: Mapped[float] = mapped_column(Float, default=0.0)


class RollupWatermark(Base):
    """How far (``meter_values.id``) a rollup has read; one row per rollup name."""

    __tablename__ = "rollup_watermarks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# The consumption rollup re-reads transactions stopped since its last run (their meterStop register).
Index("ix_transactions_stop_received", Transaction.__table__.c.stop_received_at)
# The transactions list pages newest first across all of an owner's chargers.
Index("ix_transactions_start_id", Transaction.__table__.c.start_timestamp, Transaction.__table__.c.id)
# What is charging now (overview, charger list): the few open sessions among many closed ones.
Index(
    "ix_transactions_open",
    Transaction.__table__.c.charge_point_id,
    postgresql_where=Transaction.__table__.c.stop_timestamp.is_(None),
    sqlite_where=Transaction.__table__.c.stop_timestamp.is_(None),
)
