"""The ``cms`` command line: database, owners, tokens, charge points, id tags, serving; ``cms simulate`` is a
plugin of the simulator (see PLUGIN_GROUP).

Every command exits non-zero with a one-line reason on bad input.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import EntryPoint, entry_points

import click

from .config import StartupError, load_settings
from .db import Database
from .errors import Conflict, InvalidInput, NotFound
from .timeutil import parse_timestamp


def _db() -> Database:
    """The database of CMS_DATABASE_URL, checked first: it answers and is migrated (else a one-line error)."""
    settings = load_settings()
    _ready(settings, redis=False)
    return Database(settings.database_url)


def _ready(settings, *, schema: bool = True, redis: bool = True) -> None:
    """Start-up checks (cms.preflight); their warnings go to stderr, their failure ends the command."""
    from .preflight import check

    for warning in check(settings, schema=schema, redis=redis):
        click.echo(f"Warning: {warning}", err=True)


# Commands that live outside the server's packages (``cms simulate``: the simulator, a charger-side tool) are
# plugins found through this entry point group (pyproject.toml), as Flask finds ``flask.commands``: the core
# never imports them, and they are loaded only when run.
PLUGIN_GROUP = "cms.commands"


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}


class _Commands(click.Group):
    """The command group: a :class:`StartupError` (bad CMS_* value, database or Redis not ready) anywhere in a
    command is one line on stderr and exit status 1, never a traceback. Plugin commands are listed with the
    others."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *_plugins()})

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None and name in (plugins := _plugins()):
            command = plugins[name].load()
        return command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except StartupError as e:
            raise click.ClickException(str(e)) from None


class _Fail:
    """Turns domain errors into a one-line message and exit status 1."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type in (InvalidInput, Conflict, NotFound):
            raise click.ClickException(str(exc)) from None
        return False


@click.group(cls=_Commands)
def main() -> None:
    """Central Management System for EV charging stations (OCPP 1.5/1.6, JSON and SOAP)."""


# ----------------------------------------------------------------------------------------------- db
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (creates the SQLite file if needed)."""
    from .migrate import upgrade

    settings = load_settings()
    _ready(settings, schema=False, redis=False)
    url = settings.database_url
    upgrade(url, revision)
    click.echo(f"database at {url.split('@')[-1]} is at {revision}")


# ----------------------------------------------------------------------------------------------- people
def _create_user(email: str, password: str, name: str, role: str) -> None:
    from .accounts import create_user

    with _Fail(), _db().uow() as uow:
        user = create_user(uow.session, email, password, role=role, name=name, verified=True)
        uow.commit()
        click.echo(f"{role} {user.email} created (id {user.id})")


@main.group()
def owner() -> None:
    """Station owners."""


@owner.command("create")
@click.argument("email")
@click.option("--password", required=True, help="at least 8 characters")
@click.option("--name", default="")
@click.option("--admin", is_flag=True, help="an operator who reaches every charge point")
def owner_create(email: str, password: str, name: str, admin: bool) -> None:
    """Create an owner account (verified)."""
    _create_user(email, password, name, "admin" if admin else "owner")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("email")
@click.option("--name", default="cli")
def token_create(email: str, name: str) -> None:
    """Print a new Bearer token for EMAIL."""
    from .accounts import issue_token, user_by_email

    with _Fail(), _db().uow() as uow:
        user = user_by_email(uow.session, email)
        value = issue_token(uow.session, user, name=name)
        uow.commit()
    click.echo(value)


# ----------------------------------------------------------------------------------------------- chargers
@main.group()
def chargepoint() -> None:
    """Charge points."""


@chargepoint.command("add")
@click.argument("identity")
@click.option("--owner", "owner_email", required=True)
@click.option("--password", default=None, help="HTTP Basic password (16-40 characters)")
@click.option("--station", default=None)
def chargepoint_add(identity: str, owner_email: str, password: str | None, station: str | None) -> None:
    """Register a charge point for an owner."""
    from .accounts import user_by_email
    from .chargepoints import add_charge_point

    with _Fail(), _db().uow() as uow:
        user = user_by_email(uow.session, owner_email)
        cp = add_charge_point(uow.session, identity, user, password=password, station_name=station)
        uow.commit()
        click.echo(f"charge point {cp.identity} added for {user.email}")


@chargepoint.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def chargepoint_import(path: str) -> None:
    """Add charge points from a CSV file with columns id, owner, password, station (all or nothing)."""
    from sqlalchemy import select

    from .chargepoints import import_charge_points, read_csv
    from .models import User

    with _Fail(), _db().uow() as uow:
        rows = read_csv(path)
        emails = {(r.get("owner") or "").strip().lower() for r in rows}
        owners = {u.email: u for u in uow.session.scalars(select(User).where(User.email.in_(emails)))}
        count = import_charge_points(uow.session, rows, owners)
        uow.commit()
    click.echo(f"{count} charge points imported")


