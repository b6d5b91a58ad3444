"""Who may see what: an owner sees their own stations, charge points, id tags and the transactions of their charge
points; an administrator sees everything. Anything else is reported as :class:`NotFound`, exactly like a missing
thing, so that nobody learns what other owners have.

The one place for this rule: every module that looks things up for a user (queries, chargepoints, stations,
idtags, tariff, commands, the API and dashboard views through them) asks here.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from .errors import NotFound
from .models import ChargePoint, IdTag, Station, Transaction, User


def sees_everything(user: User) -> bool:
    """Administrators (operators) see every owner's things."""
    return user.role == "admin"


def may_see(user: User, owner_id: int | None) -> bool:
    """Whether ``user`` may see a thing owned by ``owner_id`` (None: nobody's, visible to administrators only)."""
    return sees_everything(user) or (owner_id is not None and owner_id == user.id)


def visible(user: User, owner_column) -> ColumnElement[bool]:
    """A WHERE clause keeping the rows whose ``owner_column`` ``user`` may see."""
    return true() if sees_everything(user) else owner_column == user.id


def station(session: Session, user: User, station_id: int) -> Station:
    """Station ``station_id`` if ``user`` may see it; NotFound otherwise."""
    row = session.get(Station, station_id)
    if row is None or not may_see(user, row.owner_id):
        raise NotFound("No such station")
    return row


def charge_point(session: Session, user: User, identity: str) -> ChargePoint:
    """The registered charge point ``identity`` if ``user`` may see it; NotFound otherwise (also for a charger
    that only knocked and was never added)."""
    row = session.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
    if row is None or not row.registered or not may_see(user, row.owner_id):
        raise NotFound(f"No such charge point {identity}")
    return row


def id_tag(session: Session, user: User, tag: str) -> IdTag:
    """Id tag ``tag`` if ``user`` may see it; NotFound otherwise."""
    row = session.scalar(select(IdTag).where(IdTag.tag == tag))
    if row is None or not may_see(user, row.owner_id):
        raise NotFound(f"No such id tag {tag}")
    return row


def transaction(session: Session, user: User, transaction_id: int) -> Transaction:
    """Transaction ``transaction_id`` if ``user`` may see its charge point; NotFound otherwise."""
    row = session.scalar(
        select(Transaction)
        .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
        .where(Transaction.id == transaction_id, visible(user, ChargePoint.owner_id))
    )
    if row is None:
        raise NotFound("No such transaction")
    return row
