"""Site load management with real OCPP-J chargers (the ``ocpp`` package's ChargePoint) on one station: the exact
SetChargingProfile frames, limits that follow starts and stops, a charger that refuses profiles."""

from __future__ import annotations

import time
from datetime import timedelta

from ocpp.exceptions import NotSupportedError

TX_DEFAULT_ID = 7_000_000


def tx_default(limit: float, phases: int = 3) -> dict:
    return {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": TX_DEFAULT_ID,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, "numberPhases": phases}],
            },
        },
    }


def tx_profile(connector: int, tx: int, limit: float, stack: int = 1, phases: int = 3) -> dict:
    return {
        "connectorId": connector,
        "csChargingProfiles": {
            "chargingProfileId": TX_DEFAULT_ID + connector,
            "transactionId": tx,
            "stackLevel": stack,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, "numberPhases": phases}],
            },
        },
    }


def online(connect, identity: str, connectors=(1,)):
    c = connect(identity)
    assert c.boot().status == "Accepted"
    for n in connectors:
        c.status(n, "Available")
    return c


def settle(manager, *chargers, seconds: float = 10.0):
    """Wait until load management has nothing left to do (and the chargers got what it sent)."""
    assert manager.wait_idle(seconds)
    time.sleep(0.05)
    assert manager.wait_idle(seconds)


def test_profiles_follow_starts_and_stops(connect, add_charger, add_tag, station, set_limit, manager, as_owner):
    add_charger("CP1", station="Depot")
    add_charger("CP2", station="Depot")
    add_tag("T1")
    add_tag("T2")
    set_limit(32)
    cp1 = online(connect, "CP1")
    settle(manager)
    # Its fallback: its share when every connector of the station charges (CP2 counts before it ever connects).
    assert cp1.cp.calls("SetChargingProfile") == [tx_default(16.0)]
    cp2 = online(connect, "CP2")
    settle(manager)
    assert cp2.cp.calls("SetChargingProfile") == [tx_default(16.0)]
    assert len(cp1.cp.calls("SetChargingProfile")) == 1  # unchanged: not sent again

    t1 = cp1.start(1, "T1").transaction_id
    settle(manager)
    # T1 takes the whole 32 A: a car plugged into CP2 must not start at 16 A on top of it, so both fallbacks go to
    # 0 A first (a newcomer waits for its share), then T1 is raised.
    assert cp1.cp.calls("SetChargingProfile")[1:] == [tx_default(0.0), tx_profile(1, t1, 32.0)]
    assert cp2.cp.calls("SetChargingProfile")[1:] == [tx_default(0.0)]
    t2 = cp2.start(1, "T2").transaction_id
    settle(manager)
    assert cp1.cp.calls("SetChargingProfile")[3:] == [tx_profile(1, t1, 16.0)]
    assert cp2.cp.calls("SetChargingProfile")[2:] == [tx_profile(1, t2, 16.0)]
    load = as_owner.get(f"/stations/{station}/load").get_json()
    assert (load["enabled"], load["maxCurrentA"], load["phases"], load["allocatedA"]) == (True, 32.0, 3, 32.0)
    assert [(a["chargePointId"], a["transactionId"], a["limitA"], a["managed"]) for a in load["allocations"]] == [
        ("CP1", t1, 16.0, True),
        ("CP2", t2, 16.0, True),
    ]

    # Status and meter values that change nothing send nothing (no chatter).
    cp1.status(1, "Charging")
    cp2.status(1, "Charging")
    settle(manager)
    assert len(cp1.cp.calls("SetChargingProfile")) == 4 and len(cp2.cp.calls("SetChargingProfile")) == 3

    cp2.stop(t2, 5000)
    settle(manager)
    assert cp1.cp.calls("SetChargingProfile")[4:] == [tx_profile(1, t1, 32.0)]
    assert len(cp2.cp.calls("SetChargingProfile")) == 3
    assert [a["transactionId"] for a in as_owner.get(f"/stations/{station}/load").get_json()["allocations"]] == [t1]


def test_a_smaller_limit_pauses_the_newest_and_rounds_down(connect, add_charger, add_tag, station, set_limit, manager):
    for n in (1, 2, 3):
        add_charger(f"CP{n}", station="Depot")
        add_tag(f"T{n}")
    set_limit(20, minCurrentA=6)
    chargers = [online(connect, f"CP{n}") for n in (1, 2, 3)]
    settle(manager)
    # 20 A over three connectors: 6.6 A each (rounded down to the schedule's 0.1 A step), the last two tenths to
    # the first two: never more than the limit together.
    assert [c.cp.calls("SetChargingProfile")[-1] for c in chargers] == [
        tx_default(6.7),
        tx_default(6.7),
        tx_default(6.6),
    ]
    txs = []
    for n, c in enumerate(chargers, 1):
        txs.append(c.start(1, f"T{n}").transaction_id)
        settle(manager)
    # Three sessions need 18 A of minimum: all fit; the 2 A left go one tenth at a time, oldest first.
    assert [c.cp.calls("SetChargingProfile")[-1] for c in chargers] == [
        tx_profile(1, txs[0], 6.7),
        tx_profile(1, txs[1], 6.7),
        tx_profile(1, txs[2], 6.6),
    ]
    set_limit(13)
    settle(manager)
    # Room for two minimums only: the newest session waits at 0 A rather than anyone getting less than 6 A.
    assert [c.cp.calls("SetChargingProfile")[-1] for c in chargers] == [
        tx_profile(1, txs[0], 6.5),
        tx_profile(1, txs[1], 6.5),
        tx_profile(1, txs[2], 0.0),
    ]


