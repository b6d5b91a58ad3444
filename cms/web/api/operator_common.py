"""Shared pieces of the operator API: query parameters of filtered, cursor-paginated lists and their OpenAPI
description."""

from __future__ import annotations

import re
from datetime import datetime

from flask import request

from cms import cursor
from cms.timeutil import parse_timestamp

from . import spec
from .driver_common import query_int, query_param
from .errors import ApiError

OPERATOR_ROLES = ("owner",)  # and administrators, whom require_user lets through everywhere
# RFC 3339 date-time, the OpenAPI ``date-time`` format: seconds and an offset required.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
DATE_TIME_HINT = "an RFC 3339 date-time such as 2026-01-31T00:00:00Z (in a URL, + as %2B)"


def parse_date_time(value: str, name: str) -> datetime:
    """An RFC 3339 date-time as aware UTC; 422 naming ``name`` otherwise."""
    parsed = None
    if _DATE_TIME.match(value):
        try:
            parsed = parse_timestamp(value)
        except OverflowError:  # a valid-looking time that leaves the calendar once moved to UTC
            parsed = None
    if parsed is None:
        raise ApiError(422, "invalid_input", f"{name} must be {DATE_TIME_HINT}")
    return parsed


def query_date_time(name: str) -> datetime | None:
    raw = request.args.get(name)
    return None if raw is None else parse_date_time(raw, name)


def query_text(name: str, max_len: int) -> str | None:
    """An optional text parameter; when given, 1 to ``max_len`` characters."""
    raw = request.args.get(name)
    if raw is not None and (not raw or len(raw) > max_len or "\x00" in raw):
        raise ApiError(422, "invalid_input", f"{name} must have 1 to {max_len} characters")
    return raw


def page_args(default: int, maximum: int) -> tuple[int, str | None]:
    """``limit`` and ``cursor`` of a paginated list."""
    return query_int("limit", default, 1, maximum), query_text("cursor", cursor.MAX_LENGTH)


def page_params(default: int, maximum: int) -> list[dict]:
    return [
        query_param(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
            "at most this many items",
        ),
        query_param(
            "cursor",
            {"type": "string", "minLength": 1, "maxLength": cursor.MAX_LENGTH},
            "the nextCursor of the previous page (opaque); absent for the first page",
        ),
    ]


def page_schema(name: str, item: dict) -> dict:
    """A registered ``{"items": [item], "nextCursor"}`` schema."""
    return spec.schema(
        name,
        {
            "type": "object",
            "required": ["items", "nextCursor"],
            "properties": {
                "items": {"type": "array", "items": item},
                "nextCursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "pass as cursor for the next page; null on the last page",
                },
            },
        },
    )
