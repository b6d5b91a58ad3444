"""Opaque cursors for keyset pagination: the sort key of the last row of a page, so the next page starts right
after it (``WHERE key > last``) however far the client has paged, with no OFFSET scan; rows added meanwhile
neither repeat nor push out a row that was there when paging began.

A cursor is URL-safe base64 of a small JSON list. It is not signed: it only says where to continue, and every
read still applies the caller's visibility and filters, so a forged cursor can show nothing more.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidInput

_VERSION = 1
MAX_LENGTH = 512


def encode(*key: datetime | int | str) -> str:
    """The cursor after a row whose sort key is ``key`` (datetimes, integers, strings)."""
    parts = [{"t": v.astimezone(UTC).isoformat()} if isinstance(v, datetime) else v for v in key]
    raw = json.dumps([_VERSION, *parts], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, *types: type) -> tuple:
    """The sort key in ``cursor``, checked against ``types`` (``datetime``, ``int``, ``str``).

    Raises InvalidInput for anything that :func:`encode` did not make with those types.
    """
    bad = InvalidInput("cursor is not valid: pass the nextCursor of the previous page unchanged")
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_LENGTH:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != _VERSION:
        raise bad
    out = []
    for value, kind in zip(data[1:], types, strict=True):
        if kind is datetime:
            try:
                value = datetime.fromisoformat(value["t"])
                if value.tzinfo is None:
                    raise bad
                value = value.astimezone(UTC)
            except (TypeError, KeyError, ValueError, OverflowError):
                raise bad from None
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**63 - 1:
                raise bad
        elif not isinstance(value, kind) or (kind is str and isinstance(value, str) and "\x00" in value):
            raise bad
        out.append(value)
    return tuple(out)


def page(rows: Sequence[Any], limit: int, view: Callable[[Any], dict], key: Callable[[Any], tuple]) -> dict[str, Any]:
    """A page from ``rows`` read with ``LIMIT limit + 1`` (the extra row only says another page follows):
    ``{"items": [view(row) ...], "nextCursor": the cursor after the last item, or None on the last page}``."""
    items = rows[:limit]
    return {
        "items": [view(row) for row in items],
        "nextCursor": encode(*key(items[-1])) if len(rows) > limit else None,
    }
