"""The live register MeterValues keeps on a transaction: newest reading wins, others' and closed sessions untouched."""

from __future__ import annotations

from sqlalchemy import select

from cms.handlers import Charger
from cms.models import MeterValue, Transaction


def _sample(ts: str, wh: float | None = None, w: float | None = None) -> list[dict]:
    values = []
    if wh is not None:
        values.append({"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"})
    if w is not None:
        values.append({"value": str(w), "measurand": "Power.Active.Import", "unit": "W"})
    return [{"timestamp": ts, "sampledValue": values}]


def _live(rt, tx_id):
    with rt.db.uow() as uow:
        tx = uow.session.get(Transaction, tx_id)
        return tx.last_meter_wh, tx.last_power_w


def _session(rt, identity):
    svc, cp = rt.pipeline, Charger(identity)
    svc.handle(cp, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    tx = svc.handle(
        cp,
        "StartTransaction",
        {"connectorId": 1, "idTag": "LIVE", "meterStart": 1000, "timestamp": "2026-11-25T10:00:00Z"},
    )["transactionId"]
    return svc, cp, tx


def test_newer_readings_move_the_register_and_late_ones_do_not(rt, add_charger, add_tag):
    add_charger("LIVE1")
    add_tag("LIVE")
    svc, cp, tx = _session(rt, "LIVE1")
    mv = {"connectorId": 1, "transactionId": tx}
    svc.handle(cp, "MeterValues", {**mv, "meterValue": _sample("2026-11-25T10:10:00Z", wh=2500, w=7000)})
    assert _live(rt, tx) == (2500.0, 7000.0)
    # Late and lower: kept as a sample, but the register does not go back; the power reported still shows.
    svc.handle(cp, "MeterValues", {**mv, "meterValue": _sample("2026-11-25T10:05:00Z", wh=1800, w=6500)})
    assert _live(rt, tx) == (2500.0, 6500.0)
    svc.handle(cp, "MeterValues", {**mv, "meterValue": _sample("2026-11-25T10:20:00Z", w=3000)})  # power only
    assert _live(rt, tx) == (2500.0, 3000.0)
    svc.handle(cp, "MeterValues", {**mv, "meterValue": _sample("2026-11-25T10:30:00Z", wh=4000.5)})
    assert _live(rt, tx) == (4000.5, 3000.0)
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(MeterValue.id).where(MeterValue.value == 1800.0)) is not None


def test_another_chargers_or_a_closed_transaction_is_left_alone(rt, add_charger, add_tag):
    add_charger("LIVE2")
    add_charger("LIVE3")
    add_tag("LIVE")
    svc, cp, tx = _session(rt, "LIVE2")
    other = Charger("LIVE3")
    svc.handle(other, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    svc.handle(
        other,
        "MeterValues",
        {"connectorId": 1, "transactionId": tx, "meterValue": _sample("2026-11-25T10:10:00Z", wh=9999, w=1)},
    )
    assert _live(rt, tx) == (1000.0, None)
    svc.handle(cp, "StopTransaction", {"transactionId": tx, "meterStop": 2000, "timestamp": "2026-11-25T11:00:00Z"})
    svc.handle(
        cp,
        "MeterValues",
        {"connectorId": 1, "transactionId": tx, "meterValue": _sample("2026-11-25T11:10:00Z", wh=3000, w=5)},
    )
    assert _live(rt, tx) == (2000.0, 0.0)
    with rt.db.uow() as uow:  # every sample is kept, whoever sent it
        assert len(uow.session.scalars(select(MeterValue).where(MeterValue.transaction_id == tx)).all()) == 4
