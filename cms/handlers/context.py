"""What a handler of a charger-initiated message gets: the charger, its row, the session, settings, the time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, Update, bindparam, update
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


@lru_cache(maxsize=128)
def _set_charger(columns: tuple[str, ...], returning: tuple[str, ...]) -> Update:
    """The UPDATE of a charge point's ``columns`` (parameters ``set_<column>``, ``cp_id_``), built once per set
    of columns: building a statement from values on every message cost more than running it."""
    table = ChargePoint.__table__
    statement = (
        update(ChargePoint)
        .where(ChargePoint.id == bindparam("cp_id_"))
        .values({c: bindparam(f"set_{c}", type_=table.c[c].type) for c in columns})
    )
    return statement.returning(*(table.c[c] for c in returning)) if returning else statement


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
        self._changes: dict[str, Any] = {}  # columns of this charge point to set, written by flush_charger

    def update_charger(self, **values: Any) -> None:
        """Set columns of this charge point. Written once the handler is done (:meth:`flush_charger`), with the
        message's other changes of the row, in one UPDATE that loads nothing (Core: the ORM's bookkeeping cost
        more than the statement)."""
        self._changes.update(values)

    def flush_charger(self, *returning: str) -> Row | None:
        """Write the changes set so far in one UPDATE; with ``returning`` (column names), the row's values of
        those columns, read by the same statement (PostgreSQL and SQLite both have RETURNING). None when there
        was nothing to write."""
        if not self._changes:
            return None
        changes, self._changes = self._changes, {}
        params = {f"set_{c}": v for c, v in changes.items()}
        params["cp_id_"] = self.row.id
        result = self.session.connection().execute(_set_charger(tuple(changes), returning), params)
        return result.first() if returning else None
