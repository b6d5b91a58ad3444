"""What a handler of a charger-initiated message gets: the charger, its row, the session, settings, the time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Update, bindparam, update
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
    heartbeat_interval: int | None = None  # the charger's own (None: the server's setting)


@lru_cache(maxsize=128)
def _set_charger(columns: tuple[str, ...]) -> Update:
    """The UPDATE of a charge point's ``columns`` (parameters ``set_<column>``, ``cp_id_``), built once per set
    of columns: building a statement from values on every message cost more than running it."""
    table = ChargePoint.__table__
    return (
        update(ChargePoint)
        .where(ChargePoint.id == bindparam("cp_id_"))
        .values({c: bindparam(f"set_{c}", type_=table.c[c].type) for c in columns})
    )


def _write_changes(session: Session, changes: list[tuple[int, dict[str, Any]]]) -> None:
    """Write (charge point id, {column: value}) changes: one statement (executemany) per set of columns, rows in
    the order of their ids."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for cp_id, values in sorted(changes, key=lambda c: c[0]):
        params = {f"set_{c}": v for c, v in values.items()}
        params["cp_id_"] = cp_id
        by_columns.setdefault(tuple(sorted(values)), []).append(params)
    conn = session.connection()
    for columns, params_list in by_columns.items():
        conn.execute(_set_charger(columns), params_list)


class PendingChargerWrites:
    """The charge point changes of a commit group's messages, written together before the group commits: one
    executemany per set of columns, rows in the order of their ids, instead of an UPDATE per message (in a
    reconnect storm a group is dozens of BootNotifications)."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[int, dict[str, Any]]] = {}  # identity -> (charge point id, changes)

    def add(self, identity: str, cp_id: int, changes: dict[str, Any]) -> None:
        if changes:
            earlier = self._pending.get(identity)
            self._pending[identity] = (cp_id, {**earlier[1], **changes} if earlier else changes)

    def write(self, session: Session, identity: str | None = None) -> None:
        """Write what is pending; with ``identity``, only that charger's (its next message reads its row)."""
        if identity is None:
            pending, self._pending = list(self._pending.values()), {}
        elif identity in self._pending:
            pending = [self._pending.pop(identity)]
        else:
            return
        _write_changes(session, pending)


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
        """Set columns of this charge point. Written once the handler is done (:meth:`flush_charger`, or with the
        commit group's other changes), with the message's other changes of the row, by an UPDATE that loads
        nothing (Core: the ORM's bookkeeping cost more than the statement)."""
        self._changes.update(values)

    def take_changes(self) -> dict[str, Any]:
        """The changes set so far, handed over to be written by the caller (:class:`PendingChargerWrites`)."""
        changes, self._changes = self._changes, {}
        return changes

    def flush_charger(self) -> None:
        """Write the changes set so far in one UPDATE."""
        changes = self.take_changes()
        if changes:
            _write_changes(self.session, [(self.row.id, changes)])
