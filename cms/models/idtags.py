"""Id tags (RFID cards, app tokens) and reservations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow

if TYPE_CHECKING:
    from .accounts import User


class IdTag(Base):
    """An identifier a charger sends in Authorize / StartTransaction; ``parent`` groups tags."""

    __tablename__ = "id_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(20), unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("id_tags.id", ondelete="SET NULL"))
    expiry_date: Mapped[datetime | None]
    blocked: Mapped[bool] = mapped_column(default=False)
    # Whether a second transaction may run at once with this tag.
    max_concurrent: Mapped[int] = mapped_column(default=1)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parent: Mapped[IdTag | None] = relationship(remote_side="IdTag.id")
    owner: Mapped[User | None] = relationship("User", viewonly=True)


class Reservation(Base):
    """A connector held for an id tag until ``expiry_date``."""

    __tablename__ = "reservations"

    id: Mapped[int] = mapped_column(primary_key=True)  # the OCPP reservationId
    charge_point_id: Mapped[int] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"), index=True)
    connector_id: Mapped[int]
    id_tag: Mapped[str] = mapped_column(String(20))
    parent_id_tag: Mapped[str | None] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    start_at: Mapped[datetime | None]
    expiry_date: Mapped[datetime]
    # Requested | Accepted | Faulted | Occupied | Rejected | Unavailable | Used | Cancelled | Expired
    status: Mapped[str] = mapped_column(String(16), default="Requested")
    transaction_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
