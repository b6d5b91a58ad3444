"""Billing inside StopTransaction: every session gets one charge; free sessions debit nothing; retries bill once."""

from __future__ import annotations

from sqlalchemy import func, select

from cms.handlers import Charger
from cms.models import LedgerEntry, SessionCharge, Transaction


def test_a_free_session_is_charged_zero_once(rt, add_charger, add_tag):
    add_charger("FREE1")  # its station has no tariff bands
    add_tag("FREETAG")
    svc, cp = rt.pipeline, Charger("FREE1")
    svc.handle(cp, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    tx = svc.handle(
        cp,
        "StartTransaction",
        {"connectorId": 1, "idTag": "FREETAG", "meterStart": 100, "timestamp": "2026-11-25T08:00:00Z"},
    )["transactionId"]
    stop = {"transactionId": tx, "idTag": "FREETAG", "meterStop": 7600, "timestamp": "2026-11-25T09:00:00Z"}
    assert svc.handle(cp, "StopTransaction", stop) == {"idTagInfo": {"status": "Accepted"}}
    assert svc.handle(cp, "StopTransaction", stop) == {"idTagInfo": {"status": "Accepted"}}  # a retry
    with rt.db.uow() as uow:
        s = uow.session
        charges = s.scalars(select(SessionCharge).where(SessionCharge.transaction_id == tx)).all()
        assert [(c.energy_wh, c.total_minor, c.currency) for c in charges] == [(7500.0, 0, "EUR")]
        t = s.get(Transaction, tx)
        assert (t.cost, t.meter_stop, t.stop_reason) == (0.0, 7600, "Local")
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 0
