"""What load management knows of a station at one moment, read from the database in a few queries.

One snapshot serves the controller (what to allocate) and the views (``GET .../load``, the station page), so
both see the same sessions, measurements and limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..models import (
    ChargePoint,
    ChargingProfileRecord,
    Connector,
    LoadAllocation,
    MeterValue,
    Station,
    StationLoadLimit,
    Transaction,
)

# A charger's maximum current per phase when its owner gave none (a 22 kW wallbox): what an unmanaged one is
# counted at and what a managed one is never given more than.
DEFAULT_CHARGER_MAX_A = 32.0
# A current measurement older than this is not taken as what a session draws now.
MEASUREMENT_MAX_AGE = timedelta(seconds=90)
# How far behind a charger's clock may be and its samples still count: the newest samples are found by their own
# timestamps (the index of meter values), so a run reads the last hour of each session, not all of it.
CLOCK_SKEW_ALLOWED = timedelta(hours=1)
CURRENT_IMPORT = "Current.Import"
PHASE_INDEX = {"L1": 0, "L2": 1, "L3": 2, "L1-N": 0, "L2-N": 1, "L3-N": 2}
# The profile ids load management gives its own profiles (the owner's own profiles keep theirs):
# TxDefaultProfile on connector 0, and a TxProfile per connector (base + connector id).
TX_DEFAULT_PROFILE_ID = 7_000_000
TX_PROFILE_ID_BASE = 7_000_000
OWN_PROFILE_IDS = range(TX_DEFAULT_PROFILE_ID, TX_PROFILE_ID_BASE + 1000)


@dataclass(frozen=True)
class LimitSettings:
    """A station's stored limit."""

    enabled: bool
    max_current_a: float
    phases: int
    min_current_a: float
    voltage_v: float
    external_load_a: tuple[float, ...]
    external_load_at: datetime | None


@dataclass(frozen=True)
class ChargePointInfo:
    """A charge point of the station as load management sees it."""

    id: int
    identity: str
    ocpp_version: str
    max_current_a: float | None  # its owner's limit (None: none given)
    refused_profiles: bool  # refused a charging profile: counted at its maximum
    connector_ids: tuple[int, ...]  # connectors 1.. it reported (at least 1)
    owner_stack_level: int  # the highest stack level of the owner's own TxProfiles on it (-1: none)
    default_limit_a: float | None  # the fallback TxDefaultProfile limit it last accepted (None: none)
    reachable: bool  # a JSON charger connected now, or a SOAP charger (reached at its endpoint)

    @property
    def managed(self) -> bool:
        """It takes charging profiles: OCPP 1.6 and it never refused one."""
        return self.ocpp_version != "1.5" and not self.refused_profiles

    @property
    def max_a(self) -> float:
        return self.max_current_a if self.max_current_a is not None else DEFAULT_CHARGER_MAX_A


@dataclass(frozen=True)
class SessionInfo:
    """An open transaction on one of the station's charge points."""

    transaction_id: int
    charge_point_id: int
    connector_id: int
    started_at: datetime
    status: str | None  # its connector's status (Charging, SuspendedEV, SuspendedEVSE ...)
    measured_a: tuple[float, ...] | None  # its latest Current.Import per phase (L1..), None: none recent
    measured_at: datetime | None


@dataclass(frozen=True)
class StationSnapshot:
    """A station's limit, charge points, open sessions and what the last allocation left, at ``now``."""

    station_id: int
    owner_id: int
    now: datetime
    limit: LimitSettings | None
    charge_points: dict[int, ChargePointInfo]
    sessions: list[SessionInfo]
    previous: dict[int, LoadAllocation] = field(default_factory=dict)  # by transaction id

    @property
    def managed(self) -> bool:
        """Whether load management is on for this station."""
        return self.limit is not None and self.limit.enabled


def limit_settings(row: StationLoadLimit) -> LimitSettings:
    return LimitSettings(
        row.enabled,
        row.max_current_a,
        row.phases,
        row.min_current_a,
        row.voltage_v,
        tuple(row.external_load_a or ()),
        row.external_load_at,
    )


def station_snapshot(s: Session, station_id: int, now: datetime) -> StationSnapshot:
    """The snapshot of a station that exists (the caller checked who may see it); NotFound otherwise."""
    snapshot = read_snapshot(s, station_id, now)
    if snapshot is None:
        raise NotFound("No such station")
    return snapshot


