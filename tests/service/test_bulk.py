"""Set-based inserts: the same rows, values and order on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from cms.bulk import BulkInsert
from cms.handlers.transactions import _INSERT_METER_ROWS
from cms.models import MeterValue

COLUMNS = _INSERT_METER_ROWS.columns  # what the MeterValues handler writes


def test_rows_arrive_whole_and_in_order(rt, add_charger):
    cp = add_charger("BULK")
    at = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))  # stored as 10:00 UTC
    rows = [
        {
            "charge_point_id": cp.id,
            "connector_id": n % 2,
            "transaction_id": None if n == 1 else 7,
            "timestamp": at + timedelta(seconds=n),
            "received_at": at,
            "raw_value": f"{n}.5",
            "value": None if n == 2 else n + 0.5,
            "measurand": "Energy.Active.Import.Register",
            "phase": "L1" if n else None,
            "unit": "Wh",
            "context": "Sample.Periodic",
            "location": "Outlet",
            "format": "Raw",
        }
        for n in range(4)
    ]
    insert_rows = BulkInsert(MeterValue.__table__, COLUMNS)
    with rt.db.uow() as uow:
        insert_rows(uow.session.connection(), rows)
        insert_rows(uow.session.connection(), [])  # nothing to do, no error
        uow.commit()
    with rt.db.uow() as uow:
        stored = uow.session.scalars(select(MeterValue).order_by(MeterValue.id)).all()
        assert [(m.connector_id, m.transaction_id, m.raw_value, m.value, m.phase) for m in stored] == [
            (0, 7, "0.5", 0.5, None),
            (1, None, "1.5", 1.5, "L1"),
            (0, 7, "2.5", None, "L1"),
            (1, 7, "3.5", 3.5, "L1"),
        ]
        assert stored[3].timestamp == datetime(2026, 3, 1, 10, 0, 3, tzinfo=UTC)
        assert stored[0].received_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