def test_a_charger_that_refuses_profiles_is_counted_at_its_maximum(
    connect, add_charger, add_tag, station, set_limit, manager, as_owner, rt
):
    add_charger("CP1", station="Depot")
    add_charger("OLD", station="Depot")
    assert as_owner.patch("/charge-points/OLD", {"maxCurrentA": 16}).status_code == 200
    add_tag("T1")
    add_tag("T2")
    set_limit(40)
    cp1 = online(connect, "CP1")
    old = connect("OLD")
    old.cp.answers["SetChargingProfile"] = NotSupportedError("no smart charging here")
    assert old.boot().status == "Accepted"
    old.status(1, "Available")
    settle(manager)
    assert len(old.cp.calls("SetChargingProfile")) >= 1  # it was asked once, refused, and is not asked again
    asked = len(old.cp.calls("SetChargingProfile"))
    t_old = old.start(1, "T2").transaction_id
    t1 = cp1.start(1, "T1").transaction_id
    settle(manager)
    assert len(old.cp.calls("SetChargingProfile")) == asked
    # OLD may draw its 16 A whatever the CMS says: CP1 shares the other 24.
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 24.0)
    load = as_owner.get(f"/stations/{station}/load").get_json()
    by_cp = {a["chargePointId"]: a for a in load["allocations"]}
    assert (
        by_cp["OLD"]["managed"] is False and by_cp["OLD"]["limitA"] == 16.0 and by_cp["OLD"]["transactionId"] == t_old
    )
    assert by_cp["CP1"]["managed"] is True and load["allocatedA"] == 40.0
    assert {c["chargePointId"]: c["managed"] for c in load["chargePoints"]} == {"CP1": True, "OLD": False}


def test_a_rejected_tx_profile_marks_the_charger_unmanaged(
    connect, add_charger, add_tag, station, set_limit, manager, as_owner
):
    add_charger("CP1", station="Depot")
    add_charger("CP2", station="Depot")
    add_tag("T1")
    add_tag("T2")
    set_limit(32)
    cp1 = online(connect, "CP1")
    cp2 = online(connect, "CP2")
    settle(manager)
    # CP2 takes the fallback but rejects TxProfiles.
    cp2.cp.answers["SetChargingProfile"] = lambda **kw: {
        "status": "Rejected" if kw["cs_charging_profiles"]["charging_profile_purpose"] == "TxProfile" else "Accepted"
    }
    t1 = cp1.start(1, "T1").transaction_id
    t2 = cp2.start(1, "T2").transaction_id
    settle(manager)
    # CP2 counts at its maximum (32 A, no limit of its own): nothing is left, so CP1 waits at 0 A.
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 0.0)
    load = as_owner.get(f"/stations/{station}/load").get_json()
    assert {a["transactionId"]: (a["limitA"], a["managed"]) for a in load["allocations"]} == {
        t1: (0.0, True),
        t2: (32.0, False),
    }


def test_off_clears_the_profiles_and_sends_nothing_more(
    connect, add_charger, add_tag, station, set_limit, manager, as_owner
):
    add_charger("CP1", station="Depot")
    add_tag("T1")
    set_limit(32)
    cp1 = online(connect, "CP1")
    t1 = cp1.start(1, "T1").transaction_id
    settle(manager)
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 32.0)
    assert as_owner.delete(f"/stations/{station}/load-limit").status_code == 204
    settle(manager)
    assert sorted(c["id"] for c in cp1.cp.calls("ClearChargingProfile")) == [TX_DEFAULT_ID, TX_DEFAULT_ID + 1]
    sent = len(cp1.cp.calls("SetChargingProfile"))
    cp1.stop(t1, 100)
    settle(manager)
    assert len(cp1.cp.calls("SetChargingProfile")) == sent
    load = as_owner.get(f"/stations/{station}/load").get_json()
    assert load["enabled"] is False and load["maxCurrentA"] == 32.0 and load["allocations"] == []


def currents(*amperes: float) -> list[dict]:
    return [
        {"value": f"{a:.1f}", "measurand": "Current.Import", "phase": f"L{n}", "unit": "A"}
        for n, a in enumerate(amperes, 1)
    ]


