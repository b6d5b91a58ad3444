"""An owner's use cases for a station's grid connection limit and its external load (validated, visibility
checked: another owner's station is NotFound)."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from .. import visibility
from ..errors import InvalidInput, NotFound
from ..models import StationLoadLimit, User, utcnow
from .allocation import DEFAULT_MIN_CURRENT_A

DEFAULT_PHASES = 3
DEFAULT_VOLTAGE_V = 230.0
MAX_CURRENT_A = 10_000.0  # per phase: far above any low-voltage connection, far below what a column can hold


def _number(value, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{name} must be a number")
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} must be from {lo:g} to {hi:g}")
    return float(value)


def set_limit(
    session: Session,
    user: User,
    station_id: int,
    *,
    max_current_a,
    phases=DEFAULT_PHASES,
    min_current_a=DEFAULT_MIN_CURRENT_A,
    voltage_v=DEFAULT_VOLTAGE_V,
) -> StationLoadLimit:
    """Store (and switch on) the station's limit: amperes per phase on 1 or 3 phases, the least current a session
    may get, the nominal voltage (for kW figures). The external load pushed before is kept."""
    station = visibility.station(session, user, station_id)
    maximum = _number(max_current_a, "maxCurrentA", 0, MAX_CURRENT_A)
    if phases not in (1, 3) or isinstance(phases, bool):
        raise InvalidInput("phases must be 1 or 3")
    minimum = _number(min_current_a, "minCurrentA", 0, 80)
    voltage = _number(voltage_v, "voltageV", 100, 1000)
    row = session.get(StationLoadLimit, station.id)
    if row is None:
        row = StationLoadLimit(station_id=station.id)
        session.add(row)
    row.enabled = True
    row.max_current_a, row.phases, row.min_current_a, row.voltage_v = maximum, phases, minimum, voltage
    if row.external_load_a and len(row.external_load_a) > phases:
        row.external_load_a = row.external_load_a[:phases]
    row.updated_at = utcnow()
    session.flush()
    return row


def switch_off(session: Session, user: User, station_id: int) -> bool:
    """Turn the station's load management off (its settings are kept); False when it had none."""
    station = visibility.station(session, user, station_id)
    row = session.get(StationLoadLimit, station.id)
    if row is None or not row.enabled:
        return False
    row.enabled = False
    row.updated_at = utcnow()
    session.flush()
    return True


def set_external_load(session: Session, user: User, station_id: int, current_a: list) -> StationLoadLimit:
    """The rest of the building's current now, per phase (L1..), taken off the station's limit first."""
    station = visibility.station(session, user, station_id)
    row = session.get(StationLoadLimit, station.id)
    if row is None:
        raise NotFound("The station has no load limit; set one first (PUT .../load-limit)")
    if not isinstance(current_a, list) or not 1 <= len(current_a) <= row.phases:
        raise InvalidInput(f"currentA must list 1 to {row.phases} values (amperes per phase, L1 first)")
    row.external_load_a = [_number(v, "currentA", 0, MAX_CURRENT_A) for v in current_a]
    row.external_load_at = utcnow()
    session.flush()
    return row


def limit_view(row: StationLoadLimit) -> dict:
    """A stored limit as the API shows it."""
    return {
        "enabled": row.enabled,
        "maxCurrentA": row.max_current_a,
        "phases": row.phases,
        "minCurrentA": row.min_current_a,
        "voltageV": row.voltage_v,
        "externalLoadA": list(row.external_load_a or []),
    }
