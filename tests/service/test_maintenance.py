import time
from datetime import timedelta

from sqlalchemy import select

from cms.maintenance import Maintenance
from cms.models import ChargePoint, Reservation, utcnow


def test_upkeep_expires_reservations_and_offlines_silent_chargers(rt, add_charger):
    quiet = add_charger("QUIET")
    lively = add_charger("LIVELY")
    with rt.db.uow() as uow:
        s = uow.session
        for cp, seen in ((quiet, utcnow() - timedelta(hours=2)), (lively, utcnow())):
            row = s.get(ChargePoint, cp.id)
            row.connected, row.last_seen_at = True, seen
        s.add(
            Reservation(
                id=1,
                charge_point_id=quiet.id,
                connector_id=1,
                id_tag="T",
                status="Accepted",
                expiry_date=utcnow() - timedelta(minutes=1),
            )
        )
        s.add(
            Reservation(
                id=2,
                charge_point_id=quiet.id,
                connector_id=2,
                id_tag="T",
                status="Accepted",
                expiry_date=utcnow() + timedelta(minutes=10),
            )
        )
        uow.commit()
    assert Maintenance(rt.db, 300, 60).run_once() == {
        "reservations_expired": 1,
        "chargers_offline": 1,
        "energy_days": 0,
    }
    with rt.db.uow() as uow:
        s = uow.session
        assert {c.identity: c.connected for c in s.scalars(select(ChargePoint))} == {"QUIET": False, "LIVELY": True}
        assert [r.status for r in s.scalars(select(Reservation).order_by(Reservation.id))] == ["Expired", "Accepted"]


def test_full_collections_run_from_upkeep_rounds(rt):
    import gc

    from cms.maintenance import schedule_full_collections

    saved = gc.get_threshold()
    try:
        schedule_full_collections()
        assert gc.get_threshold()[:2] == saved[:2] and gc.get_threshold()[2] > 10**8  # never on its own
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
    upkeep = Maintenance(rt.db, 300, 60, gc_full_interval=0.05)
    assert "garbage_collected" not in upkeep.run_once()  # not yet due
    time.sleep(0.06)
    assert "garbage_collected" in upkeep.run_once()
    assert "garbage_collected" not in upkeep.run_once()
    assert "garbage_collected" not in Maintenance(rt.db, 300, 60).run_once()  # off by default
