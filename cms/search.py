"""Finding chargers: nearby stations, station detail, free-text search, and the FAQ / help entries.

Nearby search narrows stations with a latitude/longitude bounding box in SQL (served by the
``ix_stations_lat_lon`` index), then keeps those within the radius by exact haversine distance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ocpp.v16.enums import ChargePointStatus
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from . import visibility
from .errors import InvalidInput, NotFound
from .models import ChargePoint, Connector, HelpEntry, Reservation, Station, User, utcnow
from .tariff import bands_by_station, price_now, zone

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE_LAT = 111.32
MAX_RADIUS_KM = 200.0
MAX_RESULTS = 200
IN_USE = frozenset(
    {
        ChargePointStatus.preparing,
        ChargePointStatus.charging,
        ChargePointStatus.suspended_ev,
        ChargePointStatus.suspended_evse,
        ChargePointStatus.finishing,
    }
)
OUT_OF_ORDER = frozenset({ChargePointStatus.unavailable, ChargePointStatus.faulted})


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def check_position(lat, lon) -> tuple[float, float]:
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        raise InvalidInput("lat and lon must be numbers") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput("lat must be within -90..90 and lon within -180..180")
    return lat, lon


def _bounding_box(lat: float, lon: float, radius_km: float):
    """SQL condition for the box around the circle; splits at the antimeridian, widens near the poles."""
    dlat = radius_km / KM_PER_DEGREE_LAT
    cond_lat = Station.latitude.between(lat - dlat, lat + dlat)
    cos_lat = math.cos(math.radians(lat))
    if lat + dlat >= 90 or lat - dlat <= -90 or cos_lat < 1e-6:
        return cond_lat
    dlon = radius_km / (KM_PER_DEGREE_LAT * cos_lat)
    if dlon >= 180:
        return cond_lat
    west, east = lon - dlon, lon + dlon
    if west < -180:
        cond_lon = or_(Station.longitude >= west + 360, Station.longitude <= east)
    elif east > 180:
        cond_lon = or_(Station.longitude >= west, Station.longitude <= east - 360)
    else:
        cond_lon = Station.longitude.between(west, east)
    return and_(cond_lat, cond_lon)


def availability(status: str | None, connected: bool, reserved: bool) -> str:
    """What a driver needs to know of a connector: operative, inoperative, in_use or reserved."""
    if not connected or status in OUT_OF_ORDER or status is None:
        return "inoperative"
    if status == "Reserved" or reserved:
        return "reserved"
    if status in IN_USE:
        return "in_use"
    return "operative"


def _connectors_by_station(session: Session, station_ids: list[int], now: datetime) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {sid: [] for sid in station_ids}
    if not station_ids:
        return out
    rows = session.execute(
        select(
            ChargePoint.station_id,
            ChargePoint.id,
            ChargePoint.identity,
            ChargePoint.connected,
            Connector.connector_id,
            Connector.status,
            Connector.connector_type,
            Connector.max_power_kw,
        )
        .join(Connector, Connector.charge_point_id == ChargePoint.id)
        .where(ChargePoint.station_id.in_(station_ids), ChargePoint.registered.is_(True), Connector.connector_id > 0)
        .order_by(ChargePoint.identity, Connector.connector_id)
    ).all()
    cp_ids = {r.id for r in rows}
    held: set[tuple[int, int]] = set()
    if cp_ids:
        held = {
            (r.charge_point_id, r.connector_id)
            for r in session.execute(
                select(Reservation.charge_point_id, Reservation.connector_id).where(
                    Reservation.charge_point_id.in_(cp_ids),
                    Reservation.status == "Accepted",
                    Reservation.expiry_date > now,
                )
            )
        }
    for r in rows:
        reserved = (r.id, r.connector_id) in held or (r.id, 0) in held
        out[r.station_id].append(
            {
                "chargePointId": r.identity,
                "connectorId": r.connector_id,
                "availability": availability(r.status, r.connected, reserved),
                "status": r.status,
                "connectorType": r.connector_type,
                "maxPowerKw": r.max_power_kw,
            }
        )
    return out


def _summaries(session: Session, stations: Sequence[Any], currency: str, now: datetime) -> list[dict]:
    ids = [s.id for s in stations]
    connectors = _connectors_by_station(session, ids, now)
    bands = bands_by_station(session, ids)
    out = []
    for s in stations:
        conns = connectors[s.id]
        out.append(
            {
                "id": s.id,
                "name": s.name,
                "address": s.address,
                "latitude": s.latitude,
                "longitude": s.longitude,
                "timezone": s.timezone,
                "priceNow": price_now(bands[s.id], zone(s.timezone), currency, now),
                "availableConnectors": sum(1 for c in conns if c["availability"] == "operative"),
                "connectors": conns,
            }
        )
    return out


_STATION_COLUMNS = (Station.id, Station.name, Station.address, Station.latitude, Station.longitude, Station.timezone)


def nearby(
    session: Session, lat, lon, radius_km, currency: str, *, limit: int = 50, now: datetime | None = None
) -> list[dict]:
    """Stations within ``radius_km`` of (lat, lon), nearest first, with connectors and the price now."""
    lat, lon = check_position(lat, lon)
    try:
        radius_km = float(radius_km)
    except (TypeError, ValueError):
        raise InvalidInput("radiusKm must be a number") from None
    if not 0 < radius_km <= MAX_RADIUS_KM:
        raise InvalidInput(f"radiusKm must be above 0 and at most {MAX_RADIUS_KM:g}")
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(f"limit must be 1 to {MAX_RESULTS}")
    rows = session.execute(select(*_STATION_COLUMNS).where(_bounding_box(lat, lon, radius_km))).all()
    hits = []
    for r in rows:
        d = haversine_km(lat, lon, r.latitude, r.longitude)
        if d <= radius_km:
            hits.append((d, r.id, r))
    hits.sort(key=lambda h: (h[0], h[1]))
    hits = hits[:limit]
    result = _summaries(session, [h[2] for h in hits], currency, now or utcnow())
    for (d, _, _), item in zip(hits, result, strict=True):
        item["distanceKm"] = round(d, 3)
    return result


def escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_search(
    session: Session, query: str, currency: str, *, limit: int = 20, now: datetime | None = None
) -> list[dict]:
    """Stations whose name or address, or one of whose charge point ids, contains ``query`` (any case)."""
    query = (query or "").strip()
    if not 1 <= len(query) <= 100:
        raise InvalidInput("q needs 1 to 100 characters")
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(f"limit must be 1 to {MAX_RESULTS}")
    pattern = f"%{escape_like(query.lower())}%"
    by_charger = select(ChargePoint.station_id).where(func.lower(ChargePoint.identity).like(pattern, escape="\\"))
    rows = session.execute(
        select(*_STATION_COLUMNS)
        .where(
            or_(
                func.lower(Station.name).like(pattern, escape="\\"),
                func.lower(Station.address).like(pattern, escape="\\"),
                Station.id.in_(by_charger),
            )
        )
        .order_by(Station.name, Station.id)
        .limit(limit)
    ).all()
    return _summaries(session, rows, currency, now or utcnow())


def station_detail(session: Session, station_id: int, currency: str, now: datetime | None = None) -> dict:
    """One station with connectors, the price now and its whole tariff."""
    row = session.execute(select(*_STATION_COLUMNS).where(Station.id == station_id)).first()
    if row is None:
        raise NotFound("No such station")
    now = now or utcnow()
    detail = _summaries(session, [row], currency, now)[0]
    detail["currency"] = currency
    detail["tariff"] = [b.as_dict() for b in bands_by_station(session, [station_id])[station_id]]
    return detail


# ------------------------------------------------------------------------------------------------
# FAQ / help
# ------------------------------------------------------------------------------------------------


def help_view(h: HelpEntry) -> dict:
    return {"id": h.id, "question": h.question, "answer": h.answer, "category": h.category, "position": h.position}


def help_entries(session: Session, query: str | None = None, category: str | None = None) -> list[dict]:
    """Help entries in display order, optionally filtered by words in question/answer and by category."""
    q = select(HelpEntry)
    if query and query.strip():
        pattern = f"%{escape_like(query.strip().lower()[:100])}%"
        q = q.where(
            or_(
                func.lower(HelpEntry.question).like(pattern, escape="\\"),
                func.lower(HelpEntry.answer).like(pattern, escape="\\"),
            )
        )
    if category:
        q = q.where(HelpEntry.category == category.strip())
    return [help_view(h) for h in session.scalars(q.order_by(HelpEntry.category, HelpEntry.position, HelpEntry.id))]


def help_entry(session: Session, entry_id: int) -> dict:
    h = session.get(HelpEntry, entry_id)
    if h is None:
        raise NotFound("No such help entry")
    return help_view(h)


def add_help_entry(
    session: Session, author: User, question: str, answer: str, *, category: str = "general", position: int = 0
) -> HelpEntry:
    """Publish a help entry (administrators only)."""
    if not visibility.sees_everything(author):
        raise NotFound("No such operation")
    question, answer, category = (question or "").strip(), (answer or "").strip(), (category or "general").strip()
    if not 1 <= len(question) <= 255:
        raise InvalidInput("question needs 1 to 255 characters")
    if not 1 <= len(answer) <= 10_000:
        raise InvalidInput("answer needs 1 to 10000 characters")
    if not 1 <= len(category) <= 60:
        raise InvalidInput("category needs 1 to 60 characters")
    entry = HelpEntry(question=question, answer=answer, category=category, position=int(position))
    session.add(entry)
    session.flush()
    return entry
