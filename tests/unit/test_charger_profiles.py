"""The simulated charger's smart charging (simulator/charger_profiles.py) and EVs (simulator/simulated_ev.py):
how a charger installs, stacks and combines OCPP 1.6 charging profiles, hand-computed. No network, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator.charger import meter_sample
from simulator.charger_profiles import (
    Limit,
    Offer,
    Profile,
    ProfileRejected,
    ProfileStore,
    Transaction,
    charge_point_level,
    composite_schedule,
    connector_offer,
)
from simulator.simulated_ev import SimulatedEV

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TX = {1: Transaction(41, T0 - timedelta(seconds=100))}


def profile(
    pid=1,
    *,
    connector=0,
    purpose="TxDefaultProfile",
    stack=0,
    kind="Absolute",
    unit="A",
    periods=((0, 16),),
    received=T0 - timedelta(hours=1),
    **extra,
) -> Profile:
    """A profile from a SetChargingProfile payload in the ``ocpp`` package's snake_case."""
    schedule = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [
            {"start_period": s, "limit": float(v), **({"number_phases": n[0]} if n else {})} for s, v, *n in periods
        ],
    }
    for key in ("start_schedule", "duration"):
        if key in extra:
            schedule[key] = extra.pop(key)
    payload = {
        "charging_profile_id": pid,
        "stack_level": stack,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": kind,
        "charging_schedule": schedule,
        **extra,
    }
    return Profile.from_ocpp(connector, payload, received)


def store_with(*profiles: Profile, transactions=TX) -> ProfileStore:
    store = ProfileStore(2)
    for p in profiles:
        store.install(p, transactions)
    return store


def amps(store: ProfileStore, t: datetime, connector=1, tx=TX, now=None):
    limit = store.connector_limit(connector, t, tx.get(connector), now or t)
    return None if limit is None else limit.amperes(3, 230.0)


# ----------------------------------------------------------------------------------------------- reading


def test_camel_and_snake_case_payloads_read_the_same():
    snake = profile(
        7,
        stack=2,
        valid_from="2030-01-01T00:00:00Z",
        start_schedule="2030-01-01T06:00:00Z",
        duration=3600,
        periods=((0, 10, 1), (600, 20.5)),
    )
    camel = Profile.from_ocpp(
        0,
        {
            "chargingProfileId": 7,
            "stackLevel": 2,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "validFrom": "2030-01-01T00:00:00Z",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": "2030-01-01T06:00:00Z",
                "duration": 3600,
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 10, "numberPhases": 1},
                    {"startPeriod": 600, "limit": 20.5},
                ],
            },
        },
        T0 - timedelta(hours=1),
    )
    assert snake == camel
    assert snake.valid_from == datetime(2030, 1, 1, tzinfo=UTC) and snake.duration == 3600
    assert [(p.start_period, p.limit, p.number_phases) for p in snake.periods] == [(0, 10.0, 1), (600, 20.5, None)]


def test_an_unreadable_profile_is_refused():
    with pytest.raises(ProfileRejected, match="unreadable"):
        Profile.from_ocpp(1, {"charging_profile_id": 1}, T0)
    with pytest.raises(ProfileRejected, match="unreadable"):
        profile(valid_from="yesterday")


# ----------------------------------------------------------------------------------------------- installing


@pytest.mark.parametrize(
    "kw,reason",
    [
        ({"purpose": "TxProfile", "connector": 2}, "needs a transaction"),
        ({"purpose": "TxProfile", "connector": 0}, "needs a transaction"),
        ({"purpose": "TxProfile", "connector": 1, "transaction_id": 99}, "not the one"),
        ({"purpose": "ChargePointMaxProfile", "connector": 1}, "connector 0"),
        ({"connector": 3}, "no connector 3"),
        ({"stack": 9}, "stack level 9"),
        ({"stack": -1}, "stack level -1"),
        ({"periods": ((60, 16),)}, "start at 0"),
        ({"periods": ((0, 16), (600, 8), (600, 6))}, "increase"),
        ({"periods": ()}, "start at 0"),
        ({"periods": ((0, -1),)}, "0 or more"),
        ({"periods": ((0, 16, 4),)}, "numberPhases"),
        ({"kind": "Recurring"}, "recurrencyKind"),
        ({"unit": "kW"}, "rate unit"),
        ({"duration": 0}, "duration"),
    ],
)
def test_a_charger_refuses_profiles_the_specification_rules_out(kw, reason):
    with pytest.raises(ProfileRejected, match=reason):
        store_with(profile(**kw))


