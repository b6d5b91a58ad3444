"""StartTransaction, StopTransaction and MeterValues: sessions and what they measured.

Transaction messages are never refused for the charger's registration state or for flaws in their content (the
pipeline passes them on as far as usable, :class:`cms.limits.FittedPayload`): a refused one is retried, then
dropped, and billing data is lost.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from ocpp.v16.enums import Action, Reason
from sqlalchemy import bindparam, case, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .. import limits
from ..authorization import authorize, authorize_with_tag
from ..bulk import BulkInsert
from ..metering import latest_register_and_power, rows_from_meter_values
from ..models import MeterValue, Reservation, Transaction, UnmatchedStop
from ..timeutil import parse_timestamp
from .context import ChargerRow, OperationContext
from .messages import MeterValuesRequest, StartTransactionRequest, StopTransactionRequest
from .registry import on

log = logging.getLogger(__name__)

_TRANSACTION_BY_START_KEY = select(Transaction.id).where(Transaction.start_key == bindparam("key_"))
# A retried StartTransaction meets the unique start_key: PostgreSQL and SQLite skip the row (no error to fail a
# group commit) and RETURNING gives nothing; other databases raise, and the charger's retry finds the first.
_INSERT_TRANSACTION = {
    name: dialect_insert(Transaction.__table__)
    .on_conflict_do_nothing(index_elements=["start_key"])
    .returning(Transaction.__table__.c.id)
    for name, dialect_insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_PLAIN_INSERT_TRANSACTION = insert(Transaction.__table__).returning(Transaction.__table__.c.id)


@on(Action.start_transaction, transaction_message=True)
def start_transaction(ctx: OperationContext, p: StartTransactionRequest) -> dict:
    """Open a transaction. A retried StartTransaction gets the same transactionId; a reservation is used."""
    s, cp = ctx.session, ctx.row
    connector_id = int(p.get("connectorId") or 0)
    id_tag = str(p.get("idTag") or "")
    meter_start = int(p.get("meterStart") or 0)
    raw_ts = p.get("timestamp")
    key = hashlib.sha256(f"{cp.id}|{connector_id}|{id_tag}|{raw_ts}|{meter_start}".encode()).hexdigest()
    info, tag = authorize_with_tag(s, id_tag, cp, ctx.now)
    reservation = _matching_reservation(s, cp, connector_id, id_tag, p.get("reservationId"), ctx.now)
    start_ts = parse_timestamp(raw_ts)
    # Insert first, look up only when it was there already (a retry): the usual start costs one round trip less.
    # Core with RETURNING: the ORM's add-and-flush cost several times the INSERT.
    conn = s.connection()
    tx_id = conn.execute(
        _INSERT_TRANSACTION.get(conn.dialect.name, _PLAIN_INSERT_TRANSACTION),
        {
            "charge_point_id": cp.id,
            "connector_id": connector_id,
            "id_tag": id_tag,
            "start_key": key,
            "meter_start": meter_start,
            "start_timestamp": start_ts or ctx.now,
            "start_received_at": ctx.now,
            "reservation_id": reservation.id if reservation else p.get("reservationId"),
            "start_status": info["status"],
            "last_meter_wh": float(meter_start),
            "last_meter_at": ctx.now,
            "user_id": tag.owner_id if tag is not None else None,
        },
    ).scalar()
    if tx_id is None:  # a retry: the same transaction, authorised without counting itself as concurrent
        existing = conn.scalar(_TRANSACTION_BY_START_KEY, {"key_": key})
        info = authorize(s, id_tag, cp, ctx.now, exclude_transaction_id=existing)
        return {"transactionId": existing, "idTagInfo": info}
    if reservation is not None:
        reservation.status = "Used"  # ours, not an OCPP ReservationStatus
        reservation.transaction_id = tx_id
    return {"transactionId": tx_id, "idTagInfo": info}


@dataclass(slots=True)
class StoppedTransaction:
    """A transaction as its StopTransaction leaves it, read and written with Core (the ORM's load and flush
    cost more than the statements). ``on_transaction_stopped`` hooks read it and may set ``cost``."""

    id: int
    charge_point_id: int
    connector_id: int
    id_tag: str
    meter_start: int
    start_timestamp: datetime
    stop_timestamp: datetime | None
    meter_stop: int | None
    last_meter_wh: float | None
    last_meter_at: datetime | None
    user_id: int | None
    cost: float | None


_STOP_COLUMNS = [Transaction.__table__.c[name] for name in StoppedTransaction.__slots__]
_TRANSACTION_FOR_STOP = select(*_STOP_COLUMNS).where(Transaction.__table__.c.id == bindparam("tx_id_"))
_SET_TRANSACTION = update(Transaction.__table__).where(Transaction.__table__.c.id == bindparam("tx_id_"))


@on(Action.stop_transaction, transaction_message=True)
def stop_transaction(ctx: OperationContext, p: StopTransactionRequest) -> dict:
    """Close a transaction. Unknown ids (or -1, errata 3.18) are answered, kept for review, reconciled."""
    s, cp = ctx.session, ctx.row
    conn = s.connection()
    # A transactionId that cannot be stored (10^20) names no transaction: an unknown one, like -1.
    reported = p.get("transactionId")
    reported = -1 if reported is None else int(reported)
    id_tag = p.get("idTag")
    found = conn.execute(_TRANSACTION_FOR_STOP, {"tx_id_": reported}).first() if reported > 0 else None
    tx = StoppedTransaction(*found) if found is not None and found.charge_point_id == cp.id else None
    if tx is None:
        tx = _reconcile_stop(ctx, reported, p)
    connector_id = tx.connector_id if tx is not None else 0
    changes: dict = {}
    if tx is not None and tx.stop_timestamp is None:
        # Without a usable meterStop the session closes on its last reading (MeterValues), not on 0.
        meter_stop = p.get("meterStop")
        tx.meter_stop = int(meter_stop) if meter_stop is not None else None
        tx.stop_timestamp = parse_timestamp(p.get("timestamp")) or ctx.now
        changes = {
            "meter_stop": tx.meter_stop,
            "stop_timestamp": tx.stop_timestamp,
            "stop_received_at": ctx.now,
            "stop_reason": p.get("reason") or Reason.local,
            "stop_id_tag": id_tag,
            "last_power_w": 0.0,
        }
        if tx.meter_stop is not None:
            tx.last_meter_wh = changes["last_meter_wh"] = float(tx.meter_stop)
    rows = rows_from_meter_values(p.get("transactionData") or [], ctx.now)
    _store_meter_rows(ctx, rows, connector_id, tx.id if tx is not None else None)
    if tx is not None:
        cost = tx.cost
        for hook in ctx.on_transaction_stopped:
            hook(s, tx)
        if tx.cost != cost:
            changes["cost"] = tx.cost
        if changes:  # the stop and its cost in one UPDATE
            conn.execute(_SET_TRANSACTION, {"tx_id_": tx.id, **changes})
    if id_tag:
        info = authorize(s, id_tag, cp, ctx.now, check_concurrent=False)
        return {"idTagInfo": info}
    return {}


_TX = Transaction.__table__.c
_AT, _WH = bindparam("at_", type_=_TX.last_meter_at.type), bindparam("wh_", type_=_TX.last_meter_wh.type)
# A late sample (older and lower than the register kept) must not roll the live register back.
_NEWER = or_(
    _TX.last_meter_at.is_(None), _TX.last_meter_at <= _AT, _TX.last_meter_wh.is_(None), _TX.last_meter_wh <= _WH
)
_OPEN_TX_OF_CHARGER = update(Transaction.__table__).where(
    _TX.id == bindparam("tx_id_"), _TX.charge_point_id == bindparam("cp_id_"), _TX.stop_timestamp.is_(None)
)
_LIVE_REGISTER = {
    "last_meter_wh": case((_NEWER, _WH), else_=_TX.last_meter_wh),
    "last_meter_at": case((_NEWER, _AT), else_=_TX.last_meter_at),
}
_POWER = {"last_power_w": bindparam("w_", type_=_TX.last_power_w.type)}
# One UPDATE that checks the transaction is this charger's and open (no read first), built once per shape.
_SET_LIVE = {
    (True, True): _OPEN_TX_OF_CHARGER.values(**_LIVE_REGISTER, **_POWER),
    (True, False): _OPEN_TX_OF_CHARGER.values(**_LIVE_REGISTER),
    (False, True): _OPEN_TX_OF_CHARGER.values(**_POWER),
}


@on(Action.meter_values, transaction_message=True)
def meter_values(ctx: OperationContext, p: MeterValuesRequest) -> dict:
    """Store every sampled value (inside a transaction or not) and keep the live register current."""
    connector_id = int(p.get("connectorId") or 0)
    tx_id = p.get("transactionId")
    tx_id = int(tx_id) if tx_id is not None else None
    rows = rows_from_meter_values(p.get("meterValue") or [], ctx.now)
    _store_meter_rows(ctx, rows, connector_id, tx_id)
    if rows and tx_id is not None:
        energy, power, at = latest_register_and_power(rows)
        shape = (energy is not None, power is not None)
        if shape in _SET_LIVE:
            ctx.session.connection().execute(
                _SET_LIVE[shape],
                {"tx_id_": tx_id, "cp_id_": ctx.row.id, "wh_": energy, "at_": at or ctx.now, "w_": power},
            )
    return {}


_ACTIVE_RESERVATION = (
    select(Reservation.id)
    .where(
        Reservation.charge_point_id == bindparam("cp_id_"),
        Reservation.status == "Accepted",
        Reservation.connector_id.in_([0, bindparam("connector_id_")]),
        Reservation.id_tag == bindparam("tag_"),
        Reservation.expiry_date > bindparam("now_"),
    )
    .order_by(Reservation.expiry_date)
    .limit(1)
)


def _matching_reservation(
    s: Session, cp: ChargerRow, connector_id: int, id_tag: str, reservation_id, now: datetime
) -> Reservation | None:
    """The reservation this start consumes: by its id, else an active one of the same tag on this charger."""
    if reservation_id is not None:
        r = s.get(Reservation, int(reservation_id))
        if r is not None and r.charge_point_id == cp.id and r.status in ("Accepted", "Requested"):
            return r
        return None
    found = s.connection().scalar(
        _ACTIVE_RESERVATION, {"cp_id_": cp.id, "connector_id_": connector_id, "tag_": id_tag, "now_": now}
    )
    return s.get(Reservation, found) if found is not None else None


def _reconcile_stop(ctx: OperationContext, reported: int, p: StopTransactionRequest) -> StoppedTransaction | None:
    """Record a stop for an unknown transaction and match it to the only plausible open one, if any."""
    s, cp = ctx.session, ctx.row
    q = select(*_STOP_COLUMNS).where(Transaction.charge_point_id == cp.id, Transaction.stop_timestamp.is_(None))
    if p.get("idTag"):
        q = q.where(Transaction.id_tag == p["idTag"])
    candidates = s.connection().execute(q.limit(2)).all()
    match = StoppedTransaction(*candidates[0]) if len(candidates) == 1 else None
    note = (
        "matched the only open transaction of this charger and tag"
        if match
        else f"{len(candidates)} open candidate(s); needs review"
    )
    unusable = p.problem("transactionId") if isinstance(p, limits.FittedPayload) else None
    if unusable is not None:  # the id as sent is in the payload kept (as received) and in the note
        note = f"transactionId {unusable.reason}: it cannot be one of ours; {note}"
    s.add(
        UnmatchedStop(
            charge_point_id=cp.id,
            reported_transaction_id=reported,
            matched_transaction_id=match.id if match else None,
            payload=getattr(p, "received", p),
            received_at=ctx.now,
            note=note,
        )
    )
    log.warning(
        "StopTransaction for unknown transaction %s from %s (matched: %s)",
        reported,
        cp.identity,
        match.id if match else None,
    )
    return match


_INSERT_METER_ROWS = BulkInsert(
    MeterValue.__table__,
    [
        "charge_point_id",
        "connector_id",
        "transaction_id",
        "timestamp",
        "received_at",
        "raw_value",
        "value",
        "measurand",
        "phase",
        "unit",
        "context",
        "location",
        "format",
    ],
    skip_duplicates=True,  # a replayed sample is stored once (the unique uq_meter_values_sample)
)


def _store_meter_rows(ctx: OperationContext, rows: list[dict], connector_id: int, tx_id: int | None) -> None:
    if not rows:
        return
    cp_id = ctx.row.id
    for r in rows:
        r["charge_point_id"] = cp_id
        r["connector_id"] = connector_id
        r["transaction_id"] = tx_id
    # One statement for the whole sample (the ORM bulk path would split it by which fields are None).
    _INSERT_METER_ROWS(ctx.session.connection(), rows)
