"""Time-of-day tariffs: a station's price bands and the cost of a session's energy under them.

Bands are wall-clock intervals of the station's local day (``zoneinfo``), together covering every minute
exactly once; a band may wrap past midnight (22:00-06:00). A session's energy comes from its energy
register: meterStart, every ``Energy.Active.Import.Register`` sample, and meterStop (or the latest reading
while it runs). Between two readings energy is spread evenly over time, so a reading interval that crosses a
band edge is split at that edge. Edges are found minute by minute in local time, which makes daylight-saving
changes come out as a wall clock says: on a spring-forward day the skipped hour belongs to no band, on a
fall-back day the repeated hour is charged at its band both times.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from . import visibility
from .errors import InvalidInput
from .metering import ENERGY_REGISTER
from .models import ChargePoint, MeterValue, SessionCharge, Station, TariffBand, Transaction, User, utcnow

if TYPE_CHECKING:
    from .handlers import StoppedTransaction

MINUTES_PER_DAY = 1440
MAX_BANDS = 48
MAX_PRICE_PER_KWH = Decimal("100")
_MICRO = Decimal(1_000_000)
_ONE_MINUTE = timedelta(minutes=1)
# Longest stretch priced minute by minute; a session beyond it is priced at the band of its last minutes.
MAX_PRICED_SPAN = timedelta(days=31)


@dataclass(frozen=True)
class Band:
    """One price band: local minutes ``[start_minute, end_minute)``, wrapping when end <= start."""

    start_minute: int
    end_minute: int
    price_per_kwh_micro: int
    label: str = ""

    def covers(self, minute: int) -> bool:
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute

    @property
    def price_per_kwh(self) -> float:
        return float(Decimal(self.price_per_kwh_micro) / _MICRO)

    def as_dict(self) -> dict:
        return {
            "start": format_minute(self.start_minute),
            "end": format_minute(self.end_minute),
            "pricePerKwh": self.price_per_kwh,
            "label": self.label,
        }


@dataclass
class Pricing:
    """A session priced: energy in Wh, total in minor units (cents), the per-band breakdown in time order."""

    energy_wh: float
    total_minor: int
    breakdown: list[dict]


# ------------------------------------------------------------------------------------------------
# Bands: parsing, validation, storage
# ------------------------------------------------------------------------------------------------


def parse_minute(value) -> int:
    """``"HH:MM"`` (00:00 to 24:00) as minutes after midnight."""
    if (
        not isinstance(value, str)
        or len(value) != 5
        or value[2] != ":"
        or not (value[:2].isdigit() and value[3:].isdigit())
    ):
        raise InvalidInput(f"A band time is written HH:MM, not {value!r}")
    hours, minutes = int(value[:2]), int(value[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise InvalidInput(f"{value} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def price_to_micro(value) -> int:
    """A price per kWh (number or decimal string) as micro-units; at most 6 decimals, 0 to 100."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput("pricePerKwh must be a number")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"pricePerKwh {value!r} is not a number") from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE_PER_KWH:
        raise InvalidInput(f"pricePerKwh must be between 0 and {MAX_PRICE_PER_KWH}")
    micro = price * _MICRO
    if micro != micro.to_integral_value():
        raise InvalidInput("pricePerKwh has at most 6 decimals")
    return int(micro)


def validate_bands(raw: list) -> list[Band]:
    """Check ``[{start, end, pricePerKwh, label}]``: together the bands cover each minute of the day once.

    An empty list is valid and means the station charges nothing for energy.
    """
    if not isinstance(raw, list):
        raise InvalidInput("bands must be a list")
    if len(raw) > MAX_BANDS:
        raise InvalidInput(f"At most {MAX_BANDS} bands")
    bands: list[Band] = []
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise InvalidInput(f"band {n}: must be an object with start, end and pricePerKwh")
        try:
            start = parse_minute(item.get("start"))
            end = parse_minute(item.get("end"))
            price = price_to_micro(item.get("pricePerKwh"))
        except InvalidInput as e:
            raise InvalidInput(f"band {n}: {e}") from None
        label = item.get("label") or ""
        if not isinstance(label, str) or len(label) > 40:
            raise InvalidInput(f"band {n}: label is a text of at most 40 characters")
        if start == MINUTES_PER_DAY:
            start = 0
        if start == end % MINUTES_PER_DAY and not (start == 0 and end == MINUTES_PER_DAY):
            raise InvalidInput(f"band {n}: starts and ends at the same time")
        bands.append(Band(start, end, price, label.strip()))
    if bands:
        _check_cover(bands)
    return sorted(bands, key=lambda b: b.start_minute)


