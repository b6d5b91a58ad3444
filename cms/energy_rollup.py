"""The daily energy rollup (``energy_daily``) the consumption page aggregates: the write side.

Folded in incrementally by the upkeep rounds (:class:`cms.maintenance.Maintenance`, every
``CMS_MAINTENANCE_INTERVAL`` seconds), never by a page view: the consumption figures are at most one round old.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from .metering import ENERGY_REGISTER
from .models import MeterValue, RollupWatermark, Transaction, utcnow
from .models.base import UTCDateTime

_ROLLUP = "energy_daily"
_ROLLUP_TX = "energy_daily_tx"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# Rows of meter_values committed out of id order (concurrent writers) are caught by re-reading this many ids
# before the watermark; min/max merging makes reading a row twice harmless.
_ROLLUP_OVERLAP = 20000
_ROLLUP_TX_OVERLAP = 1000
# Stops are found by receive time; this margin covers clocks of several processes and slow commits.
_ROLLUP_TIME_OVERLAP = timedelta(minutes=10)


def refresh(session: Session) -> int:
    """Fold what arrived since the last refresh into ``energy_daily``; returns the number of day rows touched.

    Readings come from meter values (energy register samples) and from transactions (meterStart when a session
    starts, meterStop when it stops). Cheap when called often: it reads only new rows. The caller commits.
    """
    dialect = session.get_bind().dialect.name
    now = utcnow()
    for name in (_ROLLUP, _ROLLUP_TX):
        session.execute(
            text(
                "INSERT INTO rollup_watermarks (name, last_id, updated_at) VALUES (:n, 0, :t) "
                "ON CONFLICT (name) DO NOTHING"
            ).bindparams(bindparam("t", type_=UTCDateTime())),
            {"n": name, "t": _EPOCH},
        )
    # One refresher at a time (FOR UPDATE on PostgreSQL; SQLite locks the whole file anyway).
    marks = {
        w.name: (w.last_id, w.updated_at)
        for w in session.scalars(
            select(RollupWatermark).where(RollupWatermark.name.in_((_ROLLUP, _ROLLUP_TX))).with_for_update()
        )
    }
    high = session.scalar(select(func.max(MeterValue.id))) or 0
    high_tx = session.scalar(select(func.max(Transaction.id))) or 0
    last_tx, tx_since = marks[_ROLLUP_TX]
    sources = []
    params: dict = {"m": ENERGY_REGISTER}
    if high > marks[_ROLLUP][0]:
        sources.append("""SELECT charge_point_id, connector_id, timestamp AS ts, value FROM meter_values
            WHERE id > :low AND id <= :high AND measurand = :m AND unit = 'Wh' AND value IS NOT NULL
              AND (phase IS NULL OR phase = 'N') AND location IN ('Outlet', 'Cable', 'EV')""")
        params.update(low=max(0, marks[_ROLLUP][0] - _ROLLUP_OVERLAP), high=high)
    sources.append("""SELECT charge_point_id, connector_id, start_timestamp AS ts, meter_start AS value
            FROM transactions WHERE id > :low_tx AND id <= :high_tx""")
    sources.append("""SELECT charge_point_id, connector_id, stop_timestamp AS ts, meter_stop AS value
            FROM transactions
            WHERE stop_received_at >= :tx_since AND meter_stop IS NOT NULL AND stop_timestamp IS NOT NULL""")
    params.update(
        low_tx=max(0, last_tx - _ROLLUP_TX_OVERLAP),
        high_tx=high_tx,
        tx_since=(tx_since or _EPOCH) - _ROLLUP_TIME_OVERLAP,
    )
    if dialect == "postgresql":
        day, least, greatest = "CAST(ts AS DATE)", "LEAST", "GREATEST"
    else:
        day, least, greatest = "date(ts)", "min", "max"
    statement = text(f"""
        INSERT INTO energy_daily (charge_point_id, connector_id, day, min_wh, max_wh, wh)
        SELECT charge_point_id, connector_id, {day}, min(value), max(value), 0
        FROM ({" UNION ALL ".join(sources)}) readings
        WHERE value IS NOT NULL AND connector_id > 0
        GROUP BY charge_point_id, connector_id, {day}
        ON CONFLICT (charge_point_id, connector_id, day) DO UPDATE SET
          min_wh = {least}(energy_daily.min_wh, excluded.min_wh),
          max_wh = {greatest}(energy_daily.max_wh, excluded.max_wh)
        WHERE excluded.min_wh < energy_daily.min_wh OR excluded.max_wh > energy_daily.max_wh
        RETURNING charge_point_id, connector_id, day
    """).bindparams(bindparam("tx_since", type_=UTCDateTime()))
    touched = session.execute(statement, params).all()
    # The energy of a touched day changes, and so does the next day's (it starts from this day's max).
    first_day: dict[tuple[int, int], object] = {}
    for cp_id, connector_id, d in touched:
        key = (cp_id, connector_id)
        if key not in first_day or d < first_day[key]:
            first_day[key] = d
    if first_day:
        session.execute(
            text(f"""
            UPDATE energy_daily SET wh = {greatest}(max_wh - COALESCE(
                (SELECT p.max_wh FROM energy_daily p
                 WHERE p.charge_point_id = energy_daily.charge_point_id AND p.connector_id = energy_daily.connector_id
                   AND p.day < energy_daily.day ORDER BY p.day DESC LIMIT 1), min_wh), 0)
            WHERE charge_point_id = :cp AND connector_id = :c AND day >= :d
        """),
            [{"cp": cp, "c": c, "d": d} for (cp, c), d in first_day.items()],
        )
    for name, value in ((_ROLLUP, max(high, marks[_ROLLUP][0])), (_ROLLUP_TX, max(high_tx, last_tx))):
        session.execute(
            update(RollupWatermark).where(RollupWatermark.name == name).values(last_id=value, updated_at=now)
        )
    return len(touched)
