"""In-memory fakes of the pipeline's collaborators: a unit of work, a session whose statements are recorded,
a heartbeat batcher, a group committer, metrics. No app, no database: the rules run against these."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cms.handlers import ChargerRow, OperationContext


class FakeResult:
    def __init__(self, row: tuple | None = None, rowcount: int = 1):
        self._row = row
        self.rowcount = rowcount

    def first(self):
        return self._row

    def scalar(self):
        return self._row[0] if self._row else None


class FakeConnection:
    """Records every statement; answers the charger-row read with ``charger_row``."""

    def __init__(self, charger_row: tuple | None = None):
        self.charger_row = charger_row
        self.executed: list[tuple[Any, Any]] = []

    def execute(self, statement, params=None):
        self.executed.append((statement, params))
        if params and "identity_" in params:  # the charger's row (cms.message_runner._CHARGER_ROW)
            return FakeResult(self.charger_row)
        return FakeResult()


class FakeSession:
    def __init__(self, charger_row: tuple | None = None):
        self.conn = FakeConnection(charger_row)
        self.added: list[Any] = []
        self.committed = False

    def connection(self):
        return self.conn

    def add(self, obj) -> None:
        self.added.append(obj)

    def flush(self) -> None:
        for n, obj in enumerate(self.added, start=1):
            if getattr(obj, "id", None) is None:
                obj.id = 1000 + n


class FakeUnitOfWork:
    def __init__(self, session: FakeSession):
        self.session = session

    def commit(self) -> None:
        self.session.committed = True


class FakeDatabase:
    """Hands out units of work on sessions made by ``make_session`` (each kept in ``sessions``)."""

    def __init__(self, charger_row: tuple | None = None):
        self.charger_row = charger_row
        self.sessions: list[FakeSession] = []

    @contextmanager
    def uow(self):
        session = FakeSession(self.charger_row)
        self.sessions.append(session)
        yield FakeUnitOfWork(session)


@dataclass
class FakeBatcher:
    """A HeartbeatBatcher that keeps what it is given."""

    heartbeats: list[tuple[int, datetime, list]] = field(default_factory=list)
    log_rows: list[dict] = field(default_factory=list)

    def record(self, charge_point_id: int, at: datetime, log_rows: list[dict]) -> None:
        self.heartbeats.append((charge_point_id, at, log_rows))

    def log(self, rows: list[dict]) -> None:
        self.log_rows.extend(rows)


@dataclass
class FakeGroupCommit:
    submitted: list[str] = field(default_factory=list)

    def submit(self, charger, action, payload, unique_id, raw) -> dict:
        self.submitted.append(action)
        return {"grouped": action}


@dataclass
class FakeMetrics:
    messages: list[tuple[str, str | None, str]] = field(default_factory=list)

    def charger_message(self, transport, action, outcome, seconds=None) -> None:
        self.messages.append((transport, action, outcome))


def charger_row(
    identity: str = "CP1", *, status: str = "Accepted", registered: bool = True, transport: str = "json"
) -> tuple:
    """A charge point's row as cms.message_runner reads it."""
    return (7, identity, None, registered, status, transport, "1.6", None, None)


class FakeContext(OperationContext):
    """An OperationContext whose session is fake: the charger's column changes are recorded. ``registered`` and
    ``heartbeat_interval`` (the charger's own) are the charge point row's."""

    def __init__(
        self, settings=None, now: datetime | None = None, *, registered: bool = True, heartbeat_interval=None, **kw
    ):
        from cms.config import Settings
        from cms.datatransfer import DataTransferRegistry
        from cms.handlers import Charger

        row = ChargerRow(*charger_row(registered=registered), heartbeat_interval=heartbeat_interval)
        super().__init__(
            FakeSession(),
            row,
            kw.pop("charger", Charger("CP1")),
            settings or Settings(),
            now or datetime(2030, 1, 1, 12, 0),
            kw.pop("data_transfer", DataTransferRegistry()),
        )
        self.charger_updates: list[dict] = []

    def update_charger(self, **values) -> None:
        self.charger_updates.append(values)

    def flush_charger(self) -> None:
        pass  # recorded by update_charger
