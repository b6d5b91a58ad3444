"""Heartbeat times and message-log rows written in batches.

A Heartbeat is the most frequent message (20,000 chargers at a 30 s interval send 670 a second) and changes
nothing but a timestamp. Writing each in its own transaction costs a charger's full round of SQL; instead the
answer goes out at once and the timestamps of all chargers of this process are written together, once per
interval. The message log (troubleshooting copies of every request and answer) is written the same way for
every message. A crash loses at most one interval of heartbeat times, which the next heartbeat restores, and of
log copies; the data the messages carry (transactions, meter values, statuses) is written before they are
answered, as ever.

On PostgreSQL a batch is two statements whatever its size (``unnest`` arrays for the times, one
``json_to_recordset`` document for the log rows): a batch's cost must stay small beside the interval, because
this greenlet shares its process with the connections it answers.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime

from sqlalchemy import bindparam, insert, select, text, update

from . import message_log
from .bulk import json_rows, naive_utc, recordset
from .db import Database, database_unreachable
from .metrics import NO_METRICS, Metrics
from .models import ChargePoint, MessageLogEntry, utcnow

log = logging.getLogger(__name__)

# Log rows kept in memory while the database is away (a minute of a busy worker's traffic); older ones go first.
MAX_PENDING_LOG_ROWS = 200_000


_SET_HEARTBEAT = (
    update(ChargePoint)
    .where(ChargePoint.id == bindparam("cp_id_"))
    .values(last_heartbeat_at=bindparam("at_"), last_seen_at=bindparam("at_"))
)

_PG_SET_HEARTBEAT = text(
    "UPDATE charge_points AS c SET last_heartbeat_at = v.at, last_seen_at = v.at "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamp[])) AS v(id, at) WHERE c.id = v.id"
)
_PG_LOCK_CHARGERS = text(
    "SELECT id FROM charge_points WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED"
)
_PG_EXISTING = text("SELECT id FROM charge_points WHERE id = ANY(CAST(:ids AS bigint[]))")
_LOG_COLUMNS = ["charge_point_id", "direction", "action", "unique_id", "payload", "created_at"]
_LOG_SELECT, _LOG_RECORD = recordset(MessageLogEntry.__table__, _LOG_COLUMNS)
# Rows of chargers removed meanwhile are left out by the join (their foreign key would fail the batch).
_PG_INSERT_LOG = text(
    f"INSERT INTO message_log ({', '.join(_LOG_COLUMNS)}) SELECT {_LOG_SELECT} "
    f"FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS ({_LOG_RECORD})) "
    f"WITH ORDINALITY AS x({', '.join(_LOG_COLUMNS)}, n) JOIN charge_points AS c ON c.id = x.charge_point_id "
    "ORDER BY x.n"
)


class HeartbeatBatcher:
    """Collects heartbeat times and message-log rows of this process; writes them every ``interval`` seconds.

    ``log_limit`` bounds each charger's log as :func:`cms.message_log.record` does: after a batch, a small
    random share of the chargers in it are trimmed to their newest ``log_limit`` entries.
    """

    def __init__(self, db: Database, interval: float, log_limit: int = 500, *, metrics: Metrics = NO_METRICS):
        self.db = db
        self.metrics = metrics
        self.interval = interval
        self.log_limit = log_limit
        self._lock = threading.Lock()
        self._latest: dict[int, datetime] = {}
        self._log_rows: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._postgres = db.engine.dialect.name == "postgresql"
        self._write_through = False  # after close(): each record is written before its message is answered

    def record(self, charge_point_id: int, at: datetime, log_rows: list[dict]) -> None:
        """A heartbeat of ``charge_point_id`` at ``at``, with its request and answer for the log."""
        with self._lock:
            self._latest[charge_point_id] = at
            self._log_rows.extend(log_rows)
        if self._write_through:
            self.flush()

    def log(self, rows: list[dict]) -> None:
        """Message-log rows (``message_log`` columns) to write with the next batch."""
        with self._lock:
            self._log_rows.extend(rows)
        if self._write_through:
            self.flush()

    def flush(self) -> int:
        """Write what was collected; returns the number of chargers whose heartbeat time was updated.

        A batch the database refuses for a row it cannot store is written apart: the heartbeat times on their
        own, the log rows in halves down to the row that fails alone, which is dropped with a WARNING line. When
        the database cannot be reached at all, everything is kept for the next round (the times merged with
        newer ones; at most MAX_PENDING_LOG_ROWS log rows) and the failure is raised.
        """
        with self._lock:
            latest, rows = self._latest, self._log_rows
            self._latest, self._log_rows = {}, []
        if not latest and not rows:
            return 0
        try:
            updated, deferred = self._write(latest, rows, prune=True)
        except Exception as failure:
            if database_unreachable(failure):
                self._requeue(latest, rows)
                raise
            log.warning(
                "a batch of %d heartbeat times and %d log rows was refused; written apart",
                len(latest),
                len(rows),
                exc_info=True,
            )
            updated, deferred = self._write_apart(latest, rows)
        # What was written, and how long the oldest of it waited; a time left for the next round counts then.
        written = [at for cp_id, at in latest.items() if cp_id not in deferred]
        if updated and written:
            self.metrics.heartbeat_batch_written(updated, (utcnow() - min(written)).total_seconds())
        return updated

    def _write(self, latest: dict[int, datetime], rows: list[dict], *, prune: bool = False) -> tuple[int, set[int]]:
        """Write in one transaction; returns how many heartbeat times were written and the chargers whose time
        was left for the next round (their row was held by another transaction)."""
        deferred: dict[int, datetime] = {}
        with self.db.uow() as uow:
            conn = uow.session.connection()
            if self._postgres:
                updated, deferred = self._write_postgres(conn, latest, rows)
            else:
                updated = self._write_generic(uow.session, latest, rows)
            if prune and self.log_limit > 0:
                for cp_id in {r["charge_point_id"] for r in rows if random.random() < message_log.PRUNE_PROBABILITY}:
                    message_log.prune(uow.session, cp_id, self.log_limit)
            uow.commit()
        if deferred:
            self._requeue(deferred, [])
        return updated, set(deferred)

    def _write_apart(self, latest: dict[int, datetime], rows: list[dict]) -> tuple[int, set[int]]:
        """Write a refused batch in parts, so that only a row that cannot be stored is lost."""
        updated, deferred = 0, set[int]()
        if latest:
            try:
                updated, deferred = self._write(latest, [])
            except Exception as failure:
                if database_unreachable(failure):
                    self._requeue(latest, rows)
                    raise
                log.exception("%d heartbeat times could not be written", len(latest))
        todo = [rows] if rows else []
        while todo:
            part = todo.pop()
            try:
                self._write({}, part)
            except Exception as failure:
                if database_unreachable(failure):
                    self._requeue({}, [r for p in [part, *todo] for r in p])
                    raise
                if len(part) > 1:
                    half = len(part) // 2
                    todo += [part[half:], part[:half]]
                    continue
                row = part[0]
                log.warning(
                    "message-log row of charge point %s (%s %s) dropped, the database refused it: %s",
                    row.get("charge_point_id"),
                    row.get("direction"),
                    message_log.storable_field(row.get("action"), 64),
                    str(failure).splitlines()[0][:200],
                )
        return updated, deferred

    def _requeue(self, latest: dict[int, datetime], rows: list[dict]) -> None:
        """Keep what could not be written (the database is away) for the next round; newer times win."""
        with self._lock:
            for cp_id, at in latest.items():
                if cp_id not in self._latest or self._latest[cp_id] < at:
                    self._latest[cp_id] = at
            room = MAX_PENDING_LOG_ROWS - len(self._log_rows)
            if room > 0:
                self._log_rows[:0] = rows[-room:]
            if len(rows) > max(room, 0):
                log.warning("%d message-log rows dropped: the database is away", len(rows) - max(room, 0))

    @staticmethod
    def _write_postgres(conn, latest: dict[int, datetime], rows: list[dict]) -> tuple[int, dict[int, datetime]]:
        """Write the batch; returns how many heartbeat times were written and those left for the next round.

        The rows are locked first, in the order of their ids, as every batch writer does, so that two batches never
        deadlock; NO KEY UPDATE, as the UPDATE itself takes, so a foreign key check of another insert (KEY SHARE)
        does not wait. A row another transaction holds (a commit group updating the charger's row, which locks in
        the order its messages came) is skipped, not waited for: waiting could close a cycle with that transaction
        (a deadlock, and a second of stall for both), while a heartbeat time can as well be written next round."""
        updated, deferred = 0, {}
        if latest:
            locked = set(conn.execute(_PG_LOCK_CHARGERS, {"ids": sorted(latest)}).scalars())
            if len(locked) < len(latest):  # held elsewhere (kept for the next round) or removed (dropped)
                skipped = [cp for cp in latest if cp not in locked]
                deferred = {cp: latest[cp] for cp in conn.execute(_PG_EXISTING, {"ids": skipped}).scalars()}
            if locked:
                ids = sorted(locked)
                updated = conn.execute(
                    _PG_SET_HEARTBEAT, {"ids": ids, "ats": [naive_utc(latest[i]) for i in ids]}
                ).rowcount
        if rows:
            conn.execute(_PG_INSERT_LOG, {"rows": json_rows(rows)})
        return updated, deferred

    @staticmethod
    def _write_generic(s, latest: dict[int, datetime], rows: list[dict]) -> int:
        ids = set(latest) | {r["charge_point_id"] for r in rows}
        alive = set(s.scalars(select(ChargePoint.id).where(ChargePoint.id.in_(list(ids))))) if ids else set()
        params = [{"cp_id_": cp, "at_": at} for cp, at in latest.items() if cp in alive]
        if params:
            s.connection().execute(_SET_HEARTBEAT, params)
        rows = [r for r in rows if r["charge_point_id"] in alive]
        if rows:
            s.execute(insert(MessageLogEntry.__table__), rows)
        return len(params)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="cms-heartbeats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.flush()

    def close(self) -> None:
        """The process is stopping: write what was collected, and from now on write each record at once (a
        message answered after this is written before its answer, with nothing left for a batch to lose)."""
        self._write_through = True
        self.stop()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the next round writes the newer times
                log.exception("writing heartbeats failed")
