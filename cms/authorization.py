"""The one rule for whether an id tag may charge: status, expiry, group (parent) and blocking."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, joinedload

from .models import IdTag, Transaction, User
from .timeutil import iso


def find_tag(session: Session, tag: str) -> IdTag | None:
    return session.scalar(select(IdTag).where(IdTag.tag == tag))


def tag_status(tag: IdTag | None, now: datetime) -> str:
    """Accepted / Blocked / Expired / Invalid for the tag itself and its group."""
    if tag is None:
        return "Invalid"
    seen = set()
    node: IdTag | None = tag
    # A blocked or expired group blocks or expires every tag in it.
    while node is not None and node.id not in seen:
        seen.add(node.id)
        if node.blocked:
            return "Blocked"
        if node.expiry_date is not None and node.expiry_date <= now:
            return "Expired"
        node = node.parent
    return "Accepted"


# One query for the tag, its group and its owner's role; built once.
_TAG_WITH_GROUP = (select(IdTag).where(IdTag.tag == bindparam("tag_"))
                   .options(joinedload(IdTag.parent), joinedload(IdTag.owner).load_only(User.role)))


def authorize_with_tag(
    session: Session,
    tag_value: str,
    charge_point,
    now: datetime,
    *,
    check_concurrent: bool = True,
    exclude_transaction_id: int | None = None,
) -> tuple[dict, IdTag | None]:
    """The OCPP ``idTagInfo`` for ``tag_value`` at ``charge_point`` (anything with ``owner_id``), and the tag.

    An owner's own tags work on that owner's chargers only; driver tags and tags without an owner work on
    every charger (the public network).
    """
    tag = session.scalar(_TAG_WITH_GROUP, {"tag_": tag_value})
    status = tag_status(tag, now)
    info: dict = {"status": status}
    if tag is None:
        return info, None
    if status == "Accepted" and charge_point is not None and tag.owner is not None:
        if tag.owner.role == "owner" and charge_point.owner_id != tag.owner_id:
            info["status"] = "Invalid"
            return info, tag
    if status == "Accepted" and check_concurrent:
        q = select(func.count()).select_from(Transaction).where(
            Transaction.id_tag == tag.tag, Transaction.stop_timestamp.is_(None)
        )
        if exclude_transaction_id is not None:
            q = q.where(Transaction.id != exclude_transaction_id)
        if session.scalar(q) >= max(1, tag.max_concurrent):
            info["status"] = "ConcurrentTx"
    if tag.expiry_date is not None:
        info["expiryDate"] = iso(tag.expiry_date)
    if tag.parent is not None:
        info["parentIdTag"] = tag.parent.tag
    return info, tag


def authorize(session: Session, tag_value: str, charge_point, now: datetime, **kw) -> dict:
    """The OCPP ``idTagInfo`` for ``tag_value`` at ``charge_point``; see :func:`authorize_with_tag`."""
    return authorize_with_tag(session, tag_value, charge_point, now, **kw)[0]


def same_group(session: Session, tag_a: str, tag_b: str) -> bool:
    """True when both are the same tag or share a parent tag (who may stop whose session)."""
    if tag_a == tag_b:
        return True
    a, b = find_tag(session, tag_a), find_tag(session, tag_b)
    return a is not None and b is not None and a.parent_id is not None and a.parent_id == b.parent_id
