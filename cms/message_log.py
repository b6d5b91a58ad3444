"""The bounded log of raw OCPP messages per charger."""

from __future__ import annotations

import random

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from .models import MessageLogEntry, utcnow

PRUNE_PROBABILITY = 0.02
# A request and its answer as one two-row INSERT, built once (statement construction costs more than the SQL).
_EXCHANGE = insert(MessageLogEntry.__table__).values([
    {"charge_point_id": bindparam(f"cp_{i}"), "direction": bindparam(f"dir_{i}"),
     "action": bindparam(f"action_{i}"), "unique_id": bindparam(f"uid_{i}"), "payload": bindparam(f"payload_{i}"),
     "created_at": bindparam(f"at_{i}")}
    for i in (0, 1)
])


def record(session: Session, charge_point_id: int, direction: str, action: str | None,
           unique_id: str | None, payload: str, *, limit: int) -> None:
    """Append one message; now and then trim the charger's log to its newest ``limit`` entries."""
    session.execute(insert(MessageLogEntry.__table__), {
        "charge_point_id": charge_point_id, "direction": direction, "action": action, "unique_id": unique_id,
        "payload": payload[:65536], "created_at": utcnow()})
    # Pruning on every insert would double the write cost of each message; a small random share
    # keeps the log within a few percent of its limit.
    if random.random() < PRUNE_PROBABILITY:
        prune(session, charge_point_id, limit)


def record_exchange(session: Session, charge_point_id: int, action: str | None, unique_id: str | None,
                    request: str, response: str, *, limit: int) -> None:
    """Append a request and its answer in one statement; now and then trim the log like :func:`record`."""
    now = utcnow()
    session.connection().execute(_EXCHANGE, {
        "cp_0": charge_point_id, "dir_0": "in", "action_0": action, "uid_0": unique_id, "payload_0": request[:65536],
        "at_0": now, "cp_1": charge_point_id, "dir_1": "out", "action_1": action, "uid_1": unique_id,
        "payload_1": response[:65536], "at_1": now})
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
