"""Opaque keyset cursors: exact round trips, and anything not made by encode() for those types is refused."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cms import cursor
from cms.errors import InvalidInput


def test_round_trips_keep_microseconds_and_move_times_to_utc():
    t = datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert cursor.decode(cursor.encode(t, 42), datetime, int) == (t.astimezone(UTC), 42)
    assert cursor.decode(cursor.encode("a/b ünï"), str) == ("a/b ünï",)
    assert "=" not in cursor.encode("x") and "/" not in cursor.encode("???")


def _raw(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    "value,types",
    [
        ("", (int,)),
        ("not base64 !", (int,)),
        ("x" * 600, (int,)),
        (_raw({"a": 1}), (int,)),
        (_raw([2, 5]), (int,)),
        (_raw([1, 5, 6]), (int,)),
        (_raw([1, "5"]), (int,)),
        (_raw([1, True]), (int,)),
        (_raw([1, 2**70]), (int,)),
        (_raw([1, 5]), (str,)),
        (_raw([1, "a\x00"]), (str,)),
        (_raw([1, {"t": "yesterday"}, 1]), (datetime, int)),
        (_raw([1, {"t": "2026-01-01T00:00:00"}, 1]), (datetime, int)),
        (_raw([1, {"t": "0001-01-01T00:00:00+05:00"}, 1]), (datetime, int)),
        (_raw([1, "2026-01-01", 1]), (datetime, int)),
    ],
)
def test_anything_else_is_invalid_input(value, types):
    with pytest.raises(InvalidInput, match="cursor is not valid"):
        cursor.decode(value, *types)


def test_a_page_holds_limit_items_and_a_cursor_only_when_another_row_was_read():
    rows = [(n, f"tag-{n}") for n in range(4)]  # read with LIMIT 3 + 1
    first = cursor.page(rows, 3, lambda r: {"tag": r[1]}, lambda r: (r[0],))
    assert first["items"] == [{"tag": "tag-0"}, {"tag": "tag-1"}, {"tag": "tag-2"}]
    assert cursor.decode(first["nextCursor"], int) == (2,)
    last = cursor.page(rows[3:], 3, lambda r: {"tag": r[1]}, lambda r: (r[0],))
    assert last == {"items": [{"tag": "tag-3"}], "nextCursor": None}
    assert cursor.page([], 3, lambda r: {}, lambda r: ()) == {"items": [], "nextCursor": None}
