"""The read side: what the dashboard shows, as plain values (dicts, lists), always scoped to one owner.

Every function takes the viewing ``owner`` (a :class:`User`); an administrator sees everything. A thing that
exists but belongs to someone else is reported as :class:`NotFound`, exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ocpp.v16.enums import ChargePointStatus
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from . import visibility
from .chargepoints import owned_charge_point
from .errors import InvalidInput, NotFound
from .metering import ENERGY_REGISTER, POWER_IMPORT
from .models import (
    ApiToken,
    ChargePoint,
    ChargerConfigurationKey,
    Connector,
    IdTag,
    MessageLogEntry,
    MeterValue,
    Reservation,
    Station,
    Transaction,
    User,
    utcnow,
)
from .visibility import visible

# A SOAP charger has no connection to watch: it is online while its heartbeats keep coming.
SOAP_GRACE = timedelta(seconds=60)
PERIODS = ("day", "week", "month")
GROUPS = ("station", "charger")


def soap_online_window(heartbeat_interval: int) -> timedelta:
    """How long a SOAP charger counts as online after it was last heard: two heartbeats and a grace."""
    return timedelta(seconds=2 * heartbeat_interval) + SOAP_GRACE


def is_online(cp: ChargePoint, now: datetime, default_heartbeat: int) -> bool:
    if cp.transport == "soap":
        interval = soap_online_window(cp.heartbeat_interval or default_heartbeat)
        return cp.last_seen_at is not None and now - cp.last_seen_at < interval
    return bool(cp.connected)


def online_charger_counts(session: Session, now: datetime, default_heartbeat: int) -> dict[tuple[str, str], int]:
    """Registered chargers online now, by (transport, OCPP version), across every process and node: JSON
    chargers holding a WebSocket, SOAP chargers heard within :func:`soap_online_window` (as :func:`is_online`).
    Two small queries (the SOAP heartbeat intervals in use, then the counts), whatever the number of chargers."""
    interval = func.coalesce(ChargePoint.heartbeat_interval, default_heartbeat)
    soap = and_(ChargePoint.registered.is_(True), ChargePoint.transport == "soap")
    intervals = session.scalars(select(interval).where(soap).distinct()).all()
    online = and_(ChargePoint.transport == "json", ChargePoint.connected.is_(True))
    if intervals:
        heard = or_(
            *(
                and_(interval == seconds, ChargePoint.last_seen_at > now - soap_online_window(seconds))
                for seconds in intervals
            )
        )
        online = or_(online, and_(ChargePoint.transport == "soap", heard))
    rows = session.execute(
        select(ChargePoint.transport, ChargePoint.ocpp_version, func.count())
        .where(ChargePoint.registered.is_(True), online)
        .group_by(ChargePoint.transport, ChargePoint.ocpp_version)
    ).all()
    return {(transport, version): n for transport, version, n in rows}


# ----------------------------------------------------------------------------------------------------------
# Stations and charge points
# ----------------------------------------------------------------------------------------------------------


def stations(session: Session, owner: User) -> list[dict]:
    """The owner's stations with the number of charge points of each."""
    counts = (
        select(ChargePoint.station_id, func.count().label("n"))
        .where(ChargePoint.registered.is_(True))
        .group_by(ChargePoint.station_id)
        .subquery()
    )
    rows = session.execute(
        select(Station, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.station_id == Station.id)
        .where(visible(owner, Station.owner_id))
        .order_by(Station.name)
    ).all()
    return [_station(s) | {"charger_count": n} for s, n in rows]


def _station(s: Station) -> dict:
    return {
        "id": s.id,
        "name": s.name,
        "address": s.address,
        "latitude": s.latitude,
        "longitude": s.longitude,
        "timezone": s.timezone,
    }


def station(session: Session, owner: User, station_id: int) -> dict:
    return _station(visibility.station(session, owner, station_id))


