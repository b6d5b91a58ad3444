"""The operator API's read side of charging sessions: transactions with filters and keyset pagination, one
transaction, and its meter values; scoped by :mod:`cms.visibility`, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from . import cursor, visibility
from .errors import InvalidInput
from .models import ChargePoint, MeterValue, Transaction, User
from .timeutil import iso

STATUSES = ("open", "closed")
MAX_TRANSACTIONS = 500
MAX_METER_VALUES = 5000


@dataclass(frozen=True)
class TransactionFilter:
    """What ``GET /transactions`` asks for; every field optional. ``started_from`` is inclusive,
    ``started_to`` exclusive (both on the start timestamp the charger reported)."""

    charge_point_id: str | None = None
    station_id: int | None = None
    status: str | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None

    def check(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise InvalidInput(f"status is one of {', '.join(STATUSES)}")
        for value in (self.started_from, self.started_to):
            if value is not None and value.tzinfo is None:
                raise InvalidInput("from and to need a time zone (e.g. 2026-01-31T00:00:00Z)")
        if self.started_from and self.started_to and self.started_from > self.started_to:
            raise InvalidInput("to is before from")


def transaction_view(tx: Transaction, charge_point_id: str, currency: str) -> dict:
    """A transaction as the operator API shows it. ``energyWh`` is the energy so far while it is open;
    ``cost`` is set once it is closed and billed, in ``currency``."""
    return {
        "id": tx.id,
        "chargePointId": charge_point_id,
        "connectorId": tx.connector_id,
        "idTag": tx.id_tag,
        "startTimestamp": iso(tx.start_timestamp),
        "stopTimestamp": iso(tx.stop_timestamp),
        "meterStart": tx.meter_start,
        "meterStop": tx.meter_stop,
        "energyWh": tx.energy_wh,
        "cost": tx.cost,
        "currency": currency,
        "stopReason": tx.stop_reason,
    }


def list_transactions(
    session: Session, user: User, f: TransactionFilter, currency: str, *, limit: int = 50, after: str | None = None
) -> dict:
    """The transactions ``user`` may see that match ``f``, newest start first (ties by id), a page of ``limit``
    after the cursor ``after``: ``{"items": [...], "nextCursor": str | None}``."""
    f.check()
    if not 1 <= limit <= MAX_TRANSACTIONS:
        raise InvalidInput(f"limit must be from 1 to {MAX_TRANSACTIONS}")
    q = (
        select(Transaction, ChargePoint.identity)
        .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
        .where(visibility.visible(user, ChargePoint.owner_id))
    )
    if f.charge_point_id is not None:
        q = q.where(ChargePoint.identity == f.charge_point_id)
    if f.station_id is not None:
        q = q.where(ChargePoint.station_id == f.station_id)
    if f.status == "open":
        q = q.where(Transaction.stop_timestamp.is_(None))
    elif f.status == "closed":
        q = q.where(Transaction.stop_timestamp.is_not(None))
    if f.started_from is not None:
        q = q.where(Transaction.start_timestamp >= f.started_from)
    if f.started_to is not None:
        q = q.where(Transaction.start_timestamp < f.started_to)
    if after is not None:
        last_start, last_id = cursor.decode(after, datetime, int)
        # Written out (not a row-value comparison) so that both columns keep their types on every backend;
        # the first condition lets the (start_timestamp, id) index bound the scan.
        q = q.where(
            Transaction.start_timestamp <= last_start,
            or_(
                Transaction.start_timestamp < last_start,
                and_(Transaction.start_timestamp == last_start, Transaction.id < last_id),
            ),
        )
    rows = session.execute(q.order_by(Transaction.start_timestamp.desc(), Transaction.id.desc()).limit(limit + 1)).all()
    return cursor.page(
        rows, limit, lambda r: transaction_view(r[0], r[1], currency), lambda r: (r[0].start_timestamp, r[0].id)
    )


def one_transaction(session: Session, user: User, transaction_id: int, currency: str) -> dict:
    """Transaction ``transaction_id`` if ``user`` may see it (NotFound otherwise)."""
    tx = visibility.transaction(session, user, transaction_id)
    identity = session.execute(select(ChargePoint.identity).where(ChargePoint.id == tx.charge_point_id)).scalar_one()
    return transaction_view(tx, identity, currency)


def meter_value_view(mv: MeterValue) -> dict:
    """A sampled value: ``value`` in ``unit`` (normalised: kWh as Wh, kW as W ...); null when the charger sent
    no plain number (a signed meter value)."""
    return {
        "timestamp": iso(mv.timestamp),
        "measurand": mv.measurand,
        "phase": mv.phase,
        "unit": mv.unit,
        "value": mv.value,
        "context": mv.context,
        "location": mv.location,
    }


def transaction_meter_values(
    session: Session, user: User, transaction_id: int, *, limit: int = 1000, after: str | None = None
) -> dict:
    """The meter values of a transaction ``user`` may see, oldest first, a page of ``limit`` after the cursor
    ``after``: ``{"items": [...], "nextCursor": str | None}``.

    Only values its own charge point reported count: a charger naming another's transaction id adds nothing.
    """
    if not 1 <= limit <= MAX_METER_VALUES:
        raise InvalidInput(f"limit must be from 1 to {MAX_METER_VALUES}")
    tx = visibility.transaction(session, user, transaction_id)
    q = select(MeterValue).where(MeterValue.transaction_id == tx.id, MeterValue.charge_point_id == tx.charge_point_id)
    if after is not None:
        last_ts, last_id = cursor.decode(after, datetime, int)
        q = q.where(
            MeterValue.timestamp >= last_ts,
            or_(MeterValue.timestamp > last_ts, and_(MeterValue.timestamp == last_ts, MeterValue.id > last_id)),
        )
    rows = list(session.scalars(q.order_by(MeterValue.timestamp, MeterValue.id).limit(limit + 1)))
    return cursor.page(rows, limit, meter_value_view, lambda mv: (mv.timestamp, mv.id))
