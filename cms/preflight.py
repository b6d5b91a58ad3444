"""Checks before the CMS starts: the database answers and is migrated to this code's head, Redis answers.

``cms serve`` runs them before it starts gunicorn, each gunicorn worker again before it builds the app
(cms.gunicorn_worker), and the other ``cms`` commands the ones they need. A failure is a :class:`StartupError`
whose message is one line for the operator: what is wrong, where (passwords hidden), and what to do.
(Bad ``CMS_*`` values are caught earlier, by :func:`cms.config.load_settings`.)
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from .config import Settings, StartupError

CONNECT_TIMEOUT = 5  # seconds: an address that drops packets fails the check instead of hanging the start


class Unreachable(StartupError):
    """The database or Redis did not answer: maybe for a moment (a restart, connections cut), maybe for good."""


def check_until_reachable(settings: Settings, seconds: float, *, sleep=None, on_retry=None) -> list[str]:
    """:func:`check`, tried again while the database or Redis cannot be reached, for up to ``seconds``.

    A gunicorn worker restarted during an outage (its predecessor was killed while the database's connections
    were being cut, say) must not stop the whole server with "App failed to load": it waits for them as long as
    this allows. Anything else wrong (no tables, a bad URL) fails at once."""
    import time

    sleep = sleep or time.sleep
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check(settings)
        except Unreachable as e:
            if time.monotonic() >= deadline:
                raise
            if on_retry is not None:
                on_retry(str(e))
            sleep(1.0)


def check(settings: Settings, *, schema: bool = True, redis: bool = True) -> list[str]:
    """Run the checks a server needs; returns warnings (one line each) to show, raises :class:`StartupError`.

    ``schema``: the database must be migrated to this code's head revision. ``redis``: when ``CMS_REDIS_URL`` is
    set, Redis must answer.
    """
    warnings = check_database(settings.database_url, schema=schema)
    if redis and settings.redis_url:
        check_redis(settings.redis_url)
    check_payment_provider(settings)
    return warnings


def safe_database_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unreadable URL)"


def check_database(url: str, *, schema: bool = True) -> list[str]:
    """The database answers; with ``schema``, it is at this code's head revision. Returns warnings."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StartupError(
            f"CMS_DATABASE_URL={url!r} is not a database URL "
            "(e.g. postgresql+psycopg://user@host/cms or sqlite:///var/cms.sqlite3)"
        ) from None
    shown = safe_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if schema and path not in ("", ":memory:") and not os.path.exists(path):
            raise StartupError(
                f"no database at {os.path.abspath(path)} (CMS_DATABASE_URL={shown}): run `cms db upgrade` first"
            )
        if not schema:
            return []  # `cms db upgrade` creates the file and its directory
    connect_args = {"connect_timeout": CONNECT_TIMEOUT} if parsed.get_backend_name() == "postgresql" else {}
    if parsed.drivername == "postgresql":  # as cms.db.make_engine does
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    except (NoSuchModuleError, ImportError) as e:
        raise StartupError(f"CMS_DATABASE_URL={shown}: no driver for it is installed ({_one_line(e)})") from None
    try:
        with engine.connect() as conn:
            if not schema:
                return []
            from alembic.runtime.migration import MigrationContext

            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as e:
        raise Unreachable(f"cannot reach the database {shown} (CMS_DATABASE_URL): {_one_line(e)}") from None
    finally:
        engine.dispose()
    return _compare_revisions(shown, current)


def _compare_revisions(shown: str, current: set[str]) -> list[str]:
    from alembic.script import ScriptDirectory

    from .migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = set(script.get_heads())
    if current == heads:
        return []
    if not current:
        raise StartupError(f"the database {shown} has no CMS tables yet: run `cms db upgrade`")
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = current - known
    if unknown:
        # Newer code migrated it (a rolling upgrade, or this node runs an older release): expand-only migrations
        # keep older code working, so this is said, not refused.
        return [
            f"the database {shown} is at revision {', '.join(sorted(unknown))}, newer than this CMS knows "
            f"(its head is {', '.join(sorted(heads))}); continuing"
        ]
    raise StartupError(
        f"the database {shown} is at revision {', '.join(sorted(current))}, this CMS needs "
        f"{', '.join(sorted(heads))}: run `cms db upgrade`"
    )


def safe_redis_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_redis(url: str) -> None:
    """Redis at ``url`` answers a PING."""
    import redis

    shown = safe_redis_url(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT)
    except ValueError as e:
        raise StartupError(f"CMS_REDIS_URL={shown} is not a Redis URL: {_one_line(e)}") from None
    try:
        client.ping()
    except redis.RedisError as e:
        raise Unreachable(f"cannot reach Redis at {shown} (CMS_REDIS_URL): {_one_line(e)}") from None
    finally:
        client.close()


def check_payment_provider(settings: Settings) -> None:
    """``CMS_PAYMENT_PROVIDER`` names a provider that loads."""
    from .payments import load_provider

    try:
        load_provider(settings)
    except (ValueError, ImportError, AttributeError, TypeError) as e:
        raise StartupError(
            f"CMS_PAYMENT_PROVIDER={settings.payment_provider!r} cannot be used: {_one_line(e)}"
        ) from None


def _one_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers add hints and SQL on further lines)."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    text = str(orig if orig is not None else exc).strip() or exc.__class__.__name__
    return " ".join(text.splitlines()[0].split())
