"""Logging, configured in one place: the plain format, or one JSON object per line (``CMS_LOG_FORMAT=json``),
with the identity of the charger whose message is being handled when there is one.

The charger's identity travels in a context variable, set by the transports where a charger's messages are
handled (:func:`bind_charger`): under gevent each greenlet has its own context, and under Werkzeug's threaded
server each thread, so a line logged while handling a charger's message names that charger and no other.
"""

from __future__ import annotations

import logging
import sys
import traceback
from contextvars import ContextVar, Token
from datetime import UTC, datetime

import orjson

FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# A context variable is a key, not a store: each greenlet's or thread's context holds its own value.
_CHARGER: ContextVar[str | None] = ContextVar("cms_charger", default=None)


def bind_charger(identity: str | None) -> Token:
    """Name ``identity`` in every line logged from this greenlet or thread until :func:`unbind_charger`."""
    return _CHARGER.set(identity)


def unbind_charger(token: Token) -> None:
    _CHARGER.reset(token)


def current_charger() -> str | None:
    return _CHARGER.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``, ``pid``, and
    ``charger`` and ``exception`` (the traceback's text) when there are some. ``extra={"charger": ...}``
    names a charger explicitly."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        charger = getattr(record, "charger", None) or _CHARGER.get()
        if charger:
            entry["charger"] = charger
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # default=str: a message argument or extra that JSON cannot hold is written as its text
        return orjson.dumps(entry, default=str).decode()


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``CMS_LOG_FORMAT`` (``plain`` or ``json``); anything else is a start-up error."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "plain":
        return logging.Formatter(PLAIN_FORMAT)
    raise ValueError(f"CMS_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")


class _CmsStreamHandler(logging.StreamHandler):
    """The one handler :func:`configure_logging` puts on the root logger; marked so a later call finds it."""

    _cms_handler = True


def configure_logging(log_format: str, stream=None) -> None:
    """Send the CMS's log lines to standard error (or ``stream``) in ``log_format``, at INFO.

    One handler of ours on the root logger, replaced when called again (each app of a test run calls this).
    Like ``logging.basicConfig``, it leaves a root logger alone that something else configured (pytest's
    capture, an application embedding the CMS).
    """
    fmt = formatter(log_format)
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_cms_handler", False)]
    if root.handlers and not ours:
        return
    for h in ours:
        root.removeHandler(h)
    handler = _CmsStreamHandler(stream or sys.stderr)
    handler.setFormatter(fmt)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
