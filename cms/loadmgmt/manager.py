"""When to re-allocate: events from the charger message path, one worker per station, serialised per station.

:meth:`LoadManager.observe` is a :data:`cms.message_runner.MessageObserver`: called after a charger's message is
committed, it only queues what matters (BootNotification accepted, Start/StopTransaction, a connector's
StatusNotification, MeterValues with currents) and returns. A router thread maps charge points to their stations
(managed ones only) and wakes that station's worker, which waits ``debounce`` seconds (up to 1 s for a status,
``meter_debounce`` for meter values alone) so that a burst of events costs one re-allocation, then runs
:class:`Applier.reallocate`; what comes during a run is answered by the next.

Across worker processes, a station is re-allocated by one process at a time: on PostgreSQL under an advisory
lock on the station; on SQLite (one process) the station's own worker already serialises it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select

from ..message_runner import CommittedMessage
from ..models import ChargePoint, StationLoadLimit
from .applier import Applier

log = logging.getLogger(__name__)

SESSION_STATUSES = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Available", "Preparing"})
LOCK_CLASS = 0x10AD  # the first key of the PostgreSQL advisory locks taken here (the second is the station id)
STATION_CACHE_SECONDS = 5.0  # how long the map of managed charge points to their stations is trusted
STATUS_SECONDS = 1.0  # at most this long after a connector's status alone (it changes no limit at once)
RETRY_SECONDS = 2.0  # a run that held raises back (a lowered limit went unanswered) is tried again this soon


def _event(message: CommittedMessage) -> str | None:
    """What a committed message means to load management: "boot", "transaction" (a start or stop), "status",
    "meter" or nothing."""
    action, request = message.action, message.request
    if action == "BootNotification":
        return "boot" if message.response.get("status") == "Accepted" else None
    if action in ("StartTransaction", "StopTransaction"):
        return "transaction"
    if action == "StatusNotification":
        if (request.get("connectorId") or 0) > 0 and request.get("status") in SESSION_STATUSES:
            return "status"
        return None
    if action == "MeterValues" and request.get("transactionId") is not None:
        for mv in request.get("meterValue") or []:
            for sample in mv.get("sampledValue") or []:
                if sample.get("measurand") == "Current.Import":
                    return "meter"
    return None


class _StationWorker:
    """Re-allocates one station when woken, after a debounce, one run at a time."""

    def __init__(self, manager: LoadManager, station_id: int):
        self.manager = manager
        self.station_id = station_id
        self._cond = threading.Condition()
        self._due: float | None = None
        self._booted: set[int] = set()
        self._all_defaults = False
        self._release = False
        self._running = False
        # When each start or stop waiting for the next run was committed (monotonic clock).
        self._event_times: list[float] = []
        self.runs = 0
        threading.Thread(target=self._loop, name=f"cms-loadmgmt-{station_id}", daemon=True).start()

    def wake(
        self,
        delay: float,
        *,
        booted: int | None = None,
        all_defaults: bool = False,
        release: bool = False,
        transaction_at: float | None = None,
    ):
        """Re-allocate within ``delay`` seconds; ``transaction_at``: for a start or stop committed then (monotonic
        clock; the run's log line says how long it waited)."""
        with self._cond:
            now = time.monotonic()
            if transaction_at is not None:
                self._event_times.append(transaction_at)
            due = now + delay
            self._due = due if self._due is None else min(self._due, due)
            if booted is not None:
                self._booted.add(booted)
            self._all_defaults |= all_defaults
            self._release |= release
            self._cond.notify()

    def idle(self) -> bool:
        return self._due is None and not self._running

    def _loop(self) -> None:
        while not self.manager.stopped.is_set():
            with self._cond:
                while self._due is None or time.monotonic() < self._due:
                    if self.manager.stopped.is_set():
                        return
                    self._cond.wait(None if self._due is None else max(0.0, self._due - time.monotonic()))
                booted, all_defaults, release = frozenset(self._booted), self._all_defaults, self._release
                self._due, self._booted, self._all_defaults, self._release = None, set(), False, False
                event_times, self._event_times = self._event_times, []
                self._running = True
            started = time.monotonic()
            try:
                applier = self.manager.applier
                assert applier is not None  # workers exist once the manager started
                with self.manager.station_lock(self.station_id):
                    if release:
                        applier.release(self.station_id)
                    done = applier.reallocate(self.station_id, booted=booted, all_defaults=all_defaults)
                if done is not None:
                    end = time.monotonic()
                    # One line per run, with how long each start and stop it answers waited, from its commit to
                    # the run's last profile accepted (the benchmark reads these).
                    waits = sorted(end - t for t in event_times)
                    log.info(
                        "loadmgmt run station=%d transactions=%d waited_max=%.3f waited_min=%.3f seconds=%.3f "
                        "sessions=%d accepted=%d refused=%d failed=%d waits=%s",
                        self.station_id,
                        len(waits),
                        waits[-1] if waits else 0.0,
                        waits[0] if waits else 0.0,
                        end - started,
                        done.sessions,
                        done.accepted,
                        len(done.refused),
                        done.failed,
                        ",".join(f"{w:.3f}" for w in waits) or "-",
                    )
                    if done.deferred:
                        self.wake(RETRY_SECONDS)
            except Exception:  # the next event tries again
                log.exception("re-allocation of station %s failed", self.station_id)
            self._running = False
            self.runs += 1
            self.manager.ran(self.station_id)


class LoadManager:
    """Site load management of this process: observes charger messages, re-allocates stations."""

    def __init__(self, *, debounce: float = 0.2, meter_debounce: float = 5.0):
        self.debounce = debounce
        self.meter_debounce = meter_debounce
        # A start or stop (or a boot) is answered at once; a status (Charging after a start, SuspendedEV) can wait
        # a little, so that the run of the start is not held up behind one for the status that came with it.
        self._delays = {
            "boot": debounce,
            "transaction": debounce,
            "status": max(debounce, min(meter_debounce, STATUS_SECONDS)),
            "meter": meter_debounce,
        }
        self.rt: Any = None  # the runtime, once started
        self.applier: Applier | None = None
        self.stopped = threading.Event()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: dict[int, _StationWorker] = {}
        # Charge point id -> station, for the charge points of stations whose load management is on; read whole
        # (None: read it next time), at ``_managed_read_at``.
        self._managed: dict[int, int] | None = None
        self._managed_read_at = 0.0
        self._idle = threading.Condition()
        self._routing = False  # a batch taken from the queue is being routed
        self._router: threading.Thread | None = None
        self._router_lock = threading.Lock()

    # ----- the seam in the charger message path

    def observe(self, message: CommittedMessage) -> None:
        """Queue what the message means for load management (quick: it runs on the charger's read path)."""
        if self.rt is None:
            return
        kind = _event(message)
        if kind is not None:
            self._start_router()
            self._events.put((message.charge_point_id, kind, time.monotonic()))

    def _start_router(self) -> None:
        """The router thread starts with the first event (a process that never hears one runs none)."""
        if self._router is None:
            with self._router_lock:
                if self._router is None and not self.stopped.is_set():
                    self._router = threading.Thread(target=self._route, name="cms-loadmgmt-router", daemon=True)
                    self._router.start()

    # ----- life cycle

    def start(self, rt, applier: Applier | None = None) -> None:
        """Get ready to route events; ``rt`` is the runtime (database, dispatcher) the applier sends through."""
        self.rt = rt
        self.applier = applier or Applier(
            rt, timeout=min(10.0, rt.settings.call_timeout), concurrency=max(1, rt.settings.loadmgmt_concurrency)
        )

    def stop(self) -> None:
        self.stopped.set()
        self._events.put(None)
        for w in list(self._workers.values()):
            with w._cond:
                w._cond.notify()
        if self.applier is not None:
            self.applier.close()

    # ----- owners' changes

    def limit_changed(self, station_id: int, *, enabled: bool) -> None:
        """The station's limit was set (every charge point gets its fallback again) or switched off (the
        profiles load management gave are cleared)."""
        self._forget_stations()
        self._worker(station_id).wake(0.0, all_defaults=enabled, release=not enabled)

    def load_changed(self, station_id: int) -> None:
        """The station's external load changed."""
        self._worker(station_id).wake(self.debounce)

    # ----- internals

    def _worker(self, station_id: int) -> _StationWorker:
        worker = self._workers.get(station_id)
        if worker is None:
            worker = self._workers.setdefault(station_id, _StationWorker(self, station_id))
        return worker

    def _forget_stations(self) -> None:
        self._managed = None

    def _route(self) -> None:
        while not self.stopped.is_set():
            item = self._events.get()
            if item is None:
                return
            self._routing = True
            batch = [item]
            while True:
                try:
                    more = self._events.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    return
                batch.append(more)
            try:
                stations = self._managed_stations({cp_id for cp_id, _, _ in batch})
                for cp_id, kind, at in batch:
                    station_id = stations.get(cp_id)
                    if station_id is None:
                        continue
                    self._worker(station_id).wake(
                        max(0.0, at + self._delays[kind] - time.monotonic()),
                        booted=cp_id if kind == "boot" else None,
                        transaction_at=at if kind == "transaction" else None,
                    )
            except Exception:
                log.exception("load management could not route %d event(s)", len(batch))
            finally:
                self._routing = False

    def _managed_stations(self, cp_ids: set[int]) -> dict[int, int | None]:
        """Each charge point's station when that station's load management is on, else None.

        The map of managed charge points is read whole, at most every STATION_CACHE_SECONDS: in a reconnect
        storm every boot is a charge point not asked about before, and one query per routed batch cost the
        workers an eighth of their CPU (most charge points are in no managed station)."""
        now = time.monotonic()
        if self._managed is None or now - self._managed_read_at >= STATION_CACHE_SECONDS:
            with self.rt.db.uow() as uow:
                rows = uow.session.execute(
                    select(ChargePoint.id, ChargePoint.station_id)
                    .join(StationLoadLimit, StationLoadLimit.station_id == ChargePoint.station_id)
                    .where(StationLoadLimit.enabled.is_(True))
                ).all()
            self._managed, self._managed_read_at = {cp_id: station_id for cp_id, station_id in rows}, now
        return {cp_id: self._managed.get(cp_id) for cp_id in cp_ids}

    @contextmanager
    def station_lock(self, station_id: int) -> Iterator[None]:
        """Hold the station against re-allocation by other processes (PostgreSQL advisory lock)."""
        engine = self.rt.db.engine
        if engine.dialect.name != "postgresql":
            yield
            return
        key = (LOCK_CLASS << 32) | station_id
        with engine.connect() as conn:
            conn.execute(select(func.pg_advisory_lock(key)))
            conn.commit()
            try:
                yield
            finally:
                conn.execute(select(func.pg_advisory_unlock(key)))
                conn.commit()

    def ran(self, station_id: int) -> None:
        with self._idle:
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """For tests and benchmarks: wait until no event is queued and no station is due or running."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while time.monotonic() < deadline:
                if not self._routing and self._events.empty() and all(w.idle() for w in self._workers.values()):
                    return True
                self._idle.wait(0.05)
        return False
