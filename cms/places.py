"""A typed place becomes coordinates without any outside geocoding service.

A driver without location permission (or without map tiles) types where they are: either coordinates
("52.37, 4.89") or words that the CMS's own stations carry in their name or address (a town, a street, a
district, a landmark). Stations matching the words are grouped by closeness; the biggest group's centre is the
best guess ("area"), followed by each matching station. A town without any of our stations is therefore not
known: the answer is then empty and the app says so.
"""

from __future__ import annotations

import re

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .errors import InvalidInput
from .models import Station
from .search import escape_like, haversine_km

AREA_KM = 30.0  # stations this close to each other count as one place
MAX_MATCHES = 500
_COORDINATES = re.compile(r"^\s*([-+]?\d{1,2}(?:\.\d+)?)\s*[,;\s]\s*([-+]?\d{1,3}(?:\.\d+)?)\s*$")


def _coordinates(text: str) -> dict | None:
    m = _COORDINATES.match(text)
    if not m:
        return None
    lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput("Coordinates are a latitude from -90 to 90 and a longitude from -180 to 180")
    return {"label": f"{lat:.5f}, {lon:.5f}", "latitude": lat, "longitude": lon, "kind": "coordinates", "stations": 0}


def _biggest_group(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points within AREA_KM of the point with the most such neighbours (ties: the earliest)."""
    best: list[tuple[float, float]] = []
    for p in points:
        group = [q for q in points if haversine_km(p[0], p[1], q[0], q[1]) <= AREA_KM]
        if len(group) > len(best):
            best = group
    return best


def find_place(session: Session, query: str, *, limit: int = 5) -> list[dict]:
    """Candidate positions for ``query``, best first: coordinates as typed, or the area of our stations whose
    name or address contains the words, then those stations one by one."""
    text = (query or "").strip()
    if not 1 <= len(text) <= 100:
        raise InvalidInput("q needs 1 to 100 characters")
    if not 1 <= limit <= 20:
        raise InvalidInput("limit must be 1 to 20")
    typed = _coordinates(text)
    if typed is not None:
        return [typed]
    pattern = f"%{escape_like(text.lower())}%"
    rows = session.execute(
        select(Station.id, Station.name, Station.address, Station.latitude, Station.longitude)
        .where(
            Station.latitude.is_not(None),
            Station.longitude.is_not(None),
            or_(
                func.lower(Station.name).like(pattern, escape="\\"),
                func.lower(Station.address).like(pattern, escape="\\"),
            ),
        )
        .order_by(Station.name, Station.id)
        .limit(MAX_MATCHES)
    ).all()
    if not rows:
        return []
    out: list[dict] = []
    group = _biggest_group([(r.latitude, r.longitude) for r in rows])
    if len(group) > 1:
        out.append(
            {
                "label": text,
                "latitude": round(sum(p[0] for p in group) / len(group), 6),
                "longitude": round(sum(p[1] for p in group) / len(group), 6),
                "kind": "area",
                "stations": len(group),
            }
        )
    for r in rows[: limit - len(out)]:
        label = f"{r.name}, {r.address}" if r.address else r.name
        out.append({"label": label, "latitude": r.latitude, "longitude": r.longitude, "kind": "station", "stations": 1})
    return out
