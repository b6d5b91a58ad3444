"""Many rows into one table in one statement.

psycopg runs an executemany as a pipeline of one INSERT per row, and SQLAlchemy prepares each row's
parameters: for the ten sampled values of a MeterValues message that is most of the message's cost. On
PostgreSQL the rows go instead as one array per column through ``unnest`` (one statement, one round trip,
whatever the number of rows); other databases (SQLite) keep the executemany, which is cheap there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, Float, Integer, Numeric, String, Table, Text, insert, text
from sqlalchemy.engine import Connection

from .models.base import UTCDateTime

_ARRAY_TYPES = ((UTCDateTime, "timestamp[]"), (Boolean, "boolean[]"), (BigInteger, "bigint[]"),
                (Integer, "bigint[]"), (Float, "float8[]"), (Numeric, "numeric[]"), (String, "text[]"),
                (Text, "text[]"))


def _array_type(column) -> str:
    for kind, name in _ARRAY_TYPES:
        if isinstance(column.type, kind):
            return name
    raise TypeError(f"{column.table.name}.{column.name}: no array type for {column.type!r}")


def naive_utc(value):
    """An aware datetime as the naive UTC value the database stores (anything else unchanged)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class BulkInsert:
    """``BulkInsert(table, columns)(connection, rows)``: insert ``rows`` (dicts with every one of ``columns``)."""

    def __init__(self, table: Table, columns: list[str]):
        self.table = table
        self.columns = list(columns)
        cols = [table.c[name] for name in self.columns]
        self._timestamps = {c.name for c in cols if isinstance(c.type, UTCDateTime)}
        arrays = ", ".join(f"CAST(:{c.name} AS {_array_type(c)})" for c in cols)
        names = ", ".join(f'"{c.name}"' for c in cols)
        self._unnest = text(f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({arrays})')
        self._generic = insert(table)

    def __call__(self, connection: Connection, rows: list[dict]) -> None:
        if not rows:
            return
        if connection.dialect.name != "postgresql":
            connection.execute(self._generic, rows)
            return
        params = {}
        for name in self.columns:
            if name in self._timestamps:
                params[name] = [naive_utc(r[name]) for r in rows]
            else:
                params[name] = [r[name] for r in rows]
        connection.execute(self._unnest, params)