def read_snapshot(s: Session, station_id: int, now: datetime) -> StationSnapshot | None:
    """The station's snapshot; None when the station does not exist."""
    station = s.get(Station, station_id)
    if station is None:
        return None
    limit_row = s.get(StationLoadLimit, station_id)
    cps = s.execute(
        select(
            ChargePoint.id,
            ChargePoint.identity,
            ChargePoint.ocpp_version,
            ChargePoint.max_current_a,
            ChargePoint.profiles_refused_at,
            ChargePoint.transport,
            ChargePoint.connected,
            ChargePoint.endpoint_url,
        ).where(ChargePoint.station_id == station_id, ChargePoint.registered.is_(True))
    ).all()
    cp_ids = [c.id for c in cps]
    connectors: dict[int, list[int]] = {}
    status: dict[tuple[int, int], str] = {}
    if cp_ids:
        for cp_id, connector_id, st in s.execute(
            select(Connector.charge_point_id, Connector.connector_id, Connector.status).where(
                Connector.charge_point_id.in_(cp_ids)
            )
        ):
            status[(cp_id, connector_id)] = st
            if connector_id > 0:
                connectors.setdefault(cp_id, []).append(connector_id)
    stack: dict[int, int] = {}
    defaults: dict[int, float] = {}
    if cp_ids:
        for cp_id, profile_id, level, purpose, profile in s.execute(
            select(
                ChargingProfileRecord.charge_point_id,
                ChargingProfileRecord.profile_id,
                ChargingProfileRecord.stack_level,
                ChargingProfileRecord.purpose,
                ChargingProfileRecord.profile,
            ).where(ChargingProfileRecord.charge_point_id.in_(cp_ids))
        ):
            if profile_id == TX_DEFAULT_PROFILE_ID and purpose == "TxDefaultProfile":
                limit = _first_limit(profile)
                if limit is not None:
                    defaults[cp_id] = limit
            elif purpose == "TxProfile" and profile_id not in OWN_PROFILE_IDS:
                stack[cp_id] = max(stack.get(cp_id, -1), level)
    charge_points = {
        c.id: ChargePointInfo(
            c.id,
            c.identity,
            c.ocpp_version,
            c.max_current_a,
            c.profiles_refused_at is not None,
            tuple(sorted(connectors.get(c.id, []))) or (1,),
            stack.get(c.id, -1),
            defaults.get(c.id),
            bool(c.connected) or (c.transport == "soap" and c.endpoint_url is not None),
        )
        for c in cps
    }
    txs = (
        s.execute(
            select(Transaction.id, Transaction.charge_point_id, Transaction.connector_id, Transaction.start_received_at)
            .where(Transaction.charge_point_id.in_(cp_ids), Transaction.stop_timestamp.is_(None))
            .order_by(Transaction.id)
        ).all()
        if cp_ids
        else []
    )
    measured = _latest_currents(s, [t.id for t in txs], now)
    sessions = [
        SessionInfo(
            t.id,
            t.charge_point_id,
            t.connector_id,
            t.start_received_at,
            status.get((t.charge_point_id, t.connector_id)),
            *measured.get(t.id, (None, None)),
        )
        for t in txs
    ]
    previous = {
        a.transaction_id: a for a in s.scalars(select(LoadAllocation).where(LoadAllocation.station_id == station_id))
    }
    return StationSnapshot(
        station_id,
        station.owner_id,
        now,
        limit_settings(limit_row) if limit_row is not None else None,
        charge_points,
        sessions,
        previous,
    )


def _latest_currents(
    s: Session, transaction_ids: list[int], now: datetime
) -> dict[int, tuple[tuple[float, ...], datetime]]:
    """Each transaction's newest Current.Import sample (per phase L1..L3; one value when phase-less) received
    within MEASUREMENT_MAX_AGE."""
    if not transaction_ids:
        return {}
    recent = (
        MeterValue.transaction_id.in_(transaction_ids),
        MeterValue.timestamp >= now - MEASUREMENT_MAX_AGE - CLOCK_SKEW_ALLOWED,
        MeterValue.measurand == CURRENT_IMPORT,
        MeterValue.received_at >= now - MEASUREMENT_MAX_AGE,
        MeterValue.value.is_not(None),
    )
    # Only each transaction's newest sample (a few rows each), not every sample of the window.
    newest_at = (
        select(MeterValue.transaction_id.label("tx"), func.max(MeterValue.timestamp).label("at"))
        .where(*recent)
        .group_by(MeterValue.transaction_id)
        .subquery()
    )
    rows = s.execute(
        select(MeterValue.transaction_id, MeterValue.timestamp, MeterValue.phase, MeterValue.value)
        .join(newest_at, (newest_at.c.tx == MeterValue.transaction_id) & (newest_at.c.at == MeterValue.timestamp))
        .where(*recent)
    ).all()
    newest: dict[int, tuple[datetime, dict]] = {}
    for tx_id, ts, phase, value in rows:
        if tx_id is None or value is None:
            continue
        known = newest.get(tx_id)
        if known is None or known[0] != ts:  # a newer sample replaces the older one
            known = newest[tx_id] = (ts, {})
        known[1][phase] = max(0.0, value)
    out = {}
    for tx_id, (ts, values) in newest.items():
        per_phase = [0.0, 0.0, 0.0]
        phased = False
        for phase, value in values.items():
            if phase in PHASE_INDEX:
                per_phase[PHASE_INDEX[phase]] = value
                phased = True
        out[tx_id] = (tuple(per_phase) if phased else (max(values.values()),), ts)
    return out


def _first_limit(profile: dict) -> float | None:
    try:
        return float(profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
