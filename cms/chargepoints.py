"""Use cases for charge points: add, import in bulk, set passwords, remove."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from . import visibility
from .drivers import CONNECTOR_TYPES
from .errors import Conflict, InvalidInput, NotFound
from .models import ChargePoint, Connector, Station, User
from .passwords import hash_password

# OCPP identities are CiString(48)-ish and appear in URLs: keep them URL-safe.
_IDENTITY = re.compile(r"^[A-Za-z0-9._:\-]{1,48}$")


def check_identity(identity: str) -> str:
    identity = (identity or "").strip()
    if not _IDENTITY.match(identity):
        raise InvalidInput(f"Charge point id {identity!r} must be 1-48 letters, digits or . _ : -")
    return identity


def check_charger_password(password: str) -> None:
    # OCPP 1.6 security profile 1: 16 to 40 characters.
    if not 16 <= len(password) <= 40:
        raise InvalidInput("A charge point password must have 16 to 40 characters")


def find_or_create_station(session: Session, owner: User, name: str) -> Station:
    station = session.scalar(select(Station).where(Station.owner_id == owner.id, Station.name == name))
    if station is None:
        station = Station(owner_id=owner.id, name=name)
        session.add(station)
        session.flush()
    return station


def add_charge_point(
    session: Session,
    identity: str,
    owner: User,
    *,
    password: str | None = None,
    station_name: str | None = None,
    station_id: int | None = None,
) -> ChargePoint:
    """Register a charger for ``owner``. A charger that only knocked before (unregistered) is adopted."""
    identity = check_identity(identity)
    if password:
        check_charger_password(password)
    station = None
    if station_id is not None:
        station = session.get(Station, station_id)
        if station is None or station.owner_id != owner.id:
            raise NotFound("No such station")
    elif station_name:
        station = find_or_create_station(session, owner, station_name.strip()[:120])
    cp = session.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
    if cp is not None and cp.registered:
        raise Conflict(f"Charge point {identity} exists already")
    if cp is None:
        cp = ChargePoint(identity=identity)
        session.add(cp)
    cp.registered = True
    cp.owner_id = owner.id
    cp.station_id = station.id if station else None
    cp.password_hash = hash_password(password) if password else None
    session.flush()
    return cp


def import_charge_points(session: Session, rows: Iterable[dict], owners: dict[str, User]) -> int:
    """Bulk-add charge points from dicts with id, owner, password, station; all or nothing."""
    seen: set[str] = set()
    stations: dict[tuple[int, str], int] = {}
    existing = set(session.scalars(select(ChargePoint.identity)))
    batch = []
    for n, row in enumerate(rows, start=2):
        try:
            identity = check_identity(row.get("id", ""))
            owner = owners[(row.get("owner") or "").strip().lower()]
        except KeyError:
            raise InvalidInput(f"line {n}: unknown owner {row.get('owner')!r}") from None
        except InvalidInput as e:
            raise InvalidInput(f"line {n}: {e}") from None
        if identity in seen or identity in existing:
            raise InvalidInput(f"line {n}: charge point {identity} exists already")
        seen.add(identity)
        password = (row.get("password") or "").strip()
        if password:
            try:
                check_charger_password(password)
            except InvalidInput as e:
                raise InvalidInput(f"line {n}: {e}") from None
        station_id = None
        name = (row.get("station") or "").strip()
        if name:
            key = (owner.id, name)
            if key not in stations:
                stations[key] = find_or_create_station(session, owner, name).id
            station_id = stations[key]
        batch.append(
            {
                "identity": identity,
                "owner_id": owner.id,
                "station_id": station_id,
                "password_hash": hash_password(password) if password else None,
                "registered": True,
            }
        )
    if batch:
        session.execute(insert(ChargePoint), batch)
    return len(batch)


def read_csv(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"id", "owner"} - set(reader.fieldnames or [])
        if missing:
            raise InvalidInput(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        return list(reader)


def owned_charge_point(session: Session, owner: User, identity: str) -> ChargePoint:
    """The owner's registered charge point ``identity``; NotFound for a missing one and for anybody else's."""
    cp = session.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
    if cp is None or not cp.registered or not visibility.may_see(owner, cp.owner_id):
        raise NotFound(f"Unknown charge point {identity}")
    return cp


def update_charge_point(
    session: Session,
    owner: User,
    identity: str,
    *,
    station_id: int | None,
    password: str | None = None,
    clear_password: bool = False,
) -> ChargePoint:
    """Move a charge point to another of the owner's stations (or none) and set or clear its password."""
    cp = owned_charge_point(session, owner, identity)
    if station_id is not None:
        station = session.get(Station, station_id)
        if station is None or station.owner_id != cp.owner_id:
            raise NotFound("No such station")
    cp.station_id = station_id
    if password:
        check_charger_password(password)
        cp.password_hash = hash_password(password)
    elif clear_password:
        cp.password_hash = None
    session.flush()
    return cp


