"""A charger's connection to a process of this CMS, as the charge point's row shows it (online, where)."""

from __future__ import annotations

from sqlalchemy import update

from .connection_flags import ConnectionFlags
from .db import Database
from .models import ChargePoint, utcnow


def charger_connected(db: Database, identity: str, node: str, *, flags: ConnectionFlags | None = None) -> None:
    """``identity`` connected to ``node`` (a connection token): online from now (with ``flags``: written with
    its next batch, cms.connection_flags)."""
    if flags is not None:
        flags.connected(identity, node, utcnow())
        return
    with db.uow() as uow:
        now = utcnow()
        uow.session.execute(
            update(ChargePoint)
            .where(ChargePoint.identity == identity)
            .values(connected=True, connected_node=node, connected_at=now, last_seen_at=now)
        )
        uow.commit()


def charger_disconnected(db: Database, identity: str, node: str, *, flags: ConnectionFlags | None = None) -> None:
    """Mark offline, unless another node or connection has taken the charger over meanwhile."""
    if flags is not None:
        flags.disconnected(identity, node, utcnow())
        return
    with db.uow() as uow:
        uow.session.execute(
            update(ChargePoint)
            .where(ChargePoint.identity == identity, ChargePoint.connected_node == node)
            .values(connected=False, disconnected_at=utcnow())
        )
        uow.commit()