def _check_cover(bands: list[Band]) -> None:
    """Every minute of the day in exactly one band: sorted segments must tile 00:00-24:00."""
    segments = []
    for b in bands:
        if b.start_minute < b.end_minute:
            segments.append((b.start_minute, b.end_minute))
        else:  # wraps past midnight
            segments += [(b.start_minute, MINUTES_PER_DAY), (0, b.end_minute)]
    reached = 0
    for start, end in sorted(s for s in segments if s[0] < s[1]):
        if start > reached:
            raise InvalidInput(
                f"The bands leave {format_minute(reached)} uncovered; together they must cover 00:00-24:00 exactly once"
            )
        if start < reached:
            raise InvalidInput(
                f"The bands overlap at {format_minute(start)}; together they must cover 00:00-24:00 exactly once"
            )
        reached = end
    if reached < MINUTES_PER_DAY:
        raise InvalidInput(
            f"The bands leave {format_minute(reached)} uncovered; together they must cover 00:00-24:00 exactly once"
        )


def set_tariff_bands(session: Session, owner: User, station_id: int, bands: list) -> list[Band]:
    """Replace the tariff of ``station_id`` (the owner's own station; an admin may set any)."""
    visibility.station(session, owner, station_id)  # NotFound for anybody else's
    checked = validate_bands(bands)
    session.execute(delete(TariffBand).where(TariffBand.station_id == station_id))
    session.add_all(
        [
            TariffBand(
                station_id=station_id,
                start_minute=b.start_minute,
                end_minute=b.end_minute,
                price_per_kwh_micro=b.price_per_kwh_micro,
                label=b.label,
            )
            for b in checked
        ]
    )
    session.flush()
    return checked


# What pricing reads of a transaction: the ORM row, or the StopTransaction's Core snapshot.
TransactionFacts = Union[Transaction, "StoppedTransaction"]

# Statements on the StopTransaction path, built once (building them costs more than running them).
_BANDS = (
    select(TariffBand.start_minute, TariffBand.end_minute, TariffBand.price_per_kwh_micro, TariffBand.label)
    .where(TariffBand.station_id == bindparam("station_id_"))
    .order_by(TariffBand.start_minute)
)
# The charger's station time zone and its bands in one round trip (no band, or no station: one row of NULLs).
_ZONE_AND_BANDS_OF_CHARGER = (
    select(
        Station.timezone,
        TariffBand.start_minute,
        TariffBand.end_minute,
        TariffBand.price_per_kwh_micro,
        TariffBand.label,
    )
    .select_from(ChargePoint)
    .outerjoin(Station, Station.id == ChargePoint.station_id)
    .outerjoin(TariffBand, TariffBand.station_id == Station.id)
    .where(ChargePoint.id == bindparam("cp_id_"))
    .order_by(TariffBand.start_minute)
)
# The same with the charge already recorded for the transaction, if any (billing asks both at once).
_ZONE_BANDS_AND_CHARGE = _ZONE_AND_BANDS_OF_CHARGER.add_columns(
    select(SessionCharge.id).where(SessionCharge.transaction_id == bindparam("tx_id_")).scalar_subquery()
)


def tariff_bands(session: Session, station_id: int) -> list[Band]:
    """The station's bands, ordered by start time (empty: energy is free)."""
    return [Band(*r) for r in session.execute(_BANDS, {"station_id_": station_id})]


