"""Use cases for id tags: add, block, expire, group under a parent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Conflict, InvalidInput, NotFound
from .models import IdTag, User


def add_id_tag(session: Session, tag: str, *, owner: User | None = None, parent: str | None = None,
               expiry: datetime | None = None, blocked: bool = False, note: str = "") -> IdTag:
    """Create an id tag (OCPP CiString20)."""
    tag = (tag or "").strip()
    if not tag or len(tag) > 20:
        raise InvalidInput("An id tag has 1 to 20 characters")
    if session.scalar(select(IdTag.id).where(IdTag.tag == tag)) is not None:
        raise Conflict(f"Id tag {tag} exists already")
    parent_row = None
    if parent:
        parent_row = session.scalar(select(IdTag).where(IdTag.tag == parent.strip()))
        if parent_row is None:
            raise NotFound(f"No parent id tag {parent}")
        if owner is not None and parent_row.owner_id not in (None, owner.id):
            raise NotFound(f"No parent id tag {parent}")
    row = IdTag(tag=tag, owner_id=owner.id if owner else None, parent_id=parent_row.id if parent_row else None,
                expiry_date=expiry, blocked=blocked, note=note[:255])
    session.add(row)
    session.flush()
    return row


def owned_id_tag(session: Session, owner: User, tag_id: int) -> IdTag:
    """The owner's id tag ``tag_id``; NotFound for a missing one and for anybody else's."""
    row = session.get(IdTag, tag_id)
    if row is None or (row.owner_id != owner.id and owner.role != "admin"):
        raise NotFound("No such id tag")
    return row


def update_id_tag(session: Session, owner: User, tag_id: int, *, blocked: bool, expiry: datetime | None,
                  parent: str | None, note: str = "") -> IdTag:
    """Block or unblock, set or clear the expiry, and (re)group an owner's id tag under a parent of theirs."""
    row = owned_id_tag(session, owner, tag_id)
    parent_row = None
    if parent and parent.strip():
        parent_row = session.scalar(select(IdTag).where(IdTag.tag == parent.strip()))
        if parent_row is None or parent_row.owner_id != row.owner_id:
            raise NotFound(f"No parent id tag {parent}")
        # Walk up: a tag may not end up its own ancestor.
        node = parent_row
        while node is not None:
            if node.id == row.id:
                raise InvalidInput("A tag cannot be grouped under itself or its own member")
            node = node.parent
    row.blocked, row.expiry_date, row.note = blocked, expiry, note[:255]
    row.parent_id = parent_row.id if parent_row else None
    session.flush()
    return row


def delete_id_tag(session: Session, owner: User, tag_id: int) -> None:
    session.delete(owned_id_tag(session, owner, tag_id))
    session.flush()
