"""Site load management: a station's grid connection limit and what each of its sessions was allocated."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class StationLoadLimit(Base):
    """A station's grid connection: amperes per phase shared by its charge points (when ``enabled``)."""

    __tablename__ = "station_load_limits"

    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    max_current_a: Mapped[float] = mapped_column(Float)
    phases: Mapped[int] = mapped_column(default=3)
    min_current_a: Mapped[float] = mapped_column(Float, default=6.0)
    voltage_v: Mapped[float] = mapped_column(Float, default=230.0)
    # The rest of the building's current per phase (pushed through the API), taken off the limit first.
    external_load_a: Mapped[list | None] = mapped_column(JSON)
    external_load_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LoadAllocation(Base):
    """The current limit of one open session of a managed station, as the last re-allocation left it.

    ``sent_limit_a`` is what the charger last accepted in a TxProfile (None: nothing accepted yet), so a limit
    that did not change is never sent again; ``low_since`` and ``cap_a`` are the allocation's under-use memory.
    """

    __tablename__ = "load_allocations"

    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id", ondelete="CASCADE"), primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    connector_id: Mapped[int]
    limit_a: Mapped[float] = mapped_column(Float)
    sent_limit_a: Mapped[float | None] = mapped_column(Float)
    managed: Mapped[bool] = mapped_column(default=True)
    reason: Mapped[str] = mapped_column(String(16))
    low_since: Mapped[datetime | None]
    cap_a: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
