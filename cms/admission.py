"""Admission control for charger handshakes: beyond what the process can take, refuse at once.

In a reconnect storm every charger of a restarted node knocks within seconds. Each handshake in progress holds
a greenlet and, for a moment, a database connection; past a point they only queue for the pool and time out
(the charger sees a hang, then an HTTP 500). Refusing the surplus at once with HTTP 503 costs nothing and the
charger retries after its back-off, when the earlier ones are through.
"""

from __future__ import annotations

import threading


class Ticket:
    """One admitted handshake; :meth:`release` (idempotent) when it is through (connected, or refused)."""

    __slots__ = ("_gate", "_released")

    def __init__(self, gate: Admission):
        self._gate = gate
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._gate._leave()


class Admission:
    """At most ``limit`` handshakes in progress at once (0: no limit); ``refused`` counts the ones turned away."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self.in_progress = 0
        self.refused = 0

    def enter(self) -> Ticket | None:
        """A ticket when there is room, else None (refuse the handshake)."""
        with self._lock:
            if self.limit and self.in_progress >= self.limit:
                self.refused += 1
                return None
            self.in_progress += 1
        return Ticket(self)

    def _leave(self) -> None:
        with self._lock:
            self.in_progress -= 1
