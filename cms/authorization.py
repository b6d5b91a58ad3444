"""The one rule for whether an id tag may charge: status, expiry, group (parent) and blocking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ocpp.v16.enums import AuthorizationStatus
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, aliased

from .models import IdTag, Transaction, User
from .timeutil import iso


def find_tag(session: Session, tag: str) -> IdTag | None:
    return session.scalar(select(IdTag).where(IdTag.tag == tag))


def _level_status(blocked: bool | None, expiry_date: datetime | None, now: datetime) -> str | None:
    """Blocked / Expired for one tag or group level, None when that level lets it through. A blocked or
    expired group blocks or expires every tag in it, so callers check each level up the chain."""
    if blocked:
        return AuthorizationStatus.blocked
    if expiry_date is not None and expiry_date <= now:
        return AuthorizationStatus.expired
    return None


def tag_status(tag: IdTag | None, now: datetime) -> str:
    """Accepted / Blocked / Expired / Invalid for the tag itself and its group."""
    if tag is None:
        return AuthorizationStatus.invalid
    seen = set()
    node: IdTag | None = tag
    while node is not None and node.id not in seen:
        seen.add(node.id)
        refused = _level_status(node.blocked, node.expiry_date, now)
        if refused:
            return refused
        node = node.parent
    return AuthorizationStatus.accepted


@dataclass(slots=True)
class TagFacts:
    """What authorising a tag needs, read with Core (the ORM's joined loading cost more than the SQL)."""

    id: int
    tag: str
    blocked: bool
    expiry_date: datetime | None
    max_concurrent: int
    owner_id: int | None
    owner_role: str | None
    parent_id: int | None
    parent_tag: str | None
    parent_blocked: bool | None
    parent_expiry_date: datetime | None
    grandparent_id: int | None


_PARENT = aliased(IdTag)
_FACTS_COLUMNS = 12
# One query for the tag, its group and its owner's role; built once.
_TAG_FACTS = (
    select(
        IdTag.id,
        IdTag.tag,
        IdTag.blocked,
        IdTag.expiry_date,
        IdTag.max_concurrent,
        IdTag.owner_id,
        User.role,
        IdTag.parent_id,
        _PARENT.tag,
        _PARENT.blocked,
        _PARENT.expiry_date,
        _PARENT.parent_id,
    )
    .outerjoin(User, User.id == IdTag.owner_id)
    .outerjoin(_PARENT, _PARENT.id == IdTag.parent_id)
    .where(IdTag.tag == bindparam("tag_"))
)
# The same with the tag's open sessions counted in the same round trip (ConcurrentTx); the partial index
# ix_transactions_open_id_tag keeps the count to the few open sessions however long the tag's history.
_OPEN_TRANSACTIONS = (
    select(func.count())
    .select_from(Transaction)
    .where(
        Transaction.id_tag == IdTag.tag, Transaction.stop_timestamp.is_(None), Transaction.id != bindparam("exclude_")
    )
    .correlate(IdTag)
    .scalar_subquery()
)
_TAG_FACTS_AND_OPEN = _TAG_FACTS.add_columns(_OPEN_TRANSACTIONS)
_GROUP = select(IdTag.blocked, IdTag.expiry_date, IdTag.parent_id).where(IdTag.id == bindparam("id_"))


def _facts_status(session: Session, facts: TagFacts | None, now: datetime) -> str:
    """:func:`tag_status` for :class:`TagFacts`: groups of groups are read one level at a time (rare)."""
    if facts is None:
        return AuthorizationStatus.invalid
    refused = _level_status(facts.blocked, facts.expiry_date, now)
    if refused or facts.parent_id is None:
        return refused or AuthorizationStatus.accepted
    refused = _level_status(facts.parent_blocked, facts.parent_expiry_date, now)
    seen = {facts.id, facts.parent_id}
    node_id = facts.grandparent_id
    while not refused and node_id is not None and node_id not in seen:
        seen.add(node_id)
        row = session.connection().execute(_GROUP, {"id_": node_id}).first()
        if row is None:
            break
        refused = _level_status(row.blocked, row.expiry_date, now)
        node_id = row.parent_id
    return refused or AuthorizationStatus.accepted


def authorize_with_tag(
    session: Session,
    tag_value: str,
    charge_point,
    now: datetime,
    *,
    check_concurrent: bool = True,
    exclude_transaction_id: int | None = None,
) -> tuple[dict, TagFacts | None]:
    """The OCPP ``idTagInfo`` for ``tag_value`` at ``charge_point`` (anything with ``owner_id``), and the tag.

    An owner's own tags work on that owner's chargers only; driver tags and tags without an owner work on
    every charger (the public network).
    """
    if check_concurrent:
        found = (
            session.connection()
            .execute(
                _TAG_FACTS_AND_OPEN,
                {
                    "tag_": tag_value,
                    "exclude_": exclude_transaction_id if exclude_transaction_id is not None else -1,
                },
            )
            .first()
        )
    else:
        found = session.connection().execute(_TAG_FACTS, {"tag_": tag_value}).first()
    tag = TagFacts(*found[:_FACTS_COLUMNS]) if found is not None else None
    status = _facts_status(session, tag, now)
    info: dict = {"status": status}
    if tag is None:
        return info, None
    if status == AuthorizationStatus.accepted and charge_point is not None and tag.owner_id is not None:
        if tag.owner_role == "owner" and charge_point.owner_id != tag.owner_id:
            info["status"] = AuthorizationStatus.invalid
            return info, tag
    if status == AuthorizationStatus.accepted and check_concurrent and found is not None:
        if found[_FACTS_COLUMNS] >= max(1, tag.max_concurrent):
            info["status"] = AuthorizationStatus.concurrent_tx
    if tag.expiry_date is not None:
        info["expiryDate"] = iso(tag.expiry_date)
    if tag.parent_tag is not None:
        info["parentIdTag"] = tag.parent_tag
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
