"""What a charger's WebSocket handshake checks, kept for a while so a reconnecting charger costs no database
round trip and no password hash (Argon2id costs tens of milliseconds and tens of megabytes by design).

Only a registered charger is kept, with its password hash as read, and, once it presented the right password,
a keyed digest of that password (HMAC-SHA256 with a key made per process and never stored): a later handshake
with the same password is checked against the digest; any other password goes to the hash as ever. An entry
lives ``ttl`` seconds, and is dropped at once when this process changes the charge point's password or
registration, or removes it (:meth:`HandshakeCache.watch`); another process's change shows within ``ttl``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from time import monotonic

from sqlalchemy import event, inspect

from .models import ChargePoint


@dataclass(slots=True)
class Credentials:
    """A registered charge point's handshake facts, as read at ``read_at`` (``time.monotonic()``)."""

    password_hash: str | None
    read_at: float
    password_digest: bytes | None = None


class HandshakeCache:
    """identity -> :class:`Credentials` of registered charge points; thread- and greenlet-safe."""

    def __init__(self, ttl: float, max_entries: int = 200_000):
        self.ttl = ttl
        self.max_entries = max_entries
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        self._entries: dict[str, Credentials] = {}

    def get(self, identity: str) -> Credentials | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(identity)
        if entry is None or monotonic() - entry.read_at > self.ttl:
            return None
        return entry

    def remember(self, identity: str, password_hash: str | None) -> None:
        """A registered charge point as just read from the database."""
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # bounded: start over rather than grow without end
            self._entries[identity] = Credentials(password_hash, monotonic())

    def password_known(self, identity: str, password: str) -> bool:
        """True when ``password`` is the one this charger last presented and the hash accepted."""
        entry = self.get(identity)
        return bool(
            entry and entry.password_digest and hmac.compare_digest(entry.password_digest, self._digest(password))
        )

    def password_accepted(self, identity: str, password_hash: str, password: str) -> None:
        """The hash accepted ``password``: a later handshake with it needs no hashing (same hash only)."""
        entry = self.get(identity)
        if entry is not None and entry.password_hash == password_hash:
            entry.password_digest = self._digest(password)

    def invalidate(self, identity: str) -> None:
        with self._lock:
            self._entries.pop(identity, None)

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def watch(self, session_factory) -> None:
        """Drop a charge point's entry when a session of ``session_factory`` commits a change of its password or
        registration, or its removal."""

        @event.listens_for(session_factory, "after_flush")
        def _changed(session, _context):
            touched = session.info.setdefault("handshake_cache_touched", set())
            for obj in list(session.dirty) + list(session.deleted):
                if isinstance(obj, ChargePoint):
                    state = inspect(obj)
                    if obj in session.deleted or any(
                        state.attrs[name].history.has_changes() for name in ("password_hash", "registered", "identity")
                    ):
                        touched.add(obj.identity)

        @event.listens_for(session_factory, "after_commit")
        def _committed(session):
            for identity in session.info.pop("handshake_cache_touched", ()):
                self.invalidate(identity)
