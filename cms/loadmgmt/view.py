"""The read side of load management: a station's limit, live total and sessions (``GET .../load``, the station
page), and its drawn current over time against the limit (the station page's plot, the benchmark)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import ChargePoint, MeterValue
from .state import CURRENT_IMPORT, PHASE_INDEX, StationSnapshot

# A current sample stands for what a connector draws until the next one, for at most this long.
SAMPLE_HOLD = timedelta(seconds=120)


def load_view(snapshot: StationSnapshot) -> dict:
    """The station's load as ``GET /api/v1/stations/{id}/load`` returns it.

    ``allocatedA`` is the most allocated on any phase (managed sessions' limits plus unmanaged sessions at their
    maximum), ``measuredA`` the most drawn on any phase now (the sessions' latest Current.Import), both in A per
    phase; each allocation's ``limitA`` is null until its first re-allocation.
    """
    limit = snapshot.limit
    phases = limit.phases if limit is not None else 3
    allocated = [0.0] * phases
    measured = [0.0] * phases
    items = []
    for s in snapshot.sessions:
        cp = snapshot.charge_points.get(s.charge_point_id)
        if cp is None:
            continue
        row = snapshot.previous.get(s.transaction_id)
        if not cp.managed:
            limit_a: float | None = cp.max_a
        else:
            limit_a = row.limit_a if row is not None else None
        if limit_a is not None:
            allocated = [a + limit_a for a in allocated]
        drawn = None
        if s.measured_a is not None:
            values = list(s.measured_a) if len(s.measured_a) > 1 else list(s.measured_a) * 3
            if phases == 1:
                values = [max(values)]
            measured = [m + v for m, v in zip(measured, values, strict=False)]
            drawn = round(max(values), 2)
        items.append(
            {
                "chargePointId": cp.identity,
                "connectorId": s.connector_id,
                "transactionId": s.transaction_id,
                "limitA": limit_a,
                "measuredA": drawn,
                "managed": cp.managed,
                "reason": (row.reason if row is not None and cp.managed else "unmanaged" if not cp.managed else None),
                "status": s.status,
            }
        )
    return {
        "enabled": bool(limit and limit.enabled),
        "maxCurrentA": limit.max_current_a if limit is not None else None,
        "phases": limit.phases if limit is not None else None,
        "minCurrentA": limit.min_current_a if limit is not None else None,
        "voltageV": limit.voltage_v if limit is not None else None,
        "externalLoadA": list(limit.external_load_a) if limit is not None else [],
        "allocatedA": round(max(allocated), 1) if allocated else 0.0,
        "measuredA": round(max(measured), 2) if measured else 0.0,
        "allocations": items,
        "chargePoints": [
            {
                "chargePointId": cp.identity,
                "managed": cp.managed,
                "maxCurrentA": cp.max_current_a,
                "fallbackA": cp.default_limit_a,
            }
            for cp in sorted(snapshot.charge_points.values(), key=lambda c: c.identity)
        ],
    }


def site_current(
    s: Session, station_id: int, since: datetime, until: datetime, step: timedelta = timedelta(seconds=15)
) -> dict:
    """The station's drawn current (the most loaded phase, summed over its connectors' Current.Import) at the
    instants that are whole multiples of ``step`` from ``since`` to ``until``, and at ``until``:
    ``{"t": [epoch ms], "siteA": [A]}``.
    Each connector counts with its value at the instant: its latest sample taken then or before (for at most
    SAMPLE_HOLD); a sample without a phase counts on every phase. Chargers that sample at clock-aligned instants
    (ClockAlignedDataInterval dividing ``step``) are summed at exactly the moments they measured, so the sum is
    what the site drew then, not a mix of moments."""
    rows = s.execute(
        select(
            MeterValue.charge_point_id,
            MeterValue.connector_id,
            MeterValue.phase,
            MeterValue.timestamp,
            MeterValue.value,
        )
        .join(ChargePoint, ChargePoint.id == MeterValue.charge_point_id)
        .where(
            ChargePoint.station_id == station_id,
            MeterValue.measurand == CURRENT_IMPORT,
            MeterValue.timestamp >= since - SAMPLE_HOLD,
            MeterValue.timestamp <= until,
            MeterValue.value.is_not(None),
        )
        .order_by(MeterValue.timestamp)
    ).all()
    held: dict[tuple, tuple[float, datetime]] = {}
    times, values = [], []
    i = 0
    step_s = step.total_seconds()
    t = datetime.fromtimestamp(math.ceil(since.timestamp() / step_s) * step_s, since.tzinfo)
    instants = []
    while t <= until:
        instants.append(t)
        t += step
    if not instants or instants[-1] < until:
        instants.append(until)  # and now, the latest of every connector
    for t in instants:
        while i < len(rows) and rows[i].timestamp <= t:
            r = rows[i]
            for p in [PHASE_INDEX[r.phase]] if r.phase in PHASE_INDEX else [0, 1, 2]:
                held[(r.charge_point_id, r.connector_id, p)] = (max(0.0, r.value), r.timestamp)
            i += 1
        per_phase = [0.0, 0.0, 0.0]
        for (_cp, _conn, p), (value, at) in held.items():
            if t - at <= SAMPLE_HOLD:
                per_phase[p] += value
        times.append(int(t.timestamp() * 1000))
        values.append(round(max(per_phase), 2))
    return {"t": times, "siteA": values}