def charge_points(
    session: Session, owner: User, *, default_heartbeat: int, station_id: int | None = None, now: datetime | None = None
) -> list[dict]:
    """The owner's charge points with status summary: online, connectors, what is charging now."""
    now = now or utcnow()
    q = (
        select(ChargePoint, Station.name)
        .outerjoin(Station, Station.id == ChargePoint.station_id)
        .where(visible(owner, ChargePoint.owner_id), ChargePoint.registered.is_(True))
        .order_by(Station.name, ChargePoint.identity)
    )
    if station_id is not None:
        q = q.where(ChargePoint.station_id == station_id)
    rows = session.execute(q).all()
    ids = [cp.id for cp, _ in rows]
    connectors: dict[int, list[dict]] = {}
    active: dict[int, int] = {}
    if ids:
        for c in session.scalars(
            select(Connector)
            .where(Connector.charge_point_id.in_(ids), Connector.connector_id > 0)
            .order_by(Connector.charge_point_id, Connector.connector_id)
        ):
            connectors.setdefault(c.charge_point_id, []).append(
                {"connector_id": c.connector_id, "status": c.status, "error_code": c.error_code}
            )
        for cp_id, n in session.execute(
            select(Transaction.charge_point_id, func.count())
            .where(Transaction.charge_point_id.in_(ids), Transaction.stop_timestamp.is_(None))
            .group_by(Transaction.charge_point_id)
        ):
            active[cp_id] = n
    return [
        {
            "identity": cp.identity,
            "station": name,
            "station_id": cp.station_id,
            "online": is_online(cp, now, default_heartbeat),
            "transport": cp.transport,
            "ocpp_version": cp.ocpp_version,
            "vendor": cp.vendor,
            "model": cp.model,
            "last_seen_at": cp.last_seen_at,
            "last_heartbeat_at": cp.last_heartbeat_at,
            "registration_status": cp.registration_status,
            "connectors": connectors.get(cp.id, []),
            "active_transactions": active.get(cp.id, 0),
            "has_password": bool(cp.password_hash),
        }
        for cp, name in rows
    ]


def visible_charge_points(session: Session, user: User) -> list[ChargePoint]:
    """The registered charge points ``user`` may see, by identity."""
    return list(
        session.scalars(
            select(ChargePoint)
            .where(ChargePoint.registered.is_(True), visible(user, ChargePoint.owner_id))
            .order_by(ChargePoint.identity)
        )
    )


def configuration(session: Session, charge_point_id: int) -> list[ChargerConfigurationKey]:
    """The configuration keys a charge point reported (GetConfiguration), by key."""
    return list(
        session.scalars(
            select(ChargerConfigurationKey)
            .where(ChargerConfigurationKey.charge_point_id == charge_point_id)
            .order_by(ChargerConfigurationKey.key)
        )
    )


def charge_point(
    session: Session, owner: User, identity: str, *, default_heartbeat: int, now: datetime | None = None
) -> dict:
    """Everything the charger page shows about one charge point (status, boot details, connectors)."""
    now = now or utcnow()
    cp = owned_charge_point(session, owner, identity)
    station_name = session.scalar(select(Station.name).where(Station.id == cp.station_id)) if cp.station_id else None
    return {
        "identity": cp.identity,
        "station_id": cp.station_id,
        "station": station_name,
        "online": is_online(cp, now, default_heartbeat),
        "transport": cp.transport,
        "ocpp_version": cp.ocpp_version,
        "registration_status": cp.registration_status,
        "endpoint_url": cp.endpoint_url,
        "last_heartbeat_at": cp.last_heartbeat_at,
        "last_seen_at": cp.last_seen_at,
        "last_boot_at": cp.last_boot_at,
        "connected_at": cp.connected_at,
        "disconnected_at": cp.disconnected_at,
        "heartbeat_interval": cp.heartbeat_interval or default_heartbeat,
        "has_password": bool(cp.password_hash),
        "boot": {
            "vendor": cp.vendor,
            "model": cp.model,
            "serial_number": cp.serial_number,
            "charge_box_serial_number": cp.charge_box_serial_number,
            "firmware_version": cp.firmware_version,
            "iccid": cp.iccid,
            "imsi": cp.imsi,
            "meter_type": cp.meter_type,
            "meter_serial_number": cp.meter_serial_number,
        },
        "firmware_status": cp.firmware_status,
        "firmware_status_at": cp.firmware_status_at,
        "diagnostics_status": cp.diagnostics_status,
        "diagnostics_status_at": cp.diagnostics_status_at,
        "local_list_version": cp.local_list_version,
        "connectors": connectors(session, owner, identity, _cp=cp),
    }


