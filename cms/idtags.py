"""Use cases for id tags: add, block, expire, group under a parent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from . import cursor, visibility
from .errors import Conflict, InvalidInput, NotFound
from .models import IdTag, User
from .timeutil import iso


def add_id_tag(
    session: Session,
    tag: str,
    *,
    owner: User | None = None,
    parent: str | None = None,
    expiry: datetime | None = None,
    blocked: bool = False,
    note: str = "",
) -> IdTag:
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
    row = IdTag(
        tag=tag,
        owner_id=owner.id if owner else None,
        parent_id=parent_row.id if parent_row else None,
        expiry_date=expiry,
        blocked=blocked,
        note=note[:255],
    )
    session.add(row)
    session.flush()
    return row


def owned_id_tag(session: Session, owner: User, tag_id: int) -> IdTag:
    """The owner's id tag ``tag_id``; NotFound for a missing one and for anybody else's."""
    row = session.get(IdTag, tag_id)
    if row is None or not visibility.may_see(owner, row.owner_id):
        raise NotFound("No such id tag")
    return row


def update_id_tag(
    session: Session,
    owner: User,
    tag_id: int,
    *,
    blocked: bool,
    expiry: datetime | None,
    parent: str | None,
    note: str = "",
) -> IdTag:
    """Block or unblock, set or clear the expiry, and (re)group an owner's id tag under a parent of theirs."""
    row = owned_id_tag(session, owner, tag_id)
    parent_row = None
    if parent and parent.strip():
        parent_row = session.scalar(select(IdTag).where(IdTag.tag == parent.strip()))
        if parent_row is None or parent_row.owner_id != row.owner_id:
            raise NotFound(f"No parent id tag {parent}")
        _check_not_own_ancestor(row, parent_row)
    row.blocked, row.expiry_date, row.note = blocked, expiry, note[:255]
    row.parent_id = parent_row.id if parent_row else None
    session.flush()
    return row


def _check_not_own_ancestor(row: IdTag, parent_row: IdTag) -> None:
    """Walk up from ``parent_row``: a tag may not end up its own ancestor."""
    node: IdTag | None = parent_row
    while node is not None:
        if node.id == row.id:
            raise InvalidInput("A tag cannot be grouped under itself or its own member")
        node = node.parent


def delete_id_tag(session: Session, owner: User, tag_id: int) -> None:
    session.delete(owned_id_tag(session, owner, tag_id))
    session.flush()


# ------------------------------------------------------------------------------------------------
# The operator API: id tags by their value, as the caller may see them
# ------------------------------------------------------------------------------------------------

ID_TAG_FIELDS = ("tag", "parent", "expiry", "blocked")
MAX_PAGE = 1000


def id_tag_view(row: IdTag, parent_tag: str | None) -> dict:
    """An id tag as the operator API shows it."""
    return {"idTag": row.tag, "parentIdTag": parent_tag, "expiryDate": iso(row.expiry_date), "blocked": row.blocked}


def list_id_tags(session: Session, user: User, *, limit: int = 100, after: str | None = None) -> dict:
    """The id tags ``user`` may see, by tag, a page of ``limit`` after the cursor ``after``:
    ``{"items": [...], "nextCursor": str | None}``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be from 1 to {MAX_PAGE}")
    parent = aliased(IdTag)
    q = (
        select(IdTag, parent.tag)
        .outerjoin(parent, parent.id == IdTag.parent_id)
        .where(visibility.visible(user, IdTag.owner_id))
        .order_by(IdTag.tag)
        .limit(limit + 1)
    )
    if after is not None:
        (last_tag,) = cursor.decode(after, str)
        q = q.where(IdTag.tag > last_tag)
    rows = session.execute(q).all()
    return cursor.page(rows, limit, lambda r: id_tag_view(r[0], r[1]), lambda r: (r[0].tag,))


def view_of(session: Session, row: IdTag) -> dict:
    """:func:`id_tag_view` of one tag, its parent read."""
    parent_tag = session.scalar(select(IdTag.tag).where(IdTag.id == row.parent_id)) if row.parent_id else None
    return id_tag_view(row, parent_tag)


def _group_for(session: Session, user: User, owner_id: int | None, parent: str) -> IdTag:
    """The parent tag ``parent`` for a tag of ``owner_id``: one ``user`` may see, of the same owner."""
    row = session.scalar(select(IdTag).where(IdTag.tag == parent.strip()))
    if row is None or not visibility.may_see(user, row.owner_id):
        raise InvalidInput(f"No such parent id tag {parent}")
    if row.owner_id != owner_id:
        raise InvalidInput(f"Parent id tag {parent} belongs to another owner")
    return row


def _check_expiry(expiry) -> datetime | None:
    if expiry is not None and (not isinstance(expiry, datetime) or expiry.tzinfo is None):
        raise InvalidInput("expiryDate must be a date-time with a time zone")
    return expiry


def create_id_tag(
    session: Session,
    user: User,
    tag: str,
    *,
    parent: str | None = None,
    expiry: datetime | None = None,
    blocked: bool = False,
) -> IdTag:
    """Create an id tag owned by ``user``, optionally grouped under another of theirs."""
    if parent is not None:
        _group_for(session, user, user.id, parent)
    return add_id_tag(session, tag, owner=user, parent=parent, expiry=_check_expiry(expiry), blocked=bool(blocked))


def patch_id_tag(session: Session, user: User, tag: str, /, **changes) -> IdTag:
    """Change what is given of an id tag ``user`` may see: ``parent`` (a tag of the same owner, or None to
    ungroup), ``expiry`` (aware datetime, or None: never expires), ``blocked``. ``tag`` may be given but not
    changed: sessions and charger lists refer to a tag by its value."""
    unknown = set(changes) - set(ID_TAG_FIELDS)
    if unknown:
        raise InvalidInput(f"An id tag has no field {', '.join(sorted(unknown))}")
    row = visibility.id_tag(session, user, tag)
    if "tag" in changes and changes["tag"] != row.tag:
        raise InvalidInput("An id tag cannot be renamed: create the new one and delete the old one")
    if "parent" in changes:
        if changes["parent"] is None:
            row.parent_id = None
        else:
            parent_row = _group_for(session, user, row.owner_id, changes["parent"])
            _check_not_own_ancestor(row, parent_row)
            row.parent_id = parent_row.id
    if "expiry" in changes:
        row.expiry_date = _check_expiry(changes["expiry"])
    if "blocked" in changes:
        if not isinstance(changes["blocked"], bool):
            raise InvalidInput("blocked is true or false")
        row.blocked = changes["blocked"]
    session.flush()
    return row


def remove_id_tag(session: Session, user: User, tag: str) -> None:
    """Delete an id tag ``user`` may see; tags grouped under it lose their group, sessions keep its value."""
    session.delete(visibility.id_tag(session, user, tag))
    session.flush()