def test_a_tx_profile_is_accepted_for_the_running_transaction():
    store = store_with(profile(purpose="TxProfile", connector=1, transaction_id=41, periods=((0, 10),)))
    assert amps(store, T0) == 10.0


def test_same_id_or_same_stack_level_and_purpose_replaces():
    store = store_with(profile(1, periods=((0, 16),)), profile(2, stack=1, periods=((0, 10),)))
    store.install(profile(1, connector=1, stack=3, periods=((0, 8),)), TX)  # same id, elsewhere: replaces 1
    assert sorted((p.profile_id, p.connector_id) for p in store.profiles) == [(1, 1), (2, 0)]
    store.install(profile(5, stack=1, periods=((0, 12),)), TX)  # same stack level and purpose on 0: replaces 2
    assert sorted(p.profile_id for p in store.profiles) == [1, 5]
    store.install(profile(6, stack=1, purpose="ChargePointMaxProfile", periods=((0, 40),)), TX)  # other purpose
    assert sorted(p.profile_id for p in store.profiles) == [1, 5, 6]


def test_clearing_by_id_or_by_criteria():
    def fresh():
        return store_with(
            profile(1),
            profile(2, connector=1, stack=1),
            profile(3, purpose="ChargePointMaxProfile", stack=2),
            profile(4, purpose="TxProfile", connector=1, stack=1),
        )

    store = fresh()
    assert store.clear(profile_id=2, connector_id=0) and [p.profile_id for p in store.profiles] == [1, 3, 4]
    assert not store.clear(profile_id=2)
    store = fresh()
    assert store.clear(purpose="TxDefaultProfile") and [p.profile_id for p in store.profiles] == [3, 4]
    store = fresh()
    assert store.clear(connector_id=1, stack_level=1) and [p.profile_id for p in store.profiles] == [1, 3]
    assert not store.clear(connector_id=2)
    assert store.clear() and store.profiles == []


def test_a_transactions_end_drops_its_tx_profiles_only():
    store = store_with(profile(1), profile(4, purpose="TxProfile", connector=1))
    store.end_transaction(1)
    assert [p.profile_id for p in store.profiles] == [1]


# ----------------------------------------------------------------------------------------------- stacking


def test_the_highest_valid_stack_level_leads():
    store = store_with(
        profile(1, periods=((0, 16),)),
        profile(2, stack=1, periods=((0, 10),), valid_to="2030-01-01T13:00:00Z"),
        profile(3, stack=2, periods=((0, 6),), valid_from="2030-01-01T14:00:00Z"),
    )
    assert amps(store, T0) == 10.0  # level 1, valid until 13:00
    assert amps(store, T0 + timedelta(hours=1)) == 16.0  # level 1 expired (validTo excluded), level 2 not yet
    assert amps(store, T0 + timedelta(hours=2)) == 6.0


def test_a_profile_whose_schedule_ended_no_longer_shadows_lower_ones():
    store = store_with(
        profile(1, periods=((0, 16),)),
        profile(2, stack=1, start_schedule="2030-01-01T12:00:00Z", duration=600, periods=((0, 8),)),
    )
    assert amps(store, T0 - timedelta(seconds=1)) == 16.0  # not started
    assert amps(store, T0 + timedelta(seconds=599)) == 8.0
    assert amps(store, T0 + timedelta(seconds=600)) == 16.0


def test_a_connectors_own_default_beats_connector_zeros_at_the_same_level_only():
    store = store_with(
        profile(1, connector=0, stack=1, periods=((0, 16),)), profile(2, connector=1, stack=1, periods=((0, 10),))
    )
    assert amps(store, T0, connector=1) == 10.0
    assert amps(store, T0, connector=2) == 16.0
    store.install(profile(3, connector=0, stack=2, periods=((0, 20),)), TX)
    assert amps(store, T0, connector=1) == 20.0


def test_a_tx_profile_overrules_the_default_during_its_transaction_only():
    store = store_with(profile(1, periods=((0, 6),)), profile(2, purpose="TxProfile", connector=1, periods=((0, 20),)))
    assert amps(store, T0) == 20.0  # not the lower of the two: the TxProfile replaces the default
    assert amps(store, T0, tx={}) == 6.0  # no transaction: the default


# ----------------------------------------------------------------------------------------------- schedules


