"""Use cases for stations: sites with an address, coordinates and a time zone that group charge points."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .errors import Conflict, InvalidInput, NotFound
from .models import ChargePoint, Station, User


def owned_station(session: Session, owner: User, station_id: int) -> Station:
    """The owner's station ``station_id``; NotFound for a missing one and for anybody else's."""
    station = session.get(Station, station_id)
    if station is None or (station.owner_id != owner.id and owner.role != "admin"):
        raise NotFound("No such station")
    return station


def _clean(name: str, address: str, latitude, longitude, timezone: str) -> dict:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput("A station needs a name of 1 to 120 characters")
    timezone = (timezone or "UTC").strip()
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {timezone!r} (use a name like Europe/Berlin)") from None
    lat = _coordinate(latitude, 90, "Latitude")
    lon = _coordinate(longitude, 180, "Longitude")
    if (lat is None) != (lon is None):
        raise InvalidInput("Give both latitude and longitude, or neither")
    return {"name": name, "address": (address or "").strip()[:255], "latitude": lat, "longitude": lon,
            "timezone": timezone}


def _coordinate(value, bound: float, label: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{label} must be a number") from None
    if not -bound <= number <= bound:
        raise InvalidInput(f"{label} must be between -{bound:g} and {bound:g}")
    return number


def create_station(session: Session, owner: User, *, name: str, address: str = "", latitude=None, longitude=None,
                   timezone: str = "UTC") -> Station:
    """Add a station for ``owner``; names are unique per owner."""
    values = _clean(name, address, latitude, longitude, timezone)
    if session.scalar(select(Station.id).where(Station.owner_id == owner.id, Station.name == values["name"])):
        raise Conflict(f"You have a station called {values['name']} already")
    station = Station(owner_id=owner.id, **values)
    session.add(station)
    session.flush()
    return station


def update_station(session: Session, owner: User, station_id: int, *, name: str, address: str = "", latitude=None,
                   longitude=None, timezone: str = "UTC") -> Station:
    station = owned_station(session, owner, station_id)
    values = _clean(name, address, latitude, longitude, timezone)
    clash = session.scalar(select(Station.id).where(Station.owner_id == station.owner_id,
                                                    Station.name == values["name"], Station.id != station.id))
    if clash:
        raise Conflict(f"You have a station called {values['name']} already")
    for key, value in values.items():
        setattr(station, key, value)
    session.flush()
    return station


def delete_station(session: Session, owner: User, station_id: int) -> None:
    """Remove a station; its charge points stay, without a station."""
    station = owned_station(session, owner, station_id)
    session.execute(update(ChargePoint).where(ChargePoint.station_id == station.id).values(station_id=None))
    session.delete(station)
    session.flush()
