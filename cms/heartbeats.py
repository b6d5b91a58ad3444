"""Heartbeats written in batches.

A Heartbeat is the most frequent message (20,000 chargers at a 30 s interval send 670 a second) and changes
nothing but a timestamp. Writing each in its own transaction costs a charger's full round of SQL; instead the
answer goes out at once and the timestamps and message-log rows of all chargers of this process are written
together, once per interval. A crash loses at most one interval of heartbeat times, which the next heartbeat
restores.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from .db import Database
from .models import ChargePoint, MessageLogEntry

log = logging.getLogger(__name__)

_SET_HEARTBEAT = (update(ChargePoint).where(ChargePoint.id == bindparam("cp_id_"))
                  .values(last_heartbeat_at=bindparam("at_"), last_seen_at=bindparam("at_")))


class HeartbeatBatcher:
    """Collects heartbeats of this process and writes them every ``interval`` seconds in one transaction."""

    def __init__(self, db: Database, interval: float):
        self.db = db
        self.interval = interval
        self._lock = threading.Lock()
        self._latest: dict[int, datetime] = {}
        self._log_rows: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, charge_point_id: int, at: datetime, log_rows: list[dict]) -> None:
        with self._lock:
            self._latest[charge_point_id] = at
            self._log_rows.extend(log_rows)

    def flush(self) -> int:
        """Write what was collected; returns the number of chargers updated."""
        with self._lock:
            latest, rows = self._latest, self._log_rows
            self._latest, self._log_rows = {}, []
        if not latest and not rows:
            return 0
        with self.db.uow() as uow:
            s = uow.session
            # A charger removed meanwhile keeps no log rows (its foreign key would fail the whole batch).
            alive = set(s.scalars(select(ChargePoint.id).where(ChargePoint.id.in_(list(latest)))))
            params = [{"cp_id_": cp, "at_": at} for cp, at in latest.items() if cp in alive]
            if params:
                s.connection().execute(_SET_HEARTBEAT, params)
            rows = [r for r in rows if r["charge_point_id"] in alive]
            if rows:
                s.execute(insert(MessageLogEntry.__table__), rows)
            uow.commit()
        return len(params)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="cms-heartbeats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the next round writes the newer times
                log.exception("writing heartbeats failed")
