"""The bounded log of raw OCPP messages per charger."""

from __future__ import annotations

import random
from datetime import datetime
from typing import cast

from sqlalchemy import String, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from .models import MessageLogEntry, utcnow

PRUNE_PROBABILITY = 0.02
PAYLOAD_LIMIT = 65536  # characters of a message kept in the log
# A SOAP MessageID may be any URI, an action any text: the log keeps what its columns hold.
_UNIQUE_ID_LIMIT = cast(String, MessageLogEntry.__table__.c.unique_id.type).length or 64
_ACTION_LIMIT = cast(String, MessageLogEntry.__table__.c.action.type).length or 64
_COLUMNS = ("charge_point_id", "direction", "action", "unique_id", "payload", "created_at")
# A request and its answer as one two-row INSERT, built once (statement construction costs more than the SQL).
_EXCHANGE = insert(MessageLogEntry.__table__).values([{c: bindparam(f"{c}_{i}") for c in _COLUMNS} for i in (0, 1)])


def _storable(text: str | bytes) -> str:
    """A message as the log keeps it: cut to PAYLOAD_LIMIT, without NUL characters (PostgreSQL text has none);
    a binary frame (bytes) as hexadecimal text."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text[: PAYLOAD_LIMIT // 2]).hex()
    text = text[:PAYLOAD_LIMIT]
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def storable_field(value: str | bytes | None, limit: int) -> str | None:
    """A charger's message id or action as a log column holds it: text without NUL characters (which PostgreSQL
    cannot store), cut to ``limit`` characters; bytes as hexadecimal."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = bytes(value).hex()
    elif not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:limit]


def exchange_rows(
    charge_point_id: int, action: str | None, unique_id: str | None, request: str, response: str, at: datetime
) -> list[dict]:
    """A request and its answer as two log rows (``message_log`` columns)."""
    unique_id = storable_field(unique_id, _UNIQUE_ID_LIMIT)
    action = storable_field(action, _ACTION_LIMIT)
    return [
        {
            "charge_point_id": charge_point_id,
            "direction": direction,
            "action": action,
            "unique_id": unique_id,
            "payload": _storable(text),
            "created_at": at,
        }
        for direction, text in (("in", request), ("out", response))
    ]


def record(
    session: Session,
    charge_point_id: int,
    direction: str,
    action: str | None,
    unique_id: str | None,
    payload: str,
    *,
    limit: int,
) -> None:
    """Append one message; now and then trim the charger's log to its newest ``limit`` entries."""
    session.execute(
        insert(MessageLogEntry.__table__),
        {
            "charge_point_id": charge_point_id,
            "direction": direction,
            "action": storable_field(action, _ACTION_LIMIT),
            "unique_id": storable_field(unique_id, _UNIQUE_ID_LIMIT),
            "payload": _storable(payload),
            "created_at": utcnow(),
        },
    )
    # Pruning on every insert would double the write cost of each message; a small random share
    # keeps the log within a few percent of its limit.
    if random.random() < PRUNE_PROBABILITY:
        prune(session, charge_point_id, limit)


def row(charge_point_id: int, direction: str, action: str | None, payload: str, at: datetime) -> dict:
    """One message as a row of the log (for :func:`record_rows`)."""
    return {
        "charge_point_id": charge_point_id,
        "direction": direction,
        "action": action,
        "unique_id": None,
        "payload": _storable(payload),
        "created_at": at,
    }


def record_rows(session: Session, rows: list[dict], *, limit: int) -> None:
    """Append many messages (of :func:`row`) in one statement; now and then trim each charger's log."""
    session.execute(insert(MessageLogEntry.__table__), rows)
    for cp_id in {r["charge_point_id"] for r in rows}:
        if random.random() < PRUNE_PROBABILITY:
            prune(session, cp_id, limit)


def record_exchange(
    session: Session,
    charge_point_id: int,
    action: str | None,
    unique_id: str | None,
    request: str,
    response: str,
    *,
    limit: int,
) -> None:
    """Append a request and its answer in one statement; now and then trim the log like :func:`record`."""
    rows = exchange_rows(charge_point_id, action, unique_id, request, response, utcnow())
    session.connection().execute(_EXCHANGE, {f"{c}_{i}": row[c] for i, row in enumerate(rows) for c in _COLUMNS})
    if random.random() < PRUNE_PROBABILITY:
        prune(session, charge_point_id, limit)


def prune(session: Session, charge_point_id: int, limit: int) -> None:
    """Delete all but the newest ``limit`` entries of a charger."""
    cutoff = session.scalar(
        select(MessageLogEntry.id)
        .where(MessageLogEntry.charge_point_id == charge_point_id)
        .order_by(MessageLogEntry.id.desc())
        .offset(limit)
        .limit(1)
    )
    if cutoff is not None:
        session.execute(
            delete(MessageLogEntry).where(
                MessageLogEntry.charge_point_id == charge_point_id, MessageLogEntry.id <= cutoff
            )
        )