def connectors(session: Session, owner: User, identity: str, *, _cp: ChargePoint | None = None) -> list[dict]:
    """Each connector's status, with the transaction running on it (energy so far, power)."""
    cp = _cp or owned_charge_point(session, owner, identity)
    running = {
        t.connector_id: t
        for t in session.scalars(
            select(Transaction).where(Transaction.charge_point_id == cp.id, Transaction.stop_timestamp.is_(None))
        )
    }
    out = []
    for c in session.scalars(
        select(Connector).where(Connector.charge_point_id == cp.id).order_by(Connector.connector_id)
    ):
        tx = running.get(c.connector_id)
        out.append(
            {
                "connector_id": c.connector_id,
                "status": c.status,
                "error_code": c.error_code,
                "info": c.info,
                "vendor_error_code": c.vendor_error_code,
                "updated_at": c.updated_at or c.status_timestamp,
                "transaction": None
                if tx is None
                else {
                    "id": tx.id,
                    "id_tag": tx.id_tag,
                    "start": tx.start_timestamp,
                    "energy_wh": tx.energy_wh,
                    "power_w": tx.last_power_w,
                },
            }
        )
    return out


def message_log(
    session: Session, owner: User, identity: str, *, limit: int = 200, before_id: int | None = None
) -> list[dict]:
    """The newest raw OCPP messages of a charger, newest first."""
    cp = owned_charge_point(session, owner, identity)
    q = (
        select(MessageLogEntry)
        .where(MessageLogEntry.charge_point_id == cp.id)
        .order_by(MessageLogEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        q = q.where(MessageLogEntry.id < before_id)
    return [
        {
            "id": m.id,
            "direction": m.direction,
            "action": m.action,
            "unique_id": m.unique_id,
            "payload": m.payload,
            "created_at": m.created_at,
        }
        for m in session.scalars(q)
    ]


# ----------------------------------------------------------------------------------------------------------
# Transactions
# ----------------------------------------------------------------------------------------------------------


@dataclass
class TransactionFilter:
    """The filters of the transactions list and of consumption; all optional."""

    station_id: int | None = None
    identity: str | None = None
    id_tag: str | None = None
    date_from: date | None = None  # inclusive, UTC
    date_to: date | None = None  # inclusive, UTC

    @classmethod
    def from_args(cls, args) -> TransactionFilter:
        """Parse query-string values (a mapping of strings); blank means no filter."""

        def text_arg(name):
            value = (args.get(name) or "").strip()
            return value or None

        def date_arg(name):
            value = text_arg(name)
            if value is None:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise InvalidInput(f"{name.replace('_', ' ')} must be a date like 2024-05-31") from None

        station = text_arg("station_id")
        try:
            station_id = int(station) if station else None
        except ValueError:
            raise InvalidInput("station must be a number") from None
        f = cls(
            station_id=station_id,
            identity=text_arg("charger"),
            id_tag=text_arg("id_tag"),
            date_from=date_arg("date_from"),
            date_to=date_arg("date_to"),
        )
        if f.date_from and f.date_to and f.date_from > f.date_to:
            raise InvalidInput("The date range ends before it starts")
        return f

    def as_args(self) -> dict:
        return {
            k: v
            for k, v in {
                "station_id": self.station_id,
                "charger": self.identity,
                "id_tag": self.id_tag,
                "date_from": self.date_from and self.date_from.isoformat(),
                "date_to": self.date_to and self.date_to.isoformat(),
            }.items()
            if v
        }


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _transaction_query(owner: User, f: TransactionFilter):
    energy_end = func.coalesce(Transaction.meter_stop, Transaction.last_meter_wh)
    q = (
        select(
            Transaction.id,
            Transaction.connector_id,
            Transaction.id_tag,
            Transaction.start_timestamp,
            Transaction.stop_timestamp,
            Transaction.meter_start,
            energy_end.label("meter_end"),
            Transaction.stop_reason,
            Transaction.cost,
            ChargePoint.identity,
            Station.name.label("station"),
        )
        .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
        .outerjoin(Station, Station.id == ChargePoint.station_id)
        .where(visible(owner, ChargePoint.owner_id))
    )
    if f.station_id is not None:
        q = q.where(ChargePoint.station_id == f.station_id)
    if f.identity:
        q = q.where(ChargePoint.identity == f.identity)
    if f.id_tag:
        q = q.where(Transaction.id_tag == f.id_tag)
    if f.date_from:
        q = q.where(Transaction.start_timestamp >= _day_start(f.date_from))
    if f.date_to:
        q = q.where(Transaction.start_timestamp < _day_start(f.date_to) + timedelta(days=1))
    return q.order_by(Transaction.start_timestamp.desc(), Transaction.id.desc())


def _transaction_row(r) -> dict:
    energy = None if r.meter_end is None else max(0.0, float(r.meter_end) - float(r.meter_start))
    return {
        "id": r.id,
        "identity": r.identity,
        "station": r.station,
        "connector_id": r.connector_id,
        "id_tag": r.id_tag,
        "start": r.start_timestamp,
        "stop": r.stop_timestamp,
        "energy_wh": energy,
        "stop_reason": r.stop_reason,
        "cost": r.cost,
        "active": r.stop_timestamp is None,
    }


def transactions(session: Session, owner: User, f: TransactionFilter, *, page: int = 1, per_page: int = 50) -> dict:
    """One page of the owner's transactions, newest first; ``has_next`` instead of a costly total count."""
    page = max(1, page)
    rows = session.execute(_transaction_query(owner, f).offset((page - 1) * per_page).limit(per_page + 1)).all()
    return {
        "rows": [_transaction_row(r) for r in rows[:per_page]],
        "page": page,
        "per_page": per_page,
        "has_next": len(rows) > per_page,
        "has_prev": page > 1,
    }


def iter_transactions(session: Session, owner: User, f: TransactionFilter, batch: int = 1000):
    """Every matching transaction (for CSV export), streamed in batches."""
    result = session.execute(_transaction_query(owner, f).execution_options(yield_per=batch))
    for r in result:
        yield _transaction_row(r)


def transaction(session: Session, owner: User, tx_id: int) -> dict:
    """One transaction with its energy (Wh) and power (W) series, from the meter values."""
    row = session.execute(_transaction_query(owner, TransactionFilter()).where(Transaction.id == tx_id)).first()
    if row is None:
        raise NotFound("No such transaction")
    tx = session.get_one(Transaction, tx_id)
    out = _transaction_row(row) | {
        "meter_start": tx.meter_start,
        "meter_stop": tx.meter_stop,
        "stop_id_tag": tx.stop_id_tag,
        "reservation_id": tx.reservation_id,
        "last_power_w": tx.last_power_w,
    }
    out["series"] = meter_series(session, tx)
    return out


def meter_series(session: Session, tx: Transaction) -> dict:
    """Energy delivered so far (Wh from the start register) and total import power (W) over time."""
    samples = session.execute(
        select(MeterValue.timestamp, MeterValue.measurand, MeterValue.phase, MeterValue.value, MeterValue.location)
        .where(
            MeterValue.transaction_id == tx.id,
            MeterValue.value.is_not(None),
            MeterValue.measurand.in_((ENERGY_REGISTER, POWER_IMPORT)),
            or_(MeterValue.unit == "Wh", MeterValue.unit == "W"),
        )
        .order_by(MeterValue.timestamp, MeterValue.id)
    ).all()
    energy: dict[datetime, float] = {tx.start_timestamp: 0.0}
    power_total: dict[datetime, float] = {}
    power_phases: dict[datetime, float] = {}
    for ts, measurand, phase, value, location in samples:
        if value is None or location not in ("Outlet", "Cable", "EV"):  # (no None: the query leaves them out)
            continue
        if measurand == ENERGY_REGISTER and phase in (None, "N"):
            energy[ts] = max(0.0, value - tx.meter_start)
        elif measurand == POWER_IMPORT:
            if phase in (None, "N"):
                power_total[ts] = value
            else:  # per-phase power adds up, unless a total is reported at the same time
                power_phases[ts] = power_phases.get(ts, 0.0) + value
    if tx.meter_stop is not None and tx.stop_timestamp is not None:
        energy[tx.stop_timestamp] = max(0.0, tx.meter_stop - tx.meter_start)
    power = {**power_phases, **power_total}
    return {
        "energy": [[_js_time(t), round(v, 1)] for t, v in sorted(energy.items())],
        "power": [[_js_time(t), round(v, 1)] for t, v in sorted(power.items())],
    }


def _js_time(t: datetime) -> int:
    """Milliseconds since the epoch, what the chart library takes."""
    return int(t.timestamp() * 1000)


# ----------------------------------------------------------------------------------------------------------
# Consumption: a daily rollup of the energy register, refreshed incrementally, aggregated in SQL
# ----------------------------------------------------------------------------------------------------------

_NO_STATION, _OTHERS = 0, -1  # group keys of chargers without a station, and of the summed rest


def consumption(
    session: Session,
    owner: User,
    f: TransactionFilter,
    *,
    period: str = "day",
    group: str = "station",
    today: date | None = None,
    max_series: int = 12,
) -> dict:
    """Energy (kWh) per ``period`` (day/week/month, UTC) and per station or charger, from the daily rollup.

    A connector's energy on a day is its highest register minus the previous day's highest (its first day: minus
    that day's lowest), so nothing between two readings is lost; meter resets count as zero, never negative.
    """
    if period not in PERIODS:
        raise InvalidInput(f"period is one of {', '.join(PERIODS)}")
    if group not in GROUPS:
        raise InvalidInput(f"group is one of {', '.join(GROUPS)}")
    today = today or utcnow().date()
    end = f.date_to or today
    start = f.date_from or (end - timedelta(days={"day": 30, "week": 7 * 12, "month": 365}[period]))
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        bucket = {
            "day": "d.day",
            "week": "CAST(date_trunc('week', d.day) AS DATE)",
            "month": "CAST(date_trunc('month', d.day) AS DATE)",
        }[period]
    else:
        bucket = {
            "day": "d.day",
            "week": "date(d.day, '-' || ((CAST(strftime('%w', d.day) AS INTEGER) + 6) % 7) || ' days')",
            "month": "strftime('%Y-%m-01', d.day)",
        }[period]
    key = f"COALESCE(cp.station_id, {_NO_STATION})" if group == "station" else "cp.id"
    where = ["cp.registered = :true"]
    params: dict = {"true": True, "start": start, "end": end}
    if not visibility.sees_everything(owner):
        where.append("cp.owner_id = :owner")
        params["owner"] = owner.id
    if f.station_id is not None:
        where.append("cp.station_id = :station")
        params["station"] = f.station_id
    if f.identity:
        where.append("cp.identity = :identity")
        params["identity"] = f.identity
    source = f"""FROM energy_daily d JOIN charge_points cp ON cp.id = d.charge_point_id
        WHERE {" AND ".join(where)} AND d.day >= :start AND d.day <= :end"""
    names = _group_names(session, owner, group)
    names[_NO_STATION] = "(no station)"
    totals = [
        {"key": k, "name": names.get(k, str(k)), "total_kwh": round((wh or 0.0) / 1000.0, 3)}
        for k, wh in session.execute(text(f"SELECT {key} AS k, SUM(d.wh) {source} GROUP BY {key}"), params)
    ]
    totals.sort(key=lambda t: t["name"])
    # A chart of 200 stacked series says nothing: the largest ones, and the rest summed (in SQL) as one.
    # The totals table keeps every station or charger.
    series_key = key
    if len(totals) > max_series:
        top = [t["key"] for t in sorted(totals, key=lambda t: -t["total_kwh"])[: max_series - 1]]
        series_key = f"CASE WHEN {key} IN ({', '.join(str(int(k)) for k in top)}) THEN {key} ELSE {_OTHERS} END"
        names[_OTHERS] = f"{len(totals) - len(top)} others"
    rows = session.execute(
        text(f"SELECT {bucket} AS bucket, {series_key} AS k, SUM(d.wh) AS wh {source} GROUP BY {bucket}, {series_key}"),
        params,
    ).all()
    buckets = _buckets(start, end, period)
    index = {b: i for i, b in enumerate(buckets)}
    series: dict[object, list[float]] = {}
    for b, k, wh in rows:
        i = index.get(str(b)[:10])
        if i is not None:
            series.setdefault(k, [0.0] * len(buckets))[i] += (wh or 0.0) / 1000.0
    out = [
        {
            "key": k,
            "name": names.get(k, str(k)),
            "kwh": [round(v, 3) for v in values],
            "total_kwh": round(sum(values), 3),
        }
        for k, values in series.items()
    ]
    out.sort(key=lambda s: (s["key"] == _OTHERS, s["name"]))
    return {
        "period": period,
        "group": group,
        "start": start,
        "end": end,
        "buckets": buckets,
        "series": out,
        "totals": totals,
        "total_kwh": round(sum(s["total_kwh"] for s in totals), 3),
    }


def _group_names(session: Session, owner: User, group: str) -> dict:
    if group == "station":
        return dict(session.execute(select(Station.id, Station.name).where(visible(owner, Station.owner_id))).all())
    return dict(
        session.execute(select(ChargePoint.id, ChargePoint.identity).where(visible(owner, ChargePoint.owner_id))).all()
    )


def _buckets(start: date, end: date, period: str) -> list[str]:
    """Every period label from ``start`` to ``end``, so that empty days still show as zero."""
    if period == "day":
        first, step = start, None
    elif period == "week":
        first, step = start - timedelta(days=start.weekday()), None
    else:
        first, step = start.replace(day=1), "month"
    out, d = [], first
    while d <= end:
        out.append(d.isoformat())
        if step == "month":
            d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            d += timedelta(days=1 if period == "day" else 7)
    return out


# ----------------------------------------------------------------------------------------------------------
# Id tags, reservations, tokens, overview
# ----------------------------------------------------------------------------------------------------------


def id_tags(session: Session, owner: User, now: datetime | None = None) -> list[dict]:
    """The owner's id tags with their parent and an effective status (Accepted / Blocked / Expired)."""
    now = now or utcnow()
    parent = IdTag.__table__.alias("parent")
    rows = session.execute(
        select(IdTag, parent.c.tag)
        .outerjoin(parent, parent.c.id == IdTag.parent_id)
        .where(visible(owner, IdTag.owner_id))
        .order_by(IdTag.tag)
    ).all()
    out = []
    for t, parent_tag in rows:
        status = "Blocked" if t.blocked else ("Expired" if t.expiry_date and t.expiry_date <= now else "Accepted")
        out.append(
            {
                "id": t.id,
                "tag": t.tag,
                "parent": parent_tag,
                "expiry_date": t.expiry_date,
                "blocked": t.blocked,
                "note": t.note,
                "status": status,
            }
        )
    return out


def id_tag(session: Session, owner: User, tag_id: int) -> dict:
    for t in id_tags(session, owner):
        if t["id"] == tag_id:
            return t
    raise NotFound("No such id tag")


def reservations(session: Session, owner: User, *, limit: int = 200) -> list[dict]:
    """Reservations on the owner's charge points, newest first."""
    rows = session.execute(
        select(Reservation, ChargePoint.identity)
        .join(ChargePoint, ChargePoint.id == Reservation.charge_point_id)
        .where(visible(owner, ChargePoint.owner_id))
        .order_by(Reservation.created_at.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "identity": identity,
            "connector_id": r.connector_id,
            "id_tag": r.id_tag,
            "expiry_date": r.expiry_date,
            "status": r.status,
            "transaction_id": r.transaction_id,
            "created_at": r.created_at,
        }
        for r, identity in rows
    ]


def api_tokens(session: Session, owner: User) -> list[dict]:
    """The owner's own access tokens (never their values, which are not stored)."""
    rows = session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == owner.id, ApiToken.kind == "access")
        .order_by(ApiToken.created_at.desc())
    )
    return [
        {"id": t.id, "name": t.name, "created_at": t.created_at, "expires_at": t.expires_at, "revoked_at": t.revoked_at}
        for t in rows
    ]