def remove_charge_point(session: Session, owner: User, identity: str) -> None:
    """Delete a charge point with its history (transactions, meter values, log)."""
    session.delete(owned_charge_point(session, owner, identity))
    session.flush()


# ------------------------------------------------------------------------------------------------
# The operator API: a charge point's settings, changed field by field
# ------------------------------------------------------------------------------------------------

CHARGE_POINT_FIELDS = ("station_id", "password", "max_current_a", "connectors")
CONNECTOR_FIELDS = ("connector_id", "connector_type", "max_power_kw")
MAX_CURRENT_A = 1000.0
MAX_CONNECTOR_ID = 100
MIN_POWER_KW, MAX_POWER_KW = 0.1, 5000.0


def current_limit(value) -> float | None:
    """A current limit in A per phase as stored: 0 to 1000, rounded down to 0.1 A (the step of OCPP charging
    schedules, so that what is stored can be sent as it is); None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_CURRENT_A:
        raise InvalidInput(f"maxCurrentA must be a number from 0 to {MAX_CURRENT_A:g} (amperes per phase)")
    # The small epsilon keeps 16.3 (16.299999... in binary) at 16.3.
    return math.floor(value * 10 + 1e-6) / 10


def patch_charge_point(session: Session, user: User, identity: str, /, **changes) -> ChargePoint:
    """Change the settings given of a charge point ``user`` may see; the others stay.

    ``station_id`` (a station of the charge point's owner, or None for none), ``password`` (16-40 characters, or
    None to clear it: the charger then connects without Basic auth), ``max_current_a`` (see
    :func:`current_limit`), ``connectors``: a list of dicts with ``connector_id`` (1-100; a connector the charger
    has not reported yet is added) and optionally ``connector_type`` (one of CONNECTOR_TYPES or None) and
    ``max_power_kw`` (kW or None).
    """
    unknown = set(changes) - set(CHARGE_POINT_FIELDS)
    if unknown:
        raise InvalidInput(f"A charge point has no setting {', '.join(sorted(unknown))}")
    cp = visibility.charge_point(session, user, identity)
    if "station_id" in changes:
        cp.station_id = _assignable_station(session, user, cp, changes["station_id"])
    if "password" in changes:
        password = changes["password"]
        if password is None:
            cp.password_hash = None
        else:
            check_charger_password(password)
            cp.password_hash = hash_password(password)
    if "max_current_a" in changes:
        cp.max_current_a = current_limit(changes["max_current_a"])
    _set_connectors(cp, changes.get("connectors") or [])
    session.flush()
    return cp


def _assignable_station(session: Session, user: User, cp: ChargePoint, station_id: int | None) -> int | None:
    """``station_id`` if the charge point may join it; a station the caller may not see is reported like a
    missing one. Held FOR SHARE, so that the station cannot be deleted before this commits."""
    if station_id is None:
        return None
    station = session.scalar(select(Station).where(Station.id == station_id).with_for_update(read=True))
    if station is None or not visibility.may_see(user, station.owner_id):
        raise InvalidInput(f"No such station {station_id}")
    if station.owner_id != cp.owner_id:
        raise InvalidInput(f"Station {station_id} belongs to another owner than charge point {cp.identity}")
    return station.id


def _set_connectors(cp: ChargePoint, settings: list[dict]) -> None:
    existing = {c.connector_id: c for c in cp.connectors}
    seen: set[int] = set()
    for item in settings:
        unknown = set(item) - set(CONNECTOR_FIELDS)
        if unknown:
            raise InvalidInput(f"A connector has no setting {', '.join(sorted(unknown))}")
        cid = item.get("connector_id")
        if isinstance(cid, bool) or not isinstance(cid, int) or not 1 <= cid <= MAX_CONNECTOR_ID:
            raise InvalidInput(f"connectorId must be a whole number from 1 to {MAX_CONNECTOR_ID}")
        if cid in seen:
            raise InvalidInput(f"Connector {cid} is listed twice")
        seen.add(cid)
        connector = existing.get(cid)
        if connector is None:  # not reported yet: the owner knows it is there
            connector = Connector(connector_id=cid)
            cp.connectors.append(connector)
        if "connector_type" in item:
            kind = item["connector_type"]
            if kind is not None and kind not in CONNECTOR_TYPES:
                raise InvalidInput(f"connectorType is one of {', '.join(CONNECTOR_TYPES)}")
            connector.connector_type = kind
        if "max_power_kw" in item:
            kw = item["max_power_kw"]
            if kw is not None and (
                isinstance(kw, bool) or not isinstance(kw, int | float) or not MIN_POWER_KW <= kw <= MAX_POWER_KW
            ):
                raise InvalidInput(f"maxPowerKw must be a number from {MIN_POWER_KW:g} to {MAX_POWER_KW:g}")
            connector.max_power_kw = None if kw is None else float(kw)