def bands_by_station(session: Session, station_ids: list[int]) -> dict[int, list[Band]]:
    """Bands of many stations in one query (search results)."""
    out: dict[int, list[Band]] = {sid: [] for sid in station_ids}
    if not station_ids:
        return out
    rows = session.scalars(
        select(TariffBand)
        .where(TariffBand.station_id.in_(station_ids))
        .order_by(TariffBand.station_id, TariffBand.start_minute)
    )
    for r in rows:
        out[r.station_id].append(Band(r.start_minute, r.end_minute, r.price_per_kwh_micro, r.label))
    return out


def zone(name: str | None) -> ZoneInfo:
    """The station's time zone; an unknown name falls back to UTC rather than failing a price lookup."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def check_zone(name: str) -> str:
    """Validate an IANA time zone name (for station settings)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {name!r}") from None
    return name


def _local_minute(t: datetime, tz: ZoneInfo) -> int:
    local = t.astimezone(tz)
    return local.hour * 60 + local.minute


def band_at(bands: list[Band], t: datetime, tz: ZoneInfo) -> Band | None:
    """The band in force at instant ``t`` (aware), or None when the station has no tariff."""
    minute = _local_minute(t, tz)
    for b in bands:
        if b.covers(minute):
            return b
    return None


def price_now(bands: list[Band], tz: ZoneInfo, currency: str, now: datetime | None = None) -> dict | None:
    """What a kWh costs at the station right now, or None without a tariff."""
    band = band_at(bands, now or utcnow(), tz)
    if band is None:
        return None
    return {
        "pricePerKwh": band.price_per_kwh,
        "currency": currency,
        "label": band.label,
        "from": format_minute(band.start_minute),
        "until": format_minute(band.end_minute),
    }


# ------------------------------------------------------------------------------------------------
# Pricing energy
# ------------------------------------------------------------------------------------------------


def _band_index(bands: list[Band], minute: int) -> int:
    for i, b in enumerate(bands):
        if b.covers(minute):
            return i
    return -1  # unreachable for validated bands


def band_changes(bands: list[Band], tz: ZoneInfo, t0: datetime, t1: datetime) -> list[tuple[datetime, int]]:
    """``[(instant, band index)]``: the band at ``t0`` and every change of band up to ``t1``."""
    if t1 - t0 > MAX_PRICED_SPAN:
        t0 = t1 - MAX_PRICED_SPAN
    changes = [(t0, _band_index(bands, _local_minute(t0, tz)))]
    t = t0.replace(second=0, microsecond=0) + _ONE_MINUTE
    while t < t1:
        i = _band_index(bands, _local_minute(t, tz))
        if i != changes[-1][1]:
            changes.append((t, i))
        t += _ONE_MINUTE
    return changes


