"""Timestamps from chargers: lenient parsing, and telling a believable clock from a broken one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import overload

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)

EARLIEST_BELIEVABLE = datetime(2010, 1, 1, tzinfo=UTC)


def parse_timestamp(value: str | None) -> datetime | None:
    """Parse an ISO 8601 time; a missing offset means UTC (many chargers omit it). None if unreadable."""
    if not value or not isinstance(value, str):
        return None
    m = _ISO.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro)
    except ValueError:
        return None
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        try:
            dt = (dt - sign * offset).replace(tzinfo=UTC)
        except OverflowError:  # 9999-12-31T23:00-05:00 is past what a datetime holds
            return None
    else:
        dt = dt.replace(tzinfo=UTC)
    return dt


def is_timestamp(value: str) -> bool:
    """Format check used by schema validation: any ISO 8601 time we can parse."""
    return parse_timestamp(value) is not None


def believable(ts: datetime | None, received_at: datetime) -> datetime:
    """The charger's time when its clock looks right, else our receive time (1970 clocks, far future)."""
    if ts is None or ts < EARLIEST_BELIEVABLE or ts > received_at + timedelta(days=1):
        return received_at
    return ts


@overload
def iso(dt: datetime) -> str: ...
@overload
def iso(dt: None) -> None: ...
@overload
def iso(dt: datetime | None) -> str | None: ...
def iso(dt: datetime | None) -> str | None:
    """Format as OCPP likes it: UTC with a Z and millisecond precision."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
