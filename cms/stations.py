"""Use cases for stations: sites with an address, coordinates and a time zone that group charge points."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import cursor, visibility
from .errors import Conflict, InvalidInput
from .models import ChargePoint, Station, User


def owned_station(session: Session, owner: User, station_id: int) -> Station:
    """The owner's station ``station_id``; NotFound for a missing one and for anybody else's."""
    return visibility.station(session, owner, station_id)


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
    return {
        "name": name,
        "address": (address or "").strip()[:255],
        "latitude": lat,
        "longitude": lon,
        "timezone": timezone,
    }


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


def create_station(
    session: Session, owner: User, *, name: str, address: str = "", latitude=None, longitude=None, timezone: str = "UTC"
) -> Station:
    """Add a station for ``owner``; names are unique per owner."""
    values = _clean(name, address, latitude, longitude, timezone)
    if session.scalar(select(Station.id).where(Station.owner_id == owner.id, Station.name == values["name"])):
        raise Conflict(f"You have a station called {values['name']} already")
    station = Station(owner_id=owner.id, **values)
    session.add(station)
    session.flush()
    return station


def update_station(
    session: Session,
    owner: User,
    station_id: int,
    *,
    name: str,
    address: str = "",
    latitude=None,
    longitude=None,
    timezone: str = "UTC",
) -> Station:
    station = owned_station(session, owner, station_id)
    return _apply(session, station, _clean(name, address, latitude, longitude, timezone))


def _apply(session: Session, station: Station, values: dict) -> Station:
    """Store cleaned ``values`` on ``station``; names stay unique per owner."""
    clash = session.scalar(
        select(Station.id).where(
            Station.owner_id == station.owner_id, Station.name == values["name"], Station.id != station.id
        )
    )
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


# ------------------------------------------------------------------------------------------------
# The operator API: stations as the caller may see them, changed field by field
# ------------------------------------------------------------------------------------------------

STATION_FIELDS = ("name", "address", "latitude", "longitude", "timezone")
MAX_PAGE = 1000


class StationInUse(Conflict):
    """The station still groups charge points; ``charge_point_ids`` says which."""

    def __init__(self, station: Station, charge_point_ids: list[str]):
        shown = ", ".join(charge_point_ids[:10]) + (" ..." if len(charge_point_ids) > 10 else "")
        super().__init__(
            f"Station {station.name} still has {len(charge_point_ids)} charge point(s) ({shown}); "
            "move them to another station or to none first"
        )
        self.charge_point_ids = charge_point_ids


def station_view(station: Station, charge_point_count: int) -> dict:
    """A station as the operator API shows it."""
    return {
        "id": station.id,
        "name": station.name,
        "address": station.address,
        "latitude": station.latitude,
        "longitude": station.longitude,
        "timezone": station.timezone,
        "chargePointCount": charge_point_count,
    }


def charge_point_count(session: Session, station_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(ChargePoint)
            .where(ChargePoint.station_id == station_id, ChargePoint.registered.is_(True))
        )
        or 0
    )


def list_stations(session: Session, user: User, *, limit: int = 100, after: str | None = None) -> dict:
    """The stations ``user`` may see, by id, a page of ``limit`` after the cursor ``after``:
    ``{"items": [...], "nextCursor": str | None}``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be from 1 to {MAX_PAGE}")
    counts = (
        select(ChargePoint.station_id, func.count().label("n"))
        .where(ChargePoint.registered.is_(True))
        .group_by(ChargePoint.station_id)
        .subquery()
    )
    q = (
        select(Station, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.station_id == Station.id)
        .where(visibility.visible(user, Station.owner_id))
        .order_by(Station.id)
        .limit(limit + 1)
    )
    if after is not None:
        (last_id,) = cursor.decode(after, int)
        q = q.where(Station.id > last_id)
    rows = session.execute(q).all()
    return cursor.page(rows, limit, lambda r: station_view(r[0], r[1]), lambda r: (r[0].id,))


def patch_station(session: Session, user: User, station_id: int, /, **changes) -> Station:
    """Change the fields given (``name``, ``address``, ``latitude``, ``longitude``, ``timezone``) of a station
    ``user`` may see; the others stay. Coordinates are both set or both empty afterwards."""
    unknown = set(changes) - set(STATION_FIELDS)
    if unknown:
        raise InvalidInput(f"A station has no field {', '.join(sorted(unknown))}")
    station = visibility.station(session, user, station_id)
    merged = {key: getattr(station, key) for key in STATION_FIELDS} | changes
    return _apply(session, station, _clean(**merged))


def delete_unused_station(session: Session, user: User, station_id: int) -> None:
    """Delete a station ``user`` may see, with its tariff. Refused (:class:`StationInUse`) while charge points
    belong to it, so that no charger drops out of the drivers' search unnoticed."""
    station = visibility.station(session, user, station_id)
    # Locked, so that a charge point assigned meanwhile (which holds it FOR SHARE) is either seen here or refused.
    session.execute(select(Station.id).where(Station.id == station.id).with_for_update())
    in_use = list(
        session.scalars(
            select(ChargePoint.identity).where(ChargePoint.station_id == station.id).order_by(ChargePoint.identity)
        )
    )
    if in_use:
        raise StationInUse(station, in_use)
    session.delete(station)
    session.flush()
