"""Use cases for charge points: add, import in bulk, set passwords, remove."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .errors import Conflict, InvalidInput, NotFound
from .models import ChargePoint, Station, User
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


def add_charge_point(session: Session, identity: str, owner: User, *, password: str | None = None,
                     station_name: str | None = None, station_id: int | None = None) -> ChargePoint:
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
        batch.append({"identity": identity, "owner_id": owner.id, "station_id": station_id,
                      "password_hash": hash_password(password) if password else None, "registered": True})
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
    if cp is None or not cp.registered or (cp.owner_id != owner.id and owner.role != "admin"):
        raise NotFound(f"Unknown charge point {identity}")
    return cp


def update_charge_point(session: Session, owner: User, identity: str, *, station_id: int | None,
                        password: str | None = None, clear_password: bool = False) -> ChargePoint:
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
