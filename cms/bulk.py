"""Many rows into one table in one statement.

psycopg runs an executemany as a pipeline of one INSERT per row, and SQLAlchemy prepares each row's
parameters: for the ten sampled values of a MeterValues message that is most of the message's cost. On
PostgreSQL the rows go instead as one JSON document through ``json_to_recordset`` (one statement, one round
trip, one parameter whatever the number of rows: orjson writes it in C, where psycopg would dump an array per
column element by element in Python); other databases (SQLite) keep the executemany, which is cheap there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
from sqlalchemy import BigInteger, Boolean, Float, Integer, Numeric, String, Table, Text, insert, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from .models.base import UTCDateTime

# Timestamps travel with their offset (naive ones are UTC) and are stored as naive UTC, as UTCDateTime does.
_RECORD_TYPES = (
    (UTCDateTime, "timestamptz"),
    (Boolean, "boolean"),
    (BigInteger, "bigint"),
    (Integer, "bigint"),
    (Float, "float8"),
    (Numeric, "numeric"),
    (String, "text"),
    (Text, "text"),
)


def _record_type(column) -> str:
    for kind, name in _RECORD_TYPES:
        if isinstance(column.type, kind):
            return name
    raise TypeError(f"{column.table.name}.{column.name}: no record type for {column.type!r}")


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} in a bulk insert")


def json_rows(rows: list[dict]) -> str:
    """``rows`` as the JSON text ``json_to_recordset`` reads (naive datetimes are UTC)."""
    return orjson.dumps(rows, default=_json_default, option=orjson.OPT_NAIVE_UTC).decode()


def recordset(table: Table, columns: list[str]) -> tuple[str, str]:
    """The select list and the ``json_to_recordset`` column definitions for ``columns`` of ``table``."""
    cols = [table.c[name] for name in columns]
    select_list = ", ".join(
        f"x.\"{c.name}\" AT TIME ZONE 'UTC'" if isinstance(c.type, UTCDateTime) else f'x."{c.name}"' for c in cols
    )
    return select_list, ", ".join(f'"{c.name}" {_record_type(c)}' for c in cols)


def naive_utc(value):
    """An aware datetime as the naive UTC value the database stores (anything else unchanged)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class BulkInsert:
    """``BulkInsert(table, columns)(connection, rows)``: insert ``rows`` (dicts with every one of ``columns``).

    ``skip_duplicates``: a row that a unique index already holds (or an earlier row of the same call) is
    skipped, not an error (``ON CONFLICT DO NOTHING``, on PostgreSQL and SQLite alike): replays are stored once.
    """

    def __init__(self, table: Table, columns: list[str], *, skip_duplicates: bool = False):
        self.table = table
        self.columns = list(columns)
        names = ", ".join(f'"{name}"' for name in self.columns)
        select_list, definitions = recordset(table, self.columns)
        self._recordset = text(
            f'INSERT INTO "{table.name}" ({names}) SELECT {select_list} '
            f"FROM json_to_recordset(CAST(:rows AS json)) AS x({definitions})"
            + (" ON CONFLICT DO NOTHING" if skip_duplicates else "")
        )
        self._generic = sqlite_insert(table).on_conflict_do_nothing() if skip_duplicates else insert(table)
        self._skip_duplicates = skip_duplicates

    def __call__(self, connection: Connection, rows: list[dict]) -> None:
        if not rows:
            return
        if connection.dialect.name != "postgresql":
            if self._skip_duplicates and connection.dialect.name != "sqlite":  # pragma: no cover - no such CI
                raise NotImplementedError(f"skipping duplicates on {connection.dialect.name}")
            connection.execute(self._generic, rows)
            return
        connection.execute(self._recordset, {"rows": json_rows(rows)})