def test_absolute_schedule_periods_by_start_period():
    store = store_with(profile(1, start_schedule="2030-01-01T12:00:00Z", periods=((0, 16), (3600, 8))))
    assert amps(store, T0 + timedelta(minutes=10)) == 16.0
    assert amps(store, T0 + timedelta(minutes=90)) == 8.0
    assert amps(store, T0 - timedelta(minutes=1)) is None
    # Without startSchedule it runs from validFrom, else from when it was received.
    assert amps(store_with(profile(1, received=T0, periods=((0, 16), (60, 8)))), T0 + timedelta(seconds=61)) == 8.0


def test_relative_schedule_starts_with_the_transaction():
    store = store_with(profile(1, purpose="TxProfile", connector=1, kind="Relative", periods=((0, 32), (300, 10))))
    assert amps(store, T0) == 32.0  # the transaction started 100 s before T0
    assert amps(store, T0 + timedelta(seconds=200)) == 10.0
    # Outside a transaction a Relative default starts "now".
    default = store_with(profile(2, kind="Relative", periods=((0, 32), (300, 10))))
    assert amps(default, T0 + timedelta(seconds=400), tx={}, now=T0) == 10.0
    assert amps(default, T0 + timedelta(seconds=400), tx={}) == 32.0


def test_recurring_daily_and_weekly_schedules():
    # Every night from 22:00: 8 A for 8 hours, then 32 A.
    daily = store_with(
        profile(
            1,
            kind="Recurring",
            recurrency_kind="Daily",
            start_schedule="2030-01-01T22:00:00Z",
            periods=((0, 8), (8 * 3600, 32)),
        )
    )
    assert amps(daily, datetime(2030, 1, 5, 23, 0, tzinfo=UTC)) == 8.0
    assert amps(daily, datetime(2030, 1, 5, 7, 0, tzinfo=UTC)) == 32.0  # 9 h after the 4th's 22:00
    assert amps(daily, datetime(2030, 1, 1, 21, 0, tzinfo=UTC)) is None  # before the first occurrence
    weekly = store_with(
        profile(
            1,
            kind="Recurring",
            recurrency_kind="Weekly",
            start_schedule="2030-01-07T00:00:00Z",
            duration=2 * 86400,
            periods=((0, 10),),
        )
    )  # Monday and Tuesday only
    assert amps(weekly, datetime(2030, 1, 15, 12, 0, tzinfo=UTC)) == 10.0  # a Tuesday
    assert amps(weekly, datetime(2030, 1, 16, 12, 0, tzinfo=UTC)) is None  # a Wednesday


# ----------------------------------------------------------------------------------------------- offers


def test_watts_become_amperes_per_phase_and_number_phases_caps_the_phases():
    store = store_with(profile(1, unit="W", periods=((0, 11040),)))
    assert connector_offer(store, 1, T0, TX[1], 32.0, 3, 230.0) == Offer(16.0, 3)
    assert connector_offer(store, 1, T0, TX[1], 32.0, 1, 230.0) == Offer(32.0, 1)  # 48 A, held by the cable
    one_phase = store_with(profile(1, periods=((0, 16, 1),)))
    assert connector_offer(one_phase, 1, T0, TX[1], 32.0, 3, 230.0) == Offer(16.0, 1)
    assert connector_offer(ProfileStore(2), 1, T0, TX[1], 32.0, 3, 230.0) == Offer(32.0, 3)  # no profile


def test_a_charge_point_maximum_is_shared_at_one_level():
    amps_limit = Limit(40.0, "A")
    assert charge_point_level(amps_limit, [Offer(32, 3), Offer(32, 3)], 230.0) == pytest.approx(20.0, abs=1e-3)
    # One car takes only 10 A: the other may have 30 A.
    assert charge_point_level(amps_limit, [Offer(10, 3), Offer(32, 3)], 230.0) == pytest.approx(30.0, abs=1e-3)
    assert charge_point_level(amps_limit, [Offer(16, 3), Offer(16, 3)], 230.0) is None  # does not bind
    # 22080 W over two 3-phase cars: 16 A each; a 1-phase and a 3-phase car reach one level of 24 A.
    watts = Limit(22080.0, "W")
    assert charge_point_level(watts, [Offer(32, 3), Offer(32, 3)], 230.0) == pytest.approx(16.0, abs=1e-3)
    assert charge_point_level(watts, [Offer(32, 1), Offer(32, 3)], 230.0) == pytest.approx(24.0, abs=1e-3)


