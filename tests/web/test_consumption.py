"""The consumption rollup: per connector, incremental, idempotent, and never negative."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cms import energy_rollup, queries
from cms.accounts import user_by_email

from .conftest import at, energy


def kwh(rt, period="day", group="charger", start=date(2024, 3, 1), end=date(2024, 3, 3)):
    with rt.db.uow() as uow:
        energy_rollup.refresh(uow.session)
        uow.commit()
    with rt.db.uow() as uow:
        me = user_by_email(uow.session, "owner@example.com")
        data = queries.consumption(
            uow.session, me, queries.TransactionFilter(date_from=start, date_to=end), period=period, group=group
        )
    return {s["name"]: s["kwh"] for s in data["series"]}


def test_connectors_with_their_own_meters_add_up(rt, owner, add_charger, add_tag, connect):
    add_charger("CP-2M")
    add_tag("T1", owner=owner)
    cp = connect("CP-2M")
    cp.boot()
    d = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    a = cp.start(1, "T1", meter_start=100_000, timestamp=at(d)).transaction_id
    b = cp.start(2, "T1", meter_start=5_000, timestamp=at(d)).transaction_id
    cp.meter(1, a, [energy(102_000)], timestamp=at(d + timedelta(hours=1)))
    cp.meter(2, b, [energy(8_000)], timestamp=at(d + timedelta(hours=1)))
    assert kwh(rt) == {"CP-2M": [5.0, 0.0, 0.0]}  # 2 kWh + 3 kWh, not 102000 - 5000
    # A stop that arrives after a refresh is still folded in; refreshing again changes nothing.
    cp.stop(a, 104_000, timestamp=at(d + timedelta(days=1)))
    assert kwh(rt) == {"CP-2M": [5.0, 2.0, 0.0]}
    assert kwh(rt) == {"CP-2M": [5.0, 2.0, 0.0]}


def test_a_meter_reset_counts_as_zero(rt, owner, add_charger, add_tag, connect):
    add_charger("CP-R")
    add_tag("T2", owner=owner)
    cp = connect("CP-R")
    cp.boot()
    d = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    tx = cp.start(1, "T2", meter_start=50_000, timestamp=at(d)).transaction_id
    cp.meter(1, tx, [energy(51_000)], timestamp=at(d + timedelta(hours=1)))
    cp.stop(tx, 52_000, timestamp=at(d + timedelta(hours=2)))
    # New meter on day 2: the register starts again near zero.
    tx = cp.start(1, "T2", meter_start=0, timestamp=at(d + timedelta(days=1))).transaction_id
    cp.stop(tx, 1_500, timestamp=at(d + timedelta(days=1, hours=1)))
    assert kwh(rt) == {"CP-R": [2.0, 0.0, 0.0]}


def test_consumption_per_station_includes_only_own_stations(rt, owner, add_charger, add_tag, connect):
    add_charger("CP-S1", station="North")
    add_charger("CP-S2", station="South")
    add_tag("T3", owner=owner)
    d = datetime(2024, 3, 2, 8, 0, tzinfo=UTC)
    for identity, wh in (("CP-S1", 1_000), ("CP-S2", 4_000)):
        cp = connect(identity)
        cp.boot()
        tx = cp.start(1, "T3", meter_start=0, timestamp=at(d)).transaction_id
        cp.stop(tx, wh, timestamp=at(d + timedelta(hours=1)))
    assert kwh(rt, group="station") == {"North": [0.0, 1.0, 0.0], "South": [0.0, 4.0, 0.0]}
    assert kwh(rt, period="month", group="station") == {"North": [1.0], "South": [4.0]}


def test_many_series_are_capped_but_totals_keep_all(rt, owner, add_charger, add_tag, connect):
    add_tag("T4", owner=owner)
    d = datetime(2024, 3, 2, 8, 0, tzinfo=UTC)
    for identity, wh in (("CP-C1", 1_000), ("CP-C2", 2_000), ("CP-C3", 4_000)):
        add_charger(identity, station=None)
        cp = connect(identity)
        cp.boot()
        tx = cp.start(1, "T4", meter_start=0, timestamp=at(d)).transaction_id
        cp.stop(tx, wh, timestamp=at(d + timedelta(hours=1)))
    kwh(rt)
    with rt.db.uow() as uow:
        me = user_by_email(uow.session, "owner@example.com")
        f = queries.TransactionFilter(date_from=date(2024, 3, 2), date_to=date(2024, 3, 2))
        data = queries.consumption(uow.session, me, f, group="charger", max_series=2)
        by_station = queries.consumption(uow.session, me, f, group="station")
    assert [(s["name"], s["kwh"]) for s in data["series"]] == [("CP-C3", [4.0]), ("2 others", [3.0])]
    assert [(t["name"], t["total_kwh"]) for t in data["totals"]] == [("CP-C1", 1.0), ("CP-C2", 2.0), ("CP-C3", 4.0)]
    assert data["total_kwh"] == 7.0
    assert [(s["name"], s["kwh"]) for s in by_station["series"]] == [("(no station)", [7.0])]


def test_the_page_writes_nothing_the_upkeep_round_rolls_up(rt, owner_browser, history):
    """Reading the consumption page never writes; the upkeep round (cms.maintenance) folds new readings in."""
    from sqlalchemy import func, select

    from cms.maintenance import Maintenance
    from cms.models import RollupWatermark

    def watermarks():
        with rt.db.uow() as uow:
            return uow.session.execute(select(RollupWatermark.name, RollupWatermark.last_id)).all()

    before = watermarks()
    cp = history["charger"]
    cp.meter(2, history["live_tx"], [energy(55_000)], timestamp=at(datetime.now(UTC)))
    assert owner_browser.get("/dashboard/consumption").status_code == 200
    assert watermarks() == before
    assert Maintenance(rt.db, 300, 60).run_once()["energy_days"] == 1
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(func.max(RollupWatermark.last_id))) > max(i for _, i in before)