# ----------------------------------------------------------------------------------------------- stations
@main.group()
def station() -> None:
    """Stations (sites that group charge points)."""


@station.command("add")
@click.argument("name")
@click.option("--owner", "owner_email", required=True)
@click.option("--address", default="")
@click.option("--lat", default=None, help="latitude, with --lon")
@click.option("--lon", default=None, help="longitude, with --lat")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone, e.g. Europe/Berlin")
def station_add(name: str, owner_email: str, address: str, lat: str | None, lon: str | None, timezone: str) -> None:
    """Add a station for an owner; prints its id."""
    from .accounts import user_by_email
    from .stations import create_station

    # Coordinates stay text here so that a bad one gets the core's one-line reason, not click's usage text.
    with _Fail(), _db().uow() as uow:
        user = user_by_email(uow.session, owner_email)
        row = create_station(
            uow.session, user, name=name, address=address, latitude=lat, longitude=lon, timezone=timezone
        )
        uow.commit()
        click.echo(row.id)


# ----------------------------------------------------------------------------------------------- id tags
@main.group()
def idtag() -> None:
    """Id tags."""


@idtag.command("add")
@click.argument("tag")
@click.option("--owner", "owner_email", default=None)
@click.option("--parent", default=None, help="group (parent) id tag")
@click.option("--expiry", default=None, help="ISO 8601 date-time")
@click.option("--blocked", is_flag=True)
def idtag_add(tag: str, owner_email: str | None, parent: str | None, expiry: str | None, blocked: bool) -> None:
    """Add an id tag."""
    from .accounts import user_by_email
    from .idtags import add_id_tag

    expiry_dt = None
    if expiry:
        # A plain date means its start, in UTC.
        expiry_dt = parse_timestamp(expiry if "T" in expiry or " " in expiry else expiry + "T00:00:00Z")
        if expiry_dt is None:
            raise click.ClickException(f"--expiry {expiry!r} is not an ISO 8601 date-time")
    with _Fail(), _db().uow() as uow:
        user = user_by_email(uow.session, owner_email) if owner_email else None
        row = add_id_tag(uow.session, tag, owner=user, parent=parent, expiry=expiry_dt, blocked=blocked)
        uow.commit()
        click.echo(f"id tag {row.tag} added")


# ----------------------------------------------------------------------------------------------- mail
@main.command()
@click.option("--to", "recipient", default=None, help="only mails to this address")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000))
def outbox(recipient: str | None, limit: int) -> None:
    """Show the newest mails the CMS wrote (without SMTP configured they are only kept here)."""
    from .mail import outbox as read_outbox

    with _db().uow() as uow:
        mails = read_outbox(uow.session, recipient, limit=limit)
    if not mails:
        click.echo("no mails")
    for m in mails:
        click.echo(f"--- #{m['id']} to {m['recipient']} at {m['created_at']:%Y-%m-%d %H:%M:%S} ({m['delivery']})")
        click.echo(f"Subject: {m['subject']}\n\n{m['body']}\n")


# ----------------------------------------------------------------------------------------------- serving
WORKER_CLASS = "cms.gunicorn_worker.GeventWorker"  # gunicorn's gevent worker with start-up checks and drain
GRACEFUL_TIMEOUT = 10  # seconds a stopping worker has to answer, write and close what it holds


# Connections the kernel queues before a worker accepts them (capped by net.core.somaxconn; gunicorn's default is
# 2048). Workers accept promptly (cms.gunicorn_worker); this only absorbs the first second of a reconnect storm.
LISTEN_BACKLOG = 4096


