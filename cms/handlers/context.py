"""What a handler of a charger-initiated message gets: the charger, its row, the session, settings, the time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..datatransfer import DataTransferRegistry
from ..models import ChargePoint

if TYPE_CHECKING:
    from .transactions import StoppedTransaction

# What a transaction's StopTransaction calls inside its unit of work (billing plugs in here).
StopHook = Callable[[Session, "StoppedTransaction"], None]


@dataclass
class Charger:
    """The charger behind a message, as the transport knows it."""

    identity: str
    transport: str = "json"
    ocpp_version: str = "1.6"
    endpoint_url: str | None = None


@dataclass(slots=True)
class ChargerRow:
    """The columns of a charge point that almost every message needs, read without building an ORM object."""

    id: int
    identity: str
    owner_id: int | None
    registered: bool
    registration_status: str | None
    transport: str
    ocpp_version: str
    endpoint_url: str | None
    last_seen_at: datetime | None


_SET_CHARGER = update(ChargePoint).where(ChargePoint.id == bindparam("cp_id_"))


class OperationContext:
    """What an operation function needs beyond the payload."""

    def __init__(
        self,
        session: Session,
        row: ChargerRow,
        charger: Charger,
        settings: Settings,
        now: datetime,
        data_transfer: DataTransferRegistry,
        on_transaction_stopped: list[StopHook] | tuple[StopHook, ...] = (),
    ):
        self.session = session
        self.row = row
        self.charger = charger
        self.settings = settings
        self.now = now
        self.data_transfer = data_transfer
        self.on_transaction_stopped = on_transaction_stopped
        self._charge_point: ChargePoint | None = None

    @property
    def charge_point(self) -> ChargePoint:
        """The full ORM charge point, loaded only by the operations that change its details."""
        if self._charge_point is None:
            self._charge_point = self.session.get_one(ChargePoint, self.row.id)
        return self._charge_point

    def update_charger(self, **values: Any) -> None:
        """Set columns of this charge point with one UPDATE, without loading it (Core: the ORM's bulk-update
        bookkeeping cost more than the statement)."""
        self.session.connection().execute(_SET_CHARGER.values(**values), {"cp_id_": self.row.id})
