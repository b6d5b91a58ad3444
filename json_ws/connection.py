"""One charger's WebSocket: sending frames, and CMS-initiated calls waiting for their answers."""

from __future__ import annotations

import math
import threading
import time
import uuid
from contextlib import contextmanager

from cms.gateway import ChargerCallError, ChargerNotConnected, ChargerTimeout

from . import framing


class _Pending:
    __slots__ = ("event", "result", "error", "action")

    def __init__(self, action: str):
        self.event = threading.Event()
        self.result: dict | None = None
        self.error: Exception | None = None
        self.action = action


class OcppConnection:
    """A live OCPP-J connection. Thread- and greenlet-safe: the receive loop and callers share it."""

    def __init__(self, channel, identity: str, node: str):
        self.channel = channel  # a wsloop.WsChannel: send_text() and close() from any greenlet
        self.identity = identity
        self.token = f"{node}/{uuid.uuid4().hex[:12]}"
        self.opened_at = time.time()
        self.closed = False
        # OCPP-J allows one outstanding CALL per direction: callers queue on this lock.
        self._call_lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        # Shutdown (ConnectionRegistry.go_away_all): no new CALL from either side, close once idle.
        self.going_away = False
        self._handling = 0  # charger CALLs being processed and answered
        self._state_lock = threading.Lock()

    def send(self, text: str) -> None:
        self.channel.send_text(text)

    def call(self, action: str, payload: dict, timeout: float) -> dict:
        """Send a CALL and wait for its CALLRESULT; the wait includes queueing behind earlier calls."""
        deadline = time.monotonic() + timeout
        if not self._call_lock.acquire(timeout=max(0.0, timeout)):
            raise ChargerTimeout(f"{self.identity} is busy with earlier calls")
        try:
            if self.closed or self.going_away:
                raise ChargerNotConnected(
                    f"{self.identity} disconnected"
                    if self.closed
                    else f"{self.identity} is moving to another server process; try again"
                )
            uid = uuid.uuid4().hex
            pending = _Pending(action)
            self._pending[uid] = pending
            try:
                self.send(framing.call(uid, action, payload))
                if not pending.event.wait(max(0.0, deadline - time.monotonic())):
                    raise ChargerTimeout(f"{self.identity} did not answer {action} in time")
            finally:
                self._pending.pop(uid, None)
            if pending.error is not None:
                raise pending.error
            return pending.result or {}
        finally:
            self._call_lock.release()

    def deliver(self, frame: framing.Frame) -> bool:
        """Hand a CALLRESULT/CALLERROR to the call waiting for it; False if nobody waits (late or stray)."""
        pending = self._pending.get(frame.unique_id)
        if pending is None:
            return False
        if frame.type == framing.CALLRESULT:
            pending.result = frame.payload
        else:
            pending.error = ChargerCallError(
                frame.error_code or "GenericError", frame.error_description or "", frame.error_details
            )
        pending.event.set()
        return True

    def pending_action(self, unique_id: str) -> str | None:
        p = self._pending.get(unique_id)
        return p.action if p else None

    def mark_closed(self) -> None:
        """Fail every call still waiting on this connection; new calls go to whatever replaces it."""
        self.closed = True
        for pending in list(self._pending.values()):
            pending.error = ChargerNotConnected(f"{self.identity} disconnected")
            pending.event.set()

    def close(self, reason: int = 1000, message: str = "") -> None:
        self.mark_closed()
        self.channel.close(reason, message)

    @contextmanager
    def handling(self):
        """Around processing one incoming frame and sending its answer: the connection is busy meanwhile."""
        with self._state_lock:
            self._handling += 1
        try:
            yield
        finally:
            with self._state_lock:
                self._handling -= 1

    def idle(self) -> bool:
        """No charger CALL is being processed or answered, and no call of ours waits for the charger."""
        with self._state_lock:
            return self._handling == 0 and not self._pending


class ConnectionRegistry:
    """The chargers connected to this process; made in ``create_app``, one per process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_identity: dict[str, OcppConnection] = {}

    def add(self, conn: OcppConnection) -> OcppConnection | None:
        """Register ``conn``; returns the connection it replaces (the caller closes it)."""
        with self._lock:
            old = self._by_identity.get(conn.identity)
            self._by_identity[conn.identity] = conn
        return old

    def remove(self, conn: OcppConnection) -> bool:
        """Forget ``conn`` unless a newer connection of the same charger has taken its place."""
        with self._lock:
            if self._by_identity.get(conn.identity) is conn:
                del self._by_identity[conn.identity]
                return True
        return False

    def get(self, identity: str) -> OcppConnection | None:
        return self._by_identity.get(identity)

    def identities(self) -> list[str]:
        with self._lock:
            return list(self._by_identity)

    def held(self) -> list[tuple[str, str]]:
        """(identity, connection token) of every open connection, for the Redis router's announcements."""
        with self._lock:
            return [(identity, c.token) for identity, c in self._by_identity.items() if not c.closed]

    def __len__(self) -> int:
        return len(self._by_identity)

    def connections(self) -> list[OcppConnection]:
        with self._lock:
            return list(self._by_identity.values())

    def go_away_all(
        self,
        deadline: float,
        code: int = 1001,
        reason: str = "Server going away",
        spread: float = 2.0,
        tick: float = 0.05,
    ) -> int:
        """Close every connection of this process (it is stopping) by ``deadline`` (``time.monotonic()``).

        Each connection first finishes the charger CALL it is handling (answered after its data is written;
        CALLs read after this are left unanswered, so the charger sends them again after reconnecting) and our
        calls it is answering, then gets close ``code`` (1001, Going Away: reconnect now, to another process or
        node). Idle connections close at once, at most 1/``spread`` of them per second (at least 1,000 a second)
        so that thousands of chargers do not reconnect in the same instant; whatever is still busy at the
        deadline is closed anyway, and a connection whose charger does not answer the close is dropped.
        Connections that arrive meanwhile are closed too. Returns how many were closed.
        """
        closed: set[int] = set()
        per_tick = max(math.ceil(1000 * tick), math.ceil(len(self) * tick / spread) if spread > 0 else len(self))
        while True:
            conns = [c for c in self.connections() if id(c) not in closed]
            if not conns or time.monotonic() >= deadline:
                break
            budget = per_tick
            for c in conns:
                c.going_away = True
            for c in conns:
                if budget <= 0:
                    break
                if c.idle():
                    closed.add(id(c))
                    budget -= 1
                    c.close(code, reason)
            time.sleep(tick)
        for c in self.connections():
            if id(c) not in closed:
                closed.add(id(c))
                c.close(code, reason)
        # The close handshake ends each connection's loop, which withdraws it; a silent peer is cut off.
        end = max(deadline, time.monotonic() + 0.5)
        while len(self) and time.monotonic() < end:
            time.sleep(tick)
        for c in self.connections():
            c.channel.abort()
        return len(closed)


class WsGateway:
    """The dispatcher's way to JSON chargers connected to this process."""

    name = "json"

    def __init__(self, registry: ConnectionRegistry):
        self.registry = registry

    def holds(self, identity: str) -> bool:
        conn = self.registry.get(identity)
        return conn is not None and not conn.closed

    def call(self, identity: str, action: str, payload: dict, timeout: float) -> dict:
        conn = self.registry.get(identity)
        if conn is None or conn.closed:
            raise ChargerNotConnected(f"{identity} is not connected")
        return conn.call(action, payload, timeout)