def gunicorn_command(
    host: str, port: int, workers: int, access_log: str = "", graceful_timeout: int = GRACEFUL_TIMEOUT
) -> list[str]:
    """The production server: gunicorn with gevent workers (a greenlet, not a thread, per WebSocket).

    ``access_log`` is gunicorn's (``-`` for stdout); none by default: every SOAP message is an HTTP request,
    and a line for each cost a SOAP charger's message a tenth of its CPU (the message log keeps them anyway).
    On SIGTERM (a stop, a ``kill -HUP`` reload) each worker drains within ``graceful_timeout`` seconds
    (cms.gunicorn_worker).
    """
    exe = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which("gunicorn") or "gunicorn"
    return [
        exe,
        "--worker-class",
        WORKER_CLASS,
        "--workers",
        str(workers),
        "--worker-connections",
        "20000",
        "--backlog",
        str(LISTEN_BACKLOG),
        "--bind",
        f"{host}:{port}",
        "--graceful-timeout",
        str(graceful_timeout),
        "--keep-alive",
        "75",
        *(["--access-logfile", access_log] if access_log else []),
        "--no-control-socket",
        "--config",
        "python:cms.gunicorn_conf",
        "app:create_app()",
    ]


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--graceful-timeout",
    default=GRACEFUL_TIMEOUT,
    show_default=True,
    type=click.IntRange(2, 600),
    help="seconds a stopping worker has to finish its messages and close its chargers",
)
def serve(host: str, port: int, workers: int, graceful_timeout: int) -> None:
    """Run the production server (gunicorn + gevent). Several workers need CMS_REDIS_URL.

    Checks first that the settings are valid, the database answers and is migrated, and Redis answers (when
    set): each failure is one line and exit status 1. SIGTERM stops it gracefully, SIGHUP reloads its workers.
    """
    settings = load_settings()
    if workers > 1 and not settings.redis_url:
        raise click.ClickException("several workers share chargers through Redis: set CMS_REDIS_URL")
    _ready(settings)
    command = gunicorn_command(host, port, workers, settings.access_log, graceful_timeout)
    os.execv(command[0], command)


# ----------------------------------------------------------------------------------------------- demo
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"


def seed_demo(database: Database, chargers: int) -> list[str]:
    """Create the demo owner, station, chargers and id tag unless they exist; returns the charger ids."""
    from sqlalchemy import select

    from .accounts import create_user
    from .chargepoints import add_charge_point, find_or_create_station
    from .idtags import add_id_tag
    from .loadmgmt.site_limits import set_limit
    from .models import ChargePoint, IdTag, StationLoadLimit, User

    ids = [f"DEMO-{i}" for i in range(1, chargers + 1)]
    with database.uow() as uow:
        s = uow.session
        user = s.scalar(select(User).where(User.email == DEMO_EMAIL))
        if user is None:
            user = create_user(s, DEMO_EMAIL, DEMO_PASSWORD, name="Demo Owner", verified=True)
        station = find_or_create_station(s, user, "Demo Station")
        if station.latitude is None:
            station.address, station.latitude, station.longitude = "1 Example Street, Pune", 18.5204, 73.8567
            station.timezone = "Asia/Kolkata"
        for identity in ids:
            if s.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity)) is None:
                add_charge_point(s, identity, user, station_id=station.id)
        # A card per charger (DEMO-1's is TAG-DEMO-1 ...), so that they all charge at once; and the one card of
        # earlier demos.
        for tag in ["DEMO", *(demo_id_tag(identity) for identity in ids)]:
            if s.scalar(select(IdTag.id).where(IdTag.tag == tag)) is None:
                add_id_tag(s, tag, owner=user, note="demo card")
        # The station's grid connection is smaller than its chargers' total: load management shares it.
        if ids and s.get(StationLoadLimit, station.id) is None:
            set_limit(s, user, station.id, max_current_a=DEMO_LIMIT_A)
        uow.commit()
    return ids


DEMO_ID_TAG = "TAG-{identity}"  # each simulated charger's own card
DEMO_LIMIT_A = 32.0  # amperes per phase for the demo station: its 3 chargers could draw 3 x 32


def demo_id_tag(identity: str) -> str:
    return DEMO_ID_TAG.format(identity=identity)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--chargers", default=3, show_default=True, type=click.IntRange(0, 100))
def demo(host: str, port: int, chargers: int) -> None:
    """Migrate, seed a demo owner with chargers, run the server and simulated chargers until Ctrl-C."""
    from .migrate import upgrade

    settings = load_settings()
    _ready(settings, schema=False)
    upgrade(settings.database_url)
    ids = seed_demo(Database(settings.database_url), chargers)
    env = {**os.environ, "CMS_PUBLIC_URL": os.environ.get("CMS_PUBLIC_URL", f"http://{host}:{port}")}
    server = subprocess.Popen(gunicorn_command(host, port, 1, settings.access_log), env=env)
    sim = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise click.ClickException("the server did not start") from None
                time.sleep(0.3)
        click.echo(f"\nCMS running at http://{host}:{port}/  (log in as {DEMO_EMAIL} / {DEMO_PASSWORD})")
        click.echo(f"API docs at http://{host}:{port}/api/v1/docs; chargers {', '.join(ids)} simulated.")
        click.echo("Ctrl-C stops.\n")
        if ids:
            sim = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "simulator",
                    "--url",
                    f"ws://{host}:{port}",
                    "--session-seconds",
                    "90",
                    "--meter-interval",
                    "10",
                    "--id-tag",
                    DEMO_ID_TAG,
                    *[a for i in ids for a in ("--id", i)],
                ],
                env=env,
            )
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (sim, server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (sim, server):
            if proc is not None:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":  # pragma: no cover
    main()
