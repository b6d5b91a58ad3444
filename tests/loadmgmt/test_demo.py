"""`cms demo` seeds its chargers on one station whose limit is below their total, each with its own card."""

from __future__ import annotations

from sqlalchemy import select


def test_the_demo_station_is_load_managed(rt):
    from cms.cli import DEMO_LIMIT_A, seed_demo
    from cms.models import ChargePoint, IdTag, StationLoadLimit

    ids = seed_demo(rt.db, 3)
    assert seed_demo(rt.db, 3) == ids == ["DEMO-1", "DEMO-2", "DEMO-3"]  # a second run adds nothing
    with rt.db.uow() as uow:
        s = uow.session
        stations = set(s.scalars(select(ChargePoint.station_id).where(ChargePoint.identity.in_(ids))))
        assert len(stations) == 1
        limit = s.get(StationLoadLimit, stations.pop())
        assert limit.enabled and limit.max_current_a == DEMO_LIMIT_A < 3 * 32
        tags = set(s.scalars(select(IdTag.tag)))
        assert {"TAG-DEMO-1", "TAG-DEMO-2", "TAG-DEMO-3"} <= tags
