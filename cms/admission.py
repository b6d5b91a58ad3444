"""Admission control for charger handshakes: a few at a time, a short wait in turn, beyond it HTTP 503 at once.

In a reconnect storm every charger of a restarted node knocks within seconds. Each handshake in progress holds
a greenlet and, for a moment, a database connection; with thousands interleaved, each gets the CPU so rarely
that the ones holding a pooled connection keep it for seconds and the rest time out waiting for the pool (the
charger sees a hang, then an HTTP 500). So at most ``limit`` handshakes run at once per process; the next ones
wait their turn (first come, first served) up to ``wait`` seconds, holding nothing but their socket; a handshake
that does not get a place in time is refused with HTTP 503 and the charger retries after its back-off.

Under gunicorn the worker takes the place before it parses the request (cms.gunicorn_worker): a waiting or
refused charger then costs no HTTP parsing, no Flask request and no greenlet in the scheduler's turn. The
ticket travels to the endpoint in the greenlet's context (:func:`admitted`); elsewhere (the development
server, tests) the endpoint asks for a place itself, without waiting.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar

RETRY_AFTER_S = 5
REFUSAL = "Too many connections being opened; try again shortly"
# The whole answer of a refused handshake, written by the worker without parsing the request.
REFUSAL_RESPONSE = (
    f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    f"Content-Length: {len(REFUSAL) + 1}\r\nRetry-After: {RETRY_AFTER_S}\r\nConnection: close\r\n\r\n{REFUSAL}\n"
).encode()

_admitted: ContextVar[Ticket | None] = ContextVar("cms_admission_ticket", default=None)


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
    """At most ``limit`` handshakes in progress at once (0: no limit); a handshake may wait up to ``wait``
    seconds for a place. ``refused`` counts the ones turned away, ``waiting`` the ones waiting now."""

    def __init__(self, limit: int, wait: float = 0.0):
        self.limit = limit
        self.wait = wait
        self._lock = threading.Lock()
        self._turn = threading.Condition(self._lock)  # FIFO: notify() wakes the longest waiting
        self.in_progress = 0
        self.waiting = 0
        self.refused = 0

    def enter(self, wait: float = 0.0) -> Ticket | None:
        """A ticket once there is room (waiting up to ``wait`` seconds, in turn), else None: refuse."""
        with self._lock:
            if self.limit and (self.in_progress >= self.limit or self.waiting):
                if wait > 0:
                    self.waiting += 1
                    try:
                        self._turn.wait_for(lambda: self.in_progress < self.limit, wait)
                    finally:
                        self.waiting -= 1
                if self.in_progress >= self.limit:
                    self.refused += 1
                    return None
            self.in_progress += 1
        return Ticket(self)

    def _leave(self) -> None:
        with self._lock:
            self.in_progress -= 1
            self._turn.notify()


def admitted(ticket: Ticket | None) -> None:
    """The handshake running in this greenlet (or thread) already holds ``ticket`` (None: forget it)."""
    _admitted.set(ticket)


def take_admitted() -> Ticket | None:
    """The ticket this greenlet's handshake was admitted with (then no longer held here), if any."""
    ticket = _admitted.get()
    if ticket is not None:
        _admitted.set(None)
    return ticket