def normalise_curve(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """Readings sorted by time with the register never going back (a lower reading is a glitch: skipped)."""
    out: list[tuple[datetime, float]] = []
    for t, wh in sorted(points, key=lambda p: p[0]):
        if out and wh < out[-1][1]:
            continue
        out.append((t, wh))
    return out


def price_energy(bands: list[Band], tz: ZoneInfo, curve: list[tuple[datetime, float]]) -> Pricing:
    """Price the energy between consecutive register readings ``curve`` (time-ordered, non-decreasing)."""
    if len(curve) < 2:
        return Pricing(0.0, 0, [])
    energy = curve[-1][1] - curve[0][1]
    if not bands:
        return Pricing(energy, 0, [])
    changes = band_changes(bands, tz, curve[0][0], curve[-1][0])
    change_times = [c[0] for c in changes]
    pieces: list[dict] = []  # consecutive stretches in one band

    def add(band: int, start: datetime, end: datetime, wh: float) -> None:
        if pieces and pieces[-1]["band"] == band and pieces[-1]["to"] >= start:
            pieces[-1]["to"] = max(pieces[-1]["to"], end)
            pieces[-1]["wh"] += wh
        else:
            pieces.append({"band": band, "from": start, "to": end, "wh": wh})

    for (ta, ea), (tb, eb) in zip(curve, curve[1:], strict=False):
        delta = eb - ea
        span = (tb - ta).total_seconds()
        k = max(0, bisect.bisect_right(change_times, ta) - 1)
        if span <= 0:
            add(changes[k][1], ta, tb, delta)
            continue
        cursor = ta
        while cursor < tb:
            nxt = change_times[k + 1] if k + 1 < len(change_times) and change_times[k + 1] < tb else tb
            add(changes[k][1], cursor, nxt, delta * (nxt - cursor).total_seconds() / span)
            cursor = nxt
            k += 1 if nxt < tb else 0
    breakdown = []
    total = 0
    for p in pieces:
        band = bands[p["band"]]
        wh = Decimal(repr(round(p["wh"], 3)))
        minor = int((wh * band.price_per_kwh_micro / Decimal(10_000_000)).quantize(Decimal(1), ROUND_HALF_UP))
        total += minor
        breakdown.append(
            {
                "from": p["from"].astimezone(UTC),
                "to": p["to"].astimezone(UTC),
                "label": band.label,
                "bandStart": format_minute(band.start_minute),
                "bandEnd": format_minute(band.end_minute),
                "pricePerKwh": band.price_per_kwh,
                "energyWh": float(wh),
                "costMinor": minor,
            }
        )
    return Pricing(energy, total, breakdown)


_REGISTER_READINGS = (
    select(MeterValue.timestamp, MeterValue.value)
    .where(
        MeterValue.transaction_id == bindparam("tx_id_"),
        MeterValue.measurand == ENERGY_REGISTER,
        MeterValue.unit == "Wh",
        MeterValue.value.is_not(None),
        MeterValue.location.in_(("Outlet", "Cable", "EV")),
        (MeterValue.phase.is_(None)) | (MeterValue.phase == "N"),
    )
    .order_by(MeterValue.timestamp)
)


def transaction_curve(session: Session, tx: TransactionFacts) -> list[tuple[datetime, float]]:
    """The session's register readings: meterStart, energy register samples, meterStop or latest reading."""
    start = tx.start_timestamp
    if tx.stop_timestamp is not None and tx.meter_stop is not None:
        end: tuple[datetime, float] | None = (tx.stop_timestamp, float(tx.meter_stop))
    elif tx.last_meter_wh is not None and tx.last_meter_at is not None:
        end = (max(tx.last_meter_at, start), float(tx.last_meter_wh))
    else:
        end = None
    rows = session.connection().execute(_REGISTER_READINGS, {"tx_id_": tx.id}).all()
    points = [(start, float(tx.meter_start))]
    limit = end[0] if end else None
    for ts, value in rows:
        # (value is never None: the query leaves those out)
        if value is None or ts < start or (limit is not None and ts > limit) or value < tx.meter_start:
            continue
        points.append((ts, float(value)))
    if end is not None and end[1] >= tx.meter_start:
        points.append(end)
    return normalise_curve(points)


def price_transaction(session: Session, tx: TransactionFacts) -> Pricing:
    """The cost of ``tx`` so far (or in full once stopped) under its station's current bands."""
    rows = session.connection().execute(_ZONE_AND_BANDS_OF_CHARGER, {"cp_id_": tx.charge_point_id}).all()
    return _price(session, tx, rows)


def price_unbilled(session: Session, tx: TransactionFacts) -> int | Pricing:
    """The id of its charge when ``tx`` was billed already, else its pricing."""
    rows = session.connection().execute(_ZONE_BANDS_AND_CHARGE, {"cp_id_": tx.charge_point_id, "tx_id_": tx.id}).all()
    if rows and rows[0][5] is not None:
        return int(rows[0][5])
    return _price(session, tx, rows)


def _price(session: Session, tx: TransactionFacts, rows) -> Pricing:
    bands = [Band(*r[1:5]) for r in rows if r.start_minute is not None]
    tz = zone(rows[0].timezone if rows else None)
    return price_energy(bands, tz, transaction_curve(session, tx))


def minor_to_amount(minor: int) -> float:
    """Cents as a currency amount for JSON (2 decimals)."""
    return float(Decimal(minor) / 100)


def amount_to_minor(value) -> int:
    """A currency amount (number or decimal string, at most 2 decimals) as cents."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput("amount must be a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise InvalidInput("amount must be a finite number")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise InvalidInput("amount has at most 2 decimals")
    return int(cents)
