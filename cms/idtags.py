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