def overview(session: Session, owner: User, *, default_heartbeat: int, now: datetime | None = None) -> dict:
    """The dashboard's front page: counts and what is charging now."""
    now = now or utcnow()
    cps = charge_points(session, owner, default_heartbeat=default_heartbeat, now=now)
    active = session.execute(
        _transaction_query(owner, TransactionFilter()).where(Transaction.stop_timestamp.is_(None)).limit(20)
    ).all()
    month_start = now.date().replace(day=1)
    month = consumption(
        session, owner, TransactionFilter(date_from=month_start, date_to=now.date()), period="month", today=now.date()
    )
    return {
        "stations": session.scalar(select(func.count()).select_from(Station).where(visible(owner, Station.owner_id))),
        "chargers": len(cps),
        "online": sum(1 for c in cps if c["online"]),
        "charging": sum(c["active_transactions"] for c in cps),
        "faulted": sum(1 for c in cps for k in c["connectors"] if k["status"] == ChargePointStatus.faulted),
        "active_transactions": [_transaction_row(r) for r in active],
        "energy_month_kwh": round(month["total_kwh"], 1),
        "charge_points": cps,
    }


def owner_scope(session: Session, owner: User) -> dict:
    """The choices of the filter forms: the owner's stations and charger identities."""
    return {
        "stations": session.execute(
            select(Station.id, Station.name).where(visible(owner, Station.owner_id)).order_by(Station.name)
        ).all(),
        "chargers": list(
            session.scalars(
                select(ChargePoint.identity)
                .where(and_(visible(owner, ChargePoint.owner_id), ChargePoint.registered.is_(True)))
                .order_by(ChargePoint.identity)
            )
        ),
    }
