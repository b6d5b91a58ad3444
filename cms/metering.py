"""Meter values: OCPP defaults, unit normalisation, and which sample tells the energy register."""

from __future__ import annotations

import math
from datetime import datetime

from .timeutil import believable, parse_timestamp

DEFAULT_MEASURAND = "Energy.Active.Import.Register"
ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER_IMPORT = "Power.Active.Import"

# Unit -> (normalised unit, factor). kWh becomes Wh and so on, so sums and plots need no unit logic.
_UNIT_SCALE = {
    "kWh": ("Wh", 1000.0),
    "kW": ("W", 1000.0),
    "kvarh": ("varh", 1000.0),
    "kvar": ("var", 1000.0),
    "kVA": ("VA", 1000.0),
    "Celcius": ("Celsius", 1.0),  # a misspelling in the 1.6 specification that chargers do send
}
# No meter reads a terawatt-hour or a terawatt: a larger number (or NaN, or an infinity) is kept as raw text
# only, so that sums, costs and plots never meet it (a cost in minor units must fit a BIGINT).
LARGEST_READING = 1e12


def normalise_sample(sample: dict, timestamp: datetime, received_at: datetime) -> dict:
    """One ``sampledValue`` as a row of the meter_values table, with spec defaults applied."""
    raw = str(sample.get("value", ""))
    unit = sample.get("unit") or "Wh"
    fmt = sample.get("format") or "Raw"
    value: float | None = None
    if fmt == "Raw":
        try:
            value = float(raw)
        except ValueError:
            value = None
    norm_unit, factor = _UNIT_SCALE.get(unit, (unit, 1.0))
    if value is not None:
        value *= factor
        if not (math.isfinite(value) and abs(value) <= LARGEST_READING):
            value = None
    return {
        "timestamp": timestamp,
        "received_at": received_at,
        "raw_value": raw[:2048],
        "value": value,
        "measurand": sample.get("measurand") or DEFAULT_MEASURAND,
        "phase": sample.get("phase"),
        "unit": norm_unit,
        "context": sample.get("context") or "Sample.Periodic",
        "location": sample.get("location") or "Outlet",
        "format": fmt,
    }


def rows_from_meter_values(meter_values: list[dict], received_at: datetime) -> list[dict]:
    """Flatten OCPP ``meterValue`` entries into rows; unreadable timestamps fall back to receive time."""
    rows = []
    for mv in meter_values or []:
        ts = believable(parse_timestamp(mv.get("timestamp")), received_at)
        for sample in mv.get("sampledValue") or []:
            rows.append(normalise_sample(sample, ts, received_at))
    return rows


def latest_register_and_power(rows: list[dict]) -> tuple[float | None, float | None, datetime | None]:
    """The newest energy register (Wh, total not per phase) and total import power (W) in ``rows``."""
    energy: tuple[datetime, float] | None = None
    totals: dict[datetime, float] = {}
    phase_sums: dict[datetime, float] = {}
    for r in rows:
        if r["value"] is None or r["location"] not in ("Outlet", "Cable", "EV"):
            continue
        if r["measurand"] == ENERGY_REGISTER and r["phase"] in (None, "N") and r["unit"] == "Wh":
            if energy is None or r["timestamp"] >= energy[0]:
                energy = (r["timestamp"], r["value"])
        elif r["measurand"] == POWER_IMPORT and r["unit"] == "W":
            if r["phase"] in (None, "N"):
                totals[r["timestamp"]] = r["value"]
            else:  # per-phase power adds up to the total, unless a total is given too
                phase_sums[r["timestamp"]] = phase_sums.get(r["timestamp"], 0.0) + r["value"]
    merged = {**phase_sums, **totals}
    power = merged[max(merged)] if merged else None
    return (energy[1] if energy else None), power, (energy[0] if energy else None)