def test_power_a_car_does_not_take_goes_to_the_others_and_comes_back(
    connect, add_charger, add_tag, station, set_limit, manager, as_owner
):
    from cms.loadmgmt.allocation import Tuning

    manager.applier.tuning = Tuning(release_after=timedelta(0))  # under-use counts at its first measurement
    add_charger("CP1", station="Depot")
    add_charger("CP2", station="Depot")
    add_tag("T1")
    add_tag("T2")
    set_limit(32)
    cp1, cp2 = online(connect, "CP1"), online(connect, "CP2")
    t1 = cp1.start(1, "T1").transaction_id
    t2 = cp2.start(1, "T2").transaction_id
    settle(manager)
    assert cp2.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t2, 16.0)
    cp1.meter(1, t1, currents(15.9, 15.9, 15.8))
    cp2.meter(1, t2, currents(3.0, 3.0, 3.0))  # nearly full: it takes 3 A of its 16
    settle(manager)
    # Capped at what it draws plus 1 A (never below the minimum); CP1 takes the rest.
    assert cp2.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t2, 6.0)
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 26.0)
    assert cp2.cp.last_call_time("SetChargingProfile") < cp1.cp.last_call_time("SetChargingProfile")
    load = as_owner.get(f"/stations/{station}/load").get_json()
    assert {a["transactionId"]: (a["limitA"], a["measuredA"], a["reason"]) for a in load["allocations"]} == {
        t1: (26.0, 15.9, "share"),
        t2: (6.0, 3.0, "not_taking"),
    }
    assert load["measuredA"] == 18.9
    cp2.meter(1, t2, currents(5.8, 5.8, 5.8))  # it ramps up again: uses all it was given
    settle(manager)
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 16.0)
    assert cp2.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t2, 16.0)
    # The lowered limit was sent (and answered) before the raised one: the site never goes over meanwhile.
    assert cp1.cp.last_call_time("SetChargingProfile") < cp2.cp.last_call_time("SetChargingProfile")


def test_external_load_is_taken_off_the_limit(connect, add_charger, add_tag, station, set_limit, manager, as_owner):
    add_charger("CP1", station="Depot")
    add_tag("T1")
    set_limit(32)
    cp1 = online(connect, "CP1")
    t1 = cp1.start(1, "T1").transaction_id
    settle(manager)
    r = as_owner.put(f"/stations/{station}/external-load", {"currentA": [10, 4.5, 12.05]})
    assert r.status_code == 200 and r.get_json()["externalLoadA"] == [10, 4.5, 12.05]
    settle(manager)
    # The most loaded phase decides (12.05 A rounded up to 12.1): 19.9 A are left for the car.
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 19.9)


def test_a_charge_point_moved_mid_session_is_shared_by_its_new_station(
    connect, add_charger, add_tag, station, set_limit, manager, as_owner
):
    other = as_owner.post("/stations", {"name": "Yard"}).get_json()["id"]
    assert as_owner.put(f"/stations/{other}/load-limit", {"maxCurrentA": 20}).status_code == 200
    add_charger("CP1", station="Depot")
    add_charger("CP2", station="Yard")
    add_tag("T1")
    add_tag("T2")
    set_limit(32)
    cp1, cp2 = online(connect, "CP1"), online(connect, "CP2")
    t1 = cp1.start(1, "T1").transaction_id
    t2 = cp2.start(1, "T2").transaction_id
    settle(manager)
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 32.0)
    assert as_owner.patch("/charge-points/CP1", {"stationId": other}).status_code == 200
    time.sleep(5.1)  # the charge point's station is trusted for a few seconds
    cp1.status(1, "Charging")
    cp2.status(1, "Charging")
    settle(manager)
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 10.0)
    assert cp2.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t2, 10.0)
    assert [a["transactionId"] for a in as_owner.get(f"/stations/{other}/load").get_json()["allocations"]] == [t1, t2]
    assert as_owner.get(f"/stations/{station}/load").get_json()["allocations"] == []


def test_boots_of_chargers_in_no_managed_station_cost_no_query_each(rt, add_charger, station, set_limit, manager):
    """A reconnect storm is a boot from every charger at once, most in no managed station: which charge points
    load management covers is read once for all of them, not once per boot."""
    from cms.handlers import Charger
    from tests.support.databases import statements_run

    set_limit(32)
    names = [f"FREE{i}" for i in range(20)]
    for name in names:
        add_charger(name)
    with statements_run(rt.db.engine) as seen:
        for name in names:
            boot = {"chargePointVendor": "V", "chargePointModel": "M"}
            assert rt.pipeline.handle(Charger(name), "BootNotification", boot)["status"] == "Accepted"
            assert manager.wait_idle()
    lookups = [s for s in seen if "station_load_limits" in s and "charge_points" in s]
    assert len(lookups) <= 1, lookups
