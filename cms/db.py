"""Engine, session factory and the unit of work (one per message, group of messages (cms.group_commit) or
request; rollback by default)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, Result, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool


def rows_matched(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run by ``Session.execute`` matched.

    ``Session.execute`` is typed as returning a ``Result``; for DML it is a ``CursorResult``, which has the count.
    """
    return cast(CursorResult[Any], result).rowcount or 0


def database_unreachable(failure: BaseException) -> bool:
    """Whether ``failure`` says the database could not be reached or used at all (its connection was cut, the
    server is away, the pool is exhausted), not that it refused a statement."""
    return isinstance(failure, OperationalError | InterfaceError | PoolTimeout) or bool(
        isinstance(failure, DBAPIError) and failure.connection_invalidated
    )


def make_engine(url: str, echo: bool = False) -> Engine:
    """Create the engine with per-backend settings that matter for many small, concurrent writes."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if path in ("", ":memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, echo=echo, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # No pre-ping: it costs a round trip on every message. A connection the server dropped fails one unit of
    # work (the charger hears InternalError and retries) and SQLAlchemy then replaces the pool's connections;
    # recycling keeps idle connections from meeting server or firewall timeouts.
    # A fixed pool: greenlets queue for a connection. Overflow connections would be closed on check-in and opened
    # again under sustained load (a PostgreSQL backend forked per message); PostgreSQL's max_connections (100 by
    # default) is shared by every worker process, and more concurrent transactions than cores only add contention.
    return create_engine(url, echo=echo, pool_size=20, max_overflow=0, pool_timeout=30, pool_recycle=1800)


class UnitOfWork:
    """A session and transaction scope: ``with uow_factory() as uow: ...; uow.commit()``.

    Leaving the block without ``commit()`` rolls back, so a failed message or request changes nothing.
    """

    def __init__(self, session_factory: Callable[[], Session]):
        self._session_factory = session_factory
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        return self

    def __exit__(self, *exc) -> None:
        # close() rolls back whatever was not committed and detaches objects with their loaded state,
        # so values read inside the block stay readable after it.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def flush(self) -> None:
        self.session.flush()


class Database:
    """Owns the engine and hands out units of work; one per app, made in ``create_app``."""

    def __init__(self, url: str, echo: bool = False):
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory)

    def session(self) -> Session:
        return self.session_factory()

    def dispose(self) -> None:
        self.engine.dispose()