# ----------------------------------------------------------------------------------------------- composite


def test_composite_schedule_combines_tx_default_and_charge_point_max():
    store = store_with(
        profile(1, periods=((0, 16),)),
        profile(2, purpose="TxProfile", connector=1, kind="Relative", periods=((0, 32), (300, 10))),
        profile(
            3, purpose="ChargePointMaxProfile", periods=((0, 20),), start_schedule="2030-01-01T12:00:00Z", duration=400
        ),
    )
    kw = {"transactions": TX, "hardware_max_a": 32.0, "phases": {1: 3}, "voltage": 230.0}
    schedule = composite_schedule(store, 1, T0, 600, "A", **kw)
    # 0 s: TxProfile 32 under the 20 A maximum; 200 s (300 s into the transaction): 10 A; 400 s: the maximum ends.
    assert schedule == {
        "duration": 600,
        "start_schedule": "2030-01-01T12:00:00Z",
        "charging_rate_unit": "A",
        "charging_schedule_period": [
            {"start_period": 0, "limit": 20.0, "number_phases": 3},
            {"start_period": 200, "limit": 10.0, "number_phases": 3},
        ],
    }
    in_watts = composite_schedule(store, 1, T0, 600, "W", **kw)["charging_schedule_period"]
    assert [(p["start_period"], p["limit"]) for p in in_watts] == [(0, 13800.0), (200, 6900.0)]
    # Connector 2 has no transaction: the 16 A default, under the maximum until it ends, then the default alone.
    c2 = composite_schedule(store, 2, T0, 600, "A", **kw)["charging_schedule_period"]
    assert [(p["start_period"], p["limit"]) for p in c2] == [(0, 16.0)]
    # The whole charge point: 20 A while the maximum holds, then 10 + 16 A.
    c0 = composite_schedule(store, 0, T0, 600, "A", **kw)["charging_schedule_period"]
    assert [(p["start_period"], p["limit"]) for p in c0] == [(0, 20.0), (400, 26.0)]


def test_composite_schedule_without_profiles_is_the_hardware_limit():
    schedule = composite_schedule(
        ProfileStore(2), 1, T0, 60, "A", transactions={}, hardware_max_a=32.0, phases={}, voltage=230.0
    )
    assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 32.0, "number_phases": 3}]


# ----------------------------------------------------------------------------------------------- EVs and meters


def test_an_ev_draws_its_demand_under_the_offer_and_tapers_when_nearly_full():
    ev = SimulatedEV("sedan", 16.0, 3, 75_000.0, soc=50.0)
    assert ev.draw_a(32.0) == 16.0 and ev.draw_a(10.0) == 10.0
    assert ev.draw_a(5.9) == 0.0  # under 6 A offered an EV does not charge (IEC 61851)
    ev.soc = 90.0
    assert ev.demand_a() == pytest.approx(8.0)  # halfway from 80 % to full
    ev.soc = 100.0
    assert ev.draw_a(32.0) == 0.0


def test_charging_fills_the_battery():
    ev = SimulatedEV("sedan", 16.0, 3, 75_000.0, soc=50.0)
    assert ev.charge(16.0, 3600) == pytest.approx(11040.0)  # 16 A x 230 V x 3 phases for an hour
    assert ev.soc == pytest.approx(50.0 + 100 * 11040 / 75000)
    assert ev.charge(16.0, 3600, phases=1) == pytest.approx(3680.0)
    ev.soc = 99.99
    ev.charge(16.0, 3600)
    assert ev.soc == 100.0


def test_a_meter_sample_reports_what_is_drawn_per_phase():
    values = {(v["measurand"], v.get("phase")): v for v in meter_sample(5000.0, (16.0, 0.0, 0.0), 20.0, 42.0)}
    assert values[("Current.Import", "L1")]["value"] == "16.00"
    assert values[("Current.Import", "L2")]["value"] == "0.00"
    assert values[("Current.Offered", None)]["value"] == "20.0"
    assert values[("Power.Active.Import", None)]["value"] == "3680"
    assert values[("Energy.Active.Import.Register", None)]["value"] == "5000"
    assert values[("SoC", None)]["value"] == "42"
    assert ("SoC", None) not in {(v["measurand"], v.get("phase")) for v in meter_sample(0, (0, 0, 0), 0, None)}
