"""Admission control for charger handshakes: a few at a time, a short wait in turn, beyond it HTTP 503 at once.

In a reconnect storm every charger of a restarted node knocks within seconds. Each handshake in progress holds
a greenlet and, for a moment, a database connection; with thousands interleaved, each gets the CPU so rarely
that the ones holding a pooled connection keep it for seconds and the rest time out waiting for the pool (the
charger sees a hang, then an HTTP 500). So at most ``limit`` handshakes run at once per process; the next ones
wait their turn (first come, first served) up to ``wait`` seconds, holding nothing but their socket; a handshake
that does not get a place in time is refused with HTTP 503 and the charger retries after its back-off.

There are two gates (:meth:`cms.runtime.Runtime.handshake_gate`): a charger the handshake cache knows is checked
without the database, so many of its handshakes may run at once (``CMS_MAX_PENDING_KNOWN_HANDSHAKES``: the
limit is the CPU, and past it a refusal's retries cost more CPU than a wait); any other handshake reads its charge
point, and few of those run at once (``CMS_MAX_PENDING_HANDSHAKES``), so that they do not drain the pool.

Under gunicorn the worker takes the place before it parses the request (cms.gunicorn_worker): a waiting or
refused charger then costs no HTTP parsing, no Flask request and no greenlet in the scheduler's turn. The
ticket travels to the endpoint in the greenlet's context (:func:`admitted`); elsewhere (the development
server, tests) the endpoint asks for a place itself, without waiting. The place is freed once the connection is
open and registered (json_ws.endpoint), or after ``ADMITTED_HOLD_S`` for a client that stalls in its request.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from urllib.parse import unquote_to_bytes

RETRY_AFTER_S = 5
# An admitted handshake holds its place at most this long: a client that sends half a request and stalls (slow,
# or hostile) must not keep chargers out; its socket stays, its place goes to the next in turn.
ADMITTED_HOLD_S = 5.0
HANDSHAKE_START = b"GET /ocpp/"  # how an OCPP-J charger's WebSocket handshake begins (DESIGN.md: /ocpp/<id>)
REFUSAL = "Too many connections being opened; try again shortly"
# The whole answer of a refused handshake, written by the worker without parsing the request.
REFUSAL_RESPONSE = (
    f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    f"Content-Length: {len(REFUSAL) + 1}\r\nRetry-After: {RETRY_AFTER_S}\r\nConnection: close\r\n\r\n{REFUSAL}\n"
).encode()

_admitted: ContextVar[Ticket | None] = ContextVar("cms_admission_ticket", default=None)


class Ticket:
    """One admitted handshake; :meth:`release` (idempotent, from any thread: the opened connection and the
    worker's hold timer may both release it) when it is through (connected, or refused)."""

    __slots__ = ("_gate", "_released")

    def __init__(self, gate: Admission):
        self._gate = gate
        self._released = False

    def release(self) -> None:
        self._gate._leave(self)


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

    def _leave(self, ticket: Ticket) -> None:
        with self._lock:  # checked and set under the lock: a ticket frees its place once
            if ticket._released:
                return
            ticket._released = True
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


def identity_end(head: bytes) -> int:
    """Where the identity ends in a charger's handshake that begins with ``head`` (``GET /ocpp/<id> HTTP/1.1``):
    the index of the space or ``?`` after it; -1 when ``head`` is not such a handshake or stops before that."""
    if not head.startswith(HANDSHAKE_START):
        return -1
    ends = [i for i in (head.find(b" ", len(HANDSHAKE_START)), head.find(b"?", len(HANDSHAKE_START))) if i >= 0]
    return min(ends, default=-1)


def handshake_identity(head: bytes) -> str | None:
    """The charge point identity in a charger's handshake that begins with ``head``, the path percent-decoded as
    UTF-8 (as the endpoint's route reads it); None when ``head`` is not such a handshake, ends before the
    identity does, or names none."""
    end = identity_end(head)
    if end <= len(HANDSHAKE_START):
        return None
    return unquote_to_bytes(head[len(HANDSHAKE_START) : end]).decode("utf-8", "replace")
