"""A charger's connection to a process of this CMS, as the charge point's row shows it (online, where)."""

from __future__ import annotations

from sqlalchemy import update

from .db import Database
from .models import ChargePoint, utcnow


def charger_connected(db: Database, identity: str, node: str) -> None:
    """``identity`` connected to ``node`` (a connection token): online from now."""
    with db.uow() as uow:
        now = utcnow()
        uow.session.execute(
            update(ChargePoint)
            .where(ChargePoint.identity == identity)
            .values(connected=True, connected_node=node, connected_at=now, last_seen_at=now)
        )
        uow.commit()


def charger_disconnected(db: Database, identity: str, node: str) -> None:
    """Mark offline, unless another node or connection has taken the charger over meanwhile."""
    with db.uow() as uow:
        uow.session.execute(
            update(ChargePoint)
            .where(ChargePoint.identity == identity, ChargePoint.connected_node == node)
            .values(connected=False, disconnected_at=utcnow())
        )
        uow.commit()
