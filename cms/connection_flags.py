"""Connected / disconnected flags of charge points written in batches.

Each JSON charger that connects or disconnects changes its row (``connected``, ``connected_node``, times). One
transaction each is three round trips and a pooled connection for a fact a dashboard shows; in a reconnect storm
thousands arrive per second and would queue for the pool ahead of the chargers' own messages. They are collected
instead and written every ``interval`` seconds in one transaction: on PostgreSQL two statements whatever their
number (``unnest`` arrays), the rows locked first in the order of their ids (FOR NO KEY UPDATE, as an UPDATE
locks: foreign key checks of other inserts do not wait), so that two workers' batches (and the heartbeat
batches, which lock the same way) never deadlock. A row another transaction holds is skipped, not waited for,
and its facts are written next round: a commit group (a charger's BootNotification, in a storm thousands at
once) locks its rows in the order its messages came, and waiting for one could close a cycle with it.

Per charger the latest connect and the latest disconnect are kept; connects are written first, and a disconnect
only clears the flag when the row still names the connection that ended, so a charger that moved to another
connection or process in the meantime stays online. A failed batch is kept for the next round.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import bindparam, text, update

from .bulk import naive_utc
from .db import Database
from .models import ChargePoint

log = logging.getLogger(__name__)

_PG_LOCK = text(
    "SELECT identity FROM charge_points WHERE identity = ANY(CAST(:ids AS text[])) ORDER BY id "
    "FOR NO KEY UPDATE SKIP LOCKED"
)
_PG_EXISTING = text("SELECT identity FROM charge_points WHERE identity = ANY(CAST(:ids AS text[]))")
_PG_CONNECT = text(
    "UPDATE charge_points AS c SET connected = true, connected_node = v.node, connected_at = v.at, "
    "last_seen_at = v.at FROM unnest(CAST(:ids AS text[]), CAST(:nodes AS text[]), CAST(:ats AS timestamp[])) "
    "AS v(identity, node, at) WHERE c.identity = v.identity"
)
_PG_DISCONNECT = text(
    "UPDATE charge_points AS c SET connected = false, disconnected_at = v.at "
    "FROM unnest(CAST(:ids AS text[]), CAST(:nodes AS text[]), CAST(:ats AS timestamp[])) AS v(identity, node, at) "
    "WHERE c.identity = v.identity AND c.connected_node = v.node"
)
_CONNECT = (
    update(ChargePoint)
    .where(ChargePoint.identity == bindparam("identity_"))
    .values(
        connected=True,
        connected_node=bindparam("node_"),
        connected_at=bindparam("at_"),
        last_seen_at=bindparam("at_"),
    )
)
_DISCONNECT = (
    update(ChargePoint)
    .where(ChargePoint.identity == bindparam("identity_"), ChargePoint.connected_node == bindparam("node_"))
    .values(connected=False, disconnected_at=bindparam("at_"))
)


class ConnectionFlags:
    """Collects connects and disconnects of this process; writes them every ``interval`` seconds."""

    def __init__(self, db: Database, interval: float):
        self.db = db
        self.interval = interval
        self._lock = threading.Lock()
        self._connects: dict[str, tuple[str, datetime]] = {}
        self._disconnects: dict[str, tuple[str, datetime]] = {}
        self._stop = threading.Event()
        self._write_through = False
        self._postgres = db.engine.dialect.name == "postgresql"

    def connected(self, identity: str, node: str, at: datetime) -> None:
        with self._lock:
            self._connects[identity] = (node, at)
        if self._write_through:
            self.flush()

    def disconnected(self, identity: str, node: str, at: datetime) -> None:
        with self._lock:
            self._disconnects[identity] = (node, at)
        if self._write_through:
            self.flush()

    def flush(self) -> int:
        """Write what was collected; returns how many facts were written. Kept for the next round on failure."""
        with self._lock:
            connects, disconnects = self._connects, self._disconnects
            self._connects, self._disconnects = {}, {}
        if not connects and not disconnects:
            return 0
        held: set[str] = set()
        later_connects: dict[str, tuple[str, datetime]] = {}
        later_disconnects: dict[str, tuple[str, datetime]] = {}
        try:
            with self.db.uow() as uow:
                conn = uow.session.connection()
                if self._postgres:
                    held = self._held_elsewhere(conn, set(connects) | set(disconnects))
                    if held:  # written next round, merged with what comes meanwhile
                        later_connects = {i: connects.pop(i) for i in held if i in connects}
                        later_disconnects = {i: disconnects.pop(i) for i in held if i in disconnects}
                    for statement, facts in ((_PG_CONNECT, connects), (_PG_DISCONNECT, disconnects)):
                        if facts:
                            ids = sorted(facts)
                            conn.execute(
                                statement,
                                {
                                    "ids": ids,
                                    "nodes": [facts[i][0] for i in ids],
                                    "ats": [naive_utc(facts[i][1]) for i in ids],
                                },
                            )
                else:
                    for generic, facts in ((_CONNECT, connects), (_DISCONNECT, disconnects)):
                        if facts:
                            conn.execute(
                                generic,
                                [{"identity_": i, "node_": n, "at_": at} for i, (n, at) in sorted(facts.items())],
                            )
                uow.commit()
        except Exception:
            self._keep({**later_connects, **connects}, {**later_disconnects, **disconnects})
            raise
        if held:
            self._keep(later_connects, later_disconnects)
        return len(connects) + len(disconnects)

    def _keep(self, connects: dict[str, tuple[str, datetime]], disconnects: dict[str, tuple[str, datetime]]) -> None:
        """Facts not written: kept for the next round; newer facts collected meanwhile win."""
        with self._lock:
            self._connects = {**connects, **self._connects}
            self._disconnects = {**disconnects, **self._disconnects}

    @staticmethod
    def _held_elsewhere(conn, identities: set[str]) -> set[str]:
        """Lock the rows of ``identities`` (in the order of their ids, skipping rows another transaction holds);
        the identities whose rows are held elsewhere. An identity without a row is not among them (its facts
        change nothing)."""
        locked = set(conn.execute(_PG_LOCK, {"ids": sorted(identities)}).scalars())
        if len(locked) == len(identities):
            return set()
        skipped = sorted(identities - locked)
        return set(conn.execute(_PG_EXISTING, {"ids": skipped}).scalars())

    def start(self) -> None:
        threading.Thread(target=self._loop, name="cms-connection-flags", daemon=True).start()

    def close(self) -> None:
        """The process is stopping: write what was collected, then each fact at once."""
        self._write_through = True
        self._stop.set()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # kept: the next round writes it
                log.warning("writing connection flags failed; retried", exc_info=True)
