"""What a charger's WebSocket handshake checks, kept for a while so a reconnecting charger costs no database
round trip and no password hash (Argon2id costs tens of milliseconds and tens of megabytes by design).

Only a registered charger is kept, with its password hash as read, and, once it presented the right password,
a keyed digest of that password (HMAC-SHA256 with a key made per process and never stored): a later handshake
with the same password is checked against the digest; any other password goes to the hash as ever. An entry
lives ``ttl`` seconds, and is dropped at once when this process changes the charge point's password or
registration, or removes it (:meth:`HandshakeCache.watch`); another process's change shows within ``ttl``.

After a restart the cache is empty, just when every charger reconnects at once: one read each would put a
transaction per handshake on the pool in the middle of the storm. So every registered charge point is read in
one statement (:meth:`HandshakeCache.load_all`) when the process starts and again, at most once per ``ttl / 2``,
on the first miss after that (in the background; meanwhile a miss reads its own row as before). Up to
``max_entries`` charge points are loaded; a password digest survives a reload when the hash did not change.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from time import monotonic

from sqlalchemy import event, inspect, select

from .db import Database
from .models import ChargePoint

log = logging.getLogger(__name__)


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
        self._loader: Callable[[], object] | None = None
        self._loading = False
        self._loaded_at: float | None = None
        self._changed_while_loading: set[str] = set()

    def get(self, identity: str) -> Credentials | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(identity)
        if entry is None or monotonic() - entry.read_at > self.ttl:
            self._reload_in_background()
            return None
        return entry

    def load_from(self, db: Database) -> None:
        """Load every registered charge point now (in the background) and again on a miss when due."""
        if self.ttl <= 0:
            return
        self._loader = partial(self.load_all, db)
        self._reload_in_background()

    def load_all(self, db: Database) -> int:
        """Read every registered charge point's handshake facts in one statement; returns how many."""
        with self._lock:
            self._changed_while_loading = set()
            self._loading = True
        try:
            read_at = monotonic()
            with db.uow() as uow:
                rows = uow.session.execute(
                    select(ChargePoint.identity, ChargePoint.password_hash)
                    .where(ChargePoint.registered.is_(True))
                    .limit(self.max_entries)
                ).all()
            with self._lock:
                if len(self._entries) + len(rows) > self.max_entries:
                    self._entries.clear()
                for identity, password_hash in rows:
                    if identity in self._changed_while_loading:
                        continue  # changed here after the read: the row read may be stale
                    old = self._entries.get(identity)
                    digest = old.password_digest if old is not None and old.password_hash == password_hash else None
                    self._entries[identity] = Credentials(password_hash, read_at, digest)
                self._loaded_at = read_at
        finally:
            with self._lock:
                self._loading = False
                self._changed_while_loading = set()
        return len(rows)

    def _reload_in_background(self) -> None:
        """Start :meth:`load_all` unless one runs or the last is younger than ``ttl / 2``."""
        if self._loader is None or self._loading:
            return
        if self._loaded_at is not None and monotonic() - self._loaded_at < self.ttl / 2:
            return
        with self._lock:
            if self._loading:
                return
            self._loading = True  # claimed here; load_all sets it again
        threading.Thread(target=self._load_logged, name="cms-handshake-cache", daemon=True).start()

    def _load_logged(self) -> None:
        assert self._loader is not None
        try:
            self._loader()
        except Exception:  # a miss reads its own row meanwhile; the next miss tries again
            log.warning("loading the handshake cache failed", exc_info=True)
            with self._lock:
                self._loading = False
            self._loaded_at = monotonic()  # not again before ttl / 2

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
            if self._loading:
                self._changed_while_loading.add(identity)

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
