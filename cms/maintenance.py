"""Periodic upkeep in every server process: expire reservations, notice chargers that vanished silently."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import update

from .db import Database
from .models import ChargePoint, utcnow

log = logging.getLogger(__name__)


def mark_silent_chargers_offline(db: Database, heartbeat_interval: int) -> int:
    """A charger marked connected that sent nothing for three heartbeat intervals (15 min at least) is offline:
    its server process died without saying so."""
    cutoff = utcnow() - timedelta(seconds=max(900, 3 * heartbeat_interval))
    with db.uow() as uow:
        n = uow.session.execute(
            update(ChargePoint)
            .where(ChargePoint.connected.is_(True), ChargePoint.transport == "json", ChargePoint.last_seen_at < cutoff)
            .values(connected=False, disconnected_at=utcnow())
        ).rowcount
        uow.commit()
    return n or 0


def reset_connection_flags(db: Database) -> None:
    """On start-up of a lone process (no Redis), no JSON charger is connected yet, whatever the database says."""
    with db.uow() as uow:
        uow.session.execute(update(ChargePoint).where(ChargePoint.connected.is_(True), ChargePoint.transport == "json")
                            .values(connected=False))
        uow.commit()


class Maintenance:
    """Runs :meth:`run_once` every ``interval`` seconds on a daemon thread (a greenlet under gevent)."""

    def __init__(self, db: Database, heartbeat_interval: int, interval: float):
        self.db = db
        self.heartbeat_interval = heartbeat_interval
        self.interval = interval
        self._stop = threading.Event()

    def run_once(self) -> dict:
        from .driver_sessions import expire_reservations

        with self.db.uow() as uow:
            expired = expire_reservations(uow.session)
            uow.commit()
        offline = mark_silent_chargers_offline(self.db, self.heartbeat_interval)
        return {"reservations_expired": expired, "chargers_offline": offline}

    def start(self) -> None:
        threading.Thread(target=self._loop, name="cms-maintenance", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # keep going; the next round may succeed
                log.exception("maintenance round failed")
