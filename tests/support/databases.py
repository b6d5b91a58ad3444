"""Test databases: a migrated SQLite template copied per test, or a PostgreSQL database per worker."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa

from cms.migrate import upgrade

T = TypeVar("T")

PG_ADMIN_URL = os.environ.get("CMS_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as e:  # report the reason in the skip message
        return f"PostgreSQL at {PG_ADMIN_URL} does not answer ({e.__class__.__name__})"


def create_postgres_database(name: str) -> str:
    """(Re)create database ``name``, migrate it, and return its URL."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def drop_postgres_database(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def truncate_all(url: str) -> None:
    """Empty every table between tests (much faster than migrating again)."""
    from cms.models import Base

    engine = sa.create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as c:
        c.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


def sqlite_template(directory: str) -> str:
    path = os.path.join(directory, "template.sqlite3")
    upgrade(f"sqlite:///{path}")
    return path


def sqlite_copy(template: str, directory: str, name: str) -> str:
    path = os.path.join(directory, f"{name}.sqlite3")
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@contextmanager
def statements_run(engine: sa.Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs, in order."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def run_while_row_held(engine: sa.Engine, row: sa.Select, work: Callable[[], T]) -> tuple[bool, T | None]:
    """Run ``work`` in a thread while another transaction holds the rows ``row`` selects (KEY SHARE, as a foreign
    key check or a commit group would); whether it finished within 20 s without waiting for them, and what it
    returned. PostgreSQL only (SQLite writers take the whole database in turn)."""
    results: list[T] = []
    with engine.connect() as other:
        other.execute(row.with_for_update(key_share=True))
        thread = threading.Thread(target=lambda: results.append(work()))
        thread.start()
        thread.join(20)
        finished = not thread.is_alive()
        other.rollback()
    thread.join(20)
    return finished, results[0] if results else None
