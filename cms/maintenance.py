"""Periodic upkeep in every server process: expire reservations, notice chargers that vanished silently."""

from __future__ import annotations

import gc
import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import update

from . import energy_rollup
from .db import Database, rows_matched
from .models import ChargePoint, utcnow

log = logging.getLogger(__name__)

_NEVER = 1 << 30  # a generation-2 threshold Python never reaches


def mark_silent_chargers_offline(db: Database, heartbeat_interval: int) -> int:
    """A charger marked connected that sent nothing for three heartbeat intervals (15 min at least) is offline:
    its server process died without saying so."""
    cutoff = utcnow() - timedelta(seconds=max(900, 3 * heartbeat_interval))
    with db.uow() as uow:
        n = rows_matched(
            uow.session.execute(
                update(ChargePoint)
                .where(
                    ChargePoint.connected.is_(True), ChargePoint.transport == "json", ChargePoint.last_seen_at < cutoff
                )
                .values(connected=False, disconnected_at=utcnow())
            )
        )
        uow.commit()
    return n


def reset_connection_flags(db: Database) -> None:
    """On start-up of a lone process (no Redis), no JSON charger is connected yet, whatever the database says."""
    with db.uow() as uow:
        uow.session.execute(
            update(ChargePoint)
            .where(ChargePoint.connected.is_(True), ChargePoint.transport == "json")
            .values(connected=False)
        )
        uow.commit()


def schedule_full_collections() -> None:
    """Stop Python from running full (oldest-generation) collections on its own; :class:`Maintenance` runs them.

    Python starts one whenever a quarter more objects have survived into the oldest generation since the last,
    and its pause grows with every object alive: with 10,000 connections a process holds about a million, and
    each such pause (a few hundred milliseconds) delays every charger's answer. What exists at start-up
    (modules, mappers, compiled statements) is frozen out of collections altogether.
    """
    gen0, gen1, _ = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(gen0, gen1, _NEVER)


class Maintenance:
    """Runs :meth:`run_once` every ``interval`` seconds on a daemon thread (a greenlet under gevent).

    With ``gc_full_interval`` (seconds), it also runs a full garbage collection that often: see
    :func:`schedule_full_collections`.
    """

    def __init__(self, db: Database, heartbeat_interval: int, interval: float, gc_full_interval: float = 0):
        self.db = db
        self.heartbeat_interval = heartbeat_interval
        self.interval = interval
        self.gc_full_interval = gc_full_interval
        self._last_full_collection = time.monotonic()
        self._stop = threading.Event()

    def run_once(self) -> dict:
        from .driver_sessions import expire_reservations

        # Due or not is decided as the round starts, and the interval counts from the end of the last collection.
        collect = self.gc_full_interval > 0 and time.monotonic() - self._last_full_collection >= self.gc_full_interval
        with self.db.uow() as uow:
            expired = expire_reservations(uow.session)
            uow.commit()
        offline = mark_silent_chargers_offline(self.db, self.heartbeat_interval)
        done = {"reservations_expired": expired, "chargers_offline": offline, "energy_days": self.roll_up_energy()}
        if collect:
            done["garbage_collected"] = gc.collect()
            self._last_full_collection = time.monotonic()
        return done

    def roll_up_energy(self) -> int:
        """Fold new meter readings into the daily rollup the consumption page reads; a failure (e.g. a lock
        timeout) leaves it for the next round."""
        try:
            with self.db.uow() as uow:
                days = energy_rollup.refresh(uow.session)
                uow.commit()
            return days
        except Exception:
            log.exception("energy rollup refresh failed")
            return 0

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
