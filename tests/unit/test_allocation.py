"""The site allocation function (cms/loadmgmt/allocation.py): hand-computed cases and properties. No app, no
database: it is a pure function of its inputs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cms.loadmgmt.allocation import (
    ActiveSession,
    ConnectorInfo,
    Reason,
    SessionState,
    SiteLimit,
    allocate,
    fallback_limits,
    starting_fallbacks,
)
from tests.support.properties import property_examples

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)


def session(key, minute=0, *, max_a=32.0, **kw) -> ActiveSession:
    """A session started ``minute`` minutes after T0 (a smaller minute is older)."""
    return ActiveSession(key=key, started_at=T0 + timedelta(minutes=minute), charger_max_a=max_a, **kw)


def limits(site, sessions, **kw) -> dict:
    return allocate(site, sessions, now=T0 + timedelta(hours=1), **kw).limits()


# ----------------------------------------------------------------------------------------------- equal share


def test_equal_share_of_the_site_limit():
    assert limits(SiteLimit(32), [session("a"), session("b", 1)]) == {"a": 16.0, "b": 16.0}


def test_equal_share_hands_the_last_tenths_to_the_oldest():
    # 32 A / 3 = 10.66 A: 10.6 each and 0.2 A left, one tenth each to the two oldest; the sum is the limit.
    assert limits(SiteLimit(32), [session("new", 2), session("old", 0), session("mid", 1)]) == {
        "new": 10.6,
        "old": 10.7,
        "mid": 10.7,
    }


def test_a_session_at_its_own_maximum_leaves_the_rest_to_the_others():
    # The EV takes 10 A at most, the 16 A charger at most 16: the third gets the rest (up to its 32 A).
    sessions = [session("ev10", 0, ev_max_a=10.0), session("cp16", 1, max_a=16.0), session("big", 2)]
    result = allocate(SiteLimit(40), sessions, now=T0)
    assert result.limits() == {"ev10": 10.0, "cp16": 15.0, "big": 15.0}
    assert result["ev10"].reason is Reason.OWN_MAX and result["big"].reason is Reason.SHARE
    assert limits(SiteLimit(63), sessions) == {"ev10": 10.0, "cp16": 16.0, "big": 32.0}


# ----------------------------------------------------------------------------------------------- the minimum


def test_every_session_gets_at_least_the_minimum_when_the_limit_allows():
    # 20 A for three: the minimum 6 A each (18 A), then 2 A more shared: 6.7, 6.7, 6.6.
    assert limits(SiteLimit(20), [session("a"), session("b", 1), session("c", 2)]) == {"a": 6.7, "b": 6.7, "c": 6.6}


def test_the_minimum_is_configurable():
    assert limits(SiteLimit(20, min_current_a=8), [session("a"), session("b", 1), session("c", 2)]) == {
        "a": 10.0,
        "b": 10.0,
        "c": 0.0,
    }


def test_more_sessions_than_the_limit_allows_pauses_the_newest():
    # 16 A holds two minimums (12 A) but not three: the newest waits at 0 A, the two others share 16 A.
    result = allocate(SiteLimit(16), [session("c", 2), session("a", 0), session("b", 1)], now=T0)
    assert result.limits() == {"a": 8.0, "b": 8.0, "c": 0.0}
    assert result["c"].reason is Reason.PAUSED and result["c"].paused
    assert result["a"].reason is Reason.SHARE


def test_a_paused_session_resumes_when_an_older_one_stops():
    sessions = [session("a", 0), session("b", 1), session("c", 2)]
    assert limits(SiteLimit(16), sessions)["c"] == 0.0
    assert limits(SiteLimit(16), sessions[1:]) == {"b": 8.0, "c": 8.0}


def test_a_session_whose_maximum_is_below_the_minimum_gets_nothing():
    result = allocate(SiteLimit(32), [session("tiny", max_a=5.0), session("b", 1)], now=T0)
    assert result.limits() == {"tiny": 0.0, "b": 32.0}
    assert result["tiny"].reason is Reason.BELOW_MINIMUM


def test_a_zero_limit_pauses_everybody():
    assert limits(SiteLimit(0), [session("a"), session("b", 1)]) == {"a": 0.0, "b": 0.0}


# ----------------------------------------------------------------------------------------------- under-use


def test_a_car_that_stops_drawing_gives_its_share_away_and_gets_it_back_when_it_ramps_up():
    site = SiteLimit(32)
    t = T0

    def run(seconds, a_draws, previous):
        return allocate(
            site,
            [session("a", 0, measured_a=(a_draws,) * 3), session("b", 1)],
            now=t + timedelta(seconds=seconds),
            previous=previous,
        )

    first = allocate(site, [session("a"), session("b", 1)], now=t)
    assert first.limits() == {"a": 16.0, "b": 16.0}
    # "a" draws 9 A of its 16 (7 A under: more than max(2 A, 20 %)): counted from now, not yet acted on.
    r = run(10, 9.0, first.states())
    assert r.limits() == {"a": 16.0, "b": 16.0} and r["a"].state.low_since == t + timedelta(seconds=10)
    r = run(100, 9.0, r.states())
    assert r.limits() == {"a": 16.0, "b": 16.0}
    # 120 s after the first low reading: capped at what it draws plus 1 A; "b" gets the 6 A freed.
    r = run(130, 9.0, r.states())
    assert r.limits() == {"a": 10.0, "b": 22.0}
    assert r["a"].reason is Reason.NOT_TAKING and r["a"].state.cap_a == 10.0
    # Steady at 9 A (1 A under its cap): neither lowered nor released (hysteresis).
    r = run(400, 9.0, r.states())
    assert r.limits() == {"a": 10.0, "b": 22.0}
    r = run(410, 9.4, r.states())
    assert r.limits() == {"a": 10.0, "b": 22.0}
    # It ramps up to within 0.5 A of its cap: the cap is lifted at once and the shares are equal again.
    r = run(420, 9.6, r.states())
    assert r.limits() == {"a": 16.0, "b": 16.0} and r["a"].state.cap_a is None


def test_a_full_battery_is_capped_at_the_minimum_never_below():
    site = SiteLimit(32)
    prev = allocate(site, [session("full"), session("b", 1)], now=T0).states()
    for seconds in (0, 60, 120):
        r = allocate(
            site,
            [session("full", measured_a=(0.0, 0.0, 0.0)), session("b", 1)],
            now=T0 + timedelta(seconds=seconds),
            previous=prev,
        )
        prev = r.states()
    assert r.limits() == {"full": 6.0, "b": 26.0}
    # Its cap stays while it draws nothing; the cap only moves down, never under the minimum.
    r = allocate(
        site,
        [session("full", measured_a=(0.0,)), session("b", 1)],
        now=T0 + timedelta(seconds=600),
        previous=r.states(),
    )
    assert r.limits() == {"full": 6.0, "b": 26.0}


def test_a_short_dip_or_a_broken_run_does_not_cap():
    site = SiteLimit(32)
    prev = allocate(site, [session("a"), session("b", 1)], now=T0).states()
    readings = [(0, 4.0), (60, 15.0), (130, 4.0), (200, 4.0)]  # low, back to its limit, low again for 70 s
    for seconds, drawn in readings:
        r = allocate(
            site,
            [session("a", measured_a=(drawn,)), session("b", 1)],
            now=T0 + timedelta(seconds=seconds),
            previous=prev,
        )
        prev = r.states()
        assert r.limits() == {"a": 16.0, "b": 16.0}
    # A small shortfall (1.5 A under 16 A: less than 20 %) is not "not taking" however long it lasts.
    for seconds in (300, 600, 900):
        r = allocate(
            site,
            [session("a", measured_a=(14.5,)), session("b", 1)],
            now=T0 + timedelta(seconds=seconds),
            previous=prev,
        )
        prev = r.states()
    assert r.limits() == {"a": 16.0, "b": 16.0}


def test_no_measurement_keeps_the_state():
    prev = {"a": SessionState(limit_a=10.0, low_since=T0, cap_a=10.0)}
    r = allocate(SiteLimit(32), [session("a"), session("b", 1)], now=T0 + timedelta(hours=1), previous=prev)
    assert r.limits() == {"a": 10.0, "b": 22.0}
    assert r["a"].state == SessionState(limit_a=10.0, low_since=T0, cap_a=10.0)


# ----------------------------------------------------------------------------------------------- priorities


def test_higher_priority_fills_first_after_everybody_has_the_minimum():
    # Minimums 3 x 6 A = 18 A; the remaining 14 A go to the priority session first.
    sessions = [session("vip", 2, priority=1), session("b", 0), session("c", 1)]
    assert limits(SiteLimit(32), sessions) == {"vip": 20.0, "b": 6.0, "c": 6.0}
    # What the priority session cannot take (its EV takes 16 A) flows to the next class, shared equally.
    sessions[0] = session("vip", 2, priority=1, ev_max_a=16.0)
    assert limits(SiteLimit(32), sessions) == {"vip": 16.0, "b": 8.0, "c": 8.0}


def test_low_priority_sessions_are_paused_before_high_priority_ones():
    sessions = [session("low-old", 0), session("high-new", 5, priority=2), session("low-new", 3)]
    result = allocate(SiteLimit(13), sessions, now=T0)
    assert result.limits() == {"high-new": 7.0, "low-old": 6.0, "low-new": 0.0}


# ----------------------------------------------------------------------------------------------- phases


def test_one_and_three_phase_sessions_share_each_phase():
    # 40 A per phase. "three" draws on L1-L3; "l1", "l2" (EV max 10 A) and "l3" on one phase each.
    # L1: three + l1 share 40 -> 20 each; L2: three (20) + l2 (10); L3: three + l3 -> 20 each. "three" is held
    # at 20 A by L1 and L3, so L2 keeps 10 A unused: per-phase limits are respected, not summed.
    sessions = [
        session("three", 0, phases=(1, 2, 3)),
        session("l1", 1, phases=(1,)),
        session("l2", 2, phases=(2,), ev_max_a=10.0),
        session("l3", 3, phases=(3,)),
    ]
    result = allocate(SiteLimit(40), sessions, now=T0)
    assert result.limits() == {"three": 20.0, "l1": 20.0, "l2": 10.0, "l3": 20.0}
    assert result.allocated_a == (40.0, 30.0, 40.0)


def test_single_phase_cars_on_different_phases_do_not_compete():
    sessions = [session("a", 0, phases=(1,)), session("b", 1, phases=(2,)), session("c", 2, phases=(2,))]
    assert limits(SiteLimit(32), sessions) == {"a": 32.0, "b": 16.0, "c": 16.0}


def test_a_one_phase_site_puts_every_session_on_l1():
    site = SiteLimit(32, phases=1)
    result = allocate(site, [session("three", 0, phases=(1, 2, 3)), session("one", 1, phases=(1,))], now=T0)
    assert result.limits() == {"three": 16.0, "one": 16.0}
    assert result.allocated_a == (32.0,)


def test_a_full_phase_pauses_a_three_phase_car_but_not_a_one_phase_car_elsewhere():
    # L1 holds only "l1-old" (32 A max) with 10 A: no room for the 3-phase car's minimum on L1, but "l2" fits.
    sessions = [session("l1-old", 0, phases=(1,)), session("three", 1, phases=(1, 2, 3)), session("l2", 2, phases=(2,))]
    result = allocate(SiteLimit(32), sessions, now=T0, external_load_a=(22.0, 0.0, 0.0))
    assert result.limits() == {"l1-old": 10.0, "three": 0.0, "l2": 32.0}
    assert result["three"].reason is Reason.PAUSED


# ----------------------------------------------------------------------------------------------- charge points


def test_a_charge_point_limit_is_shared_by_its_connectors():
    # Site 63 A; charge point X has its own 20 A breaker for two connectors; Y has none.
    sessions = [
        session("x1", 0, charge_point="X"),
        session("x2", 1, charge_point="X"),
        session("y1", 2, charge_point="Y"),
    ]
    assert limits(SiteLimit(63), sessions, charge_point_limits={"X": 20.0}) == {"x1": 10.0, "x2": 10.0, "y1": 32.0}


def test_a_charge_point_limit_too_small_for_two_minimums_pauses_its_newest_connector():
    sessions = [session("x1", 0, charge_point="X"), session("x2", 1, charge_point="X"), session("y1", 2)]
    result = allocate(SiteLimit(63), sessions, now=T0, charge_point_limits={"X": 10.0})
    assert result.limits() == {"x1": 10.0, "x2": 0.0, "y1": 32.0}


def test_a_charge_point_limit_is_per_phase():
    # Two 1-phase connectors of X on L1 and L2 (a charger wired with phase rotation) each get X's 16 A.
    sessions = [session("x1", 0, charge_point="X", phases=(1,)), session("x2", 1, charge_point="X", phases=(2,))]
    assert limits(SiteLimit(63), sessions, charge_point_limits={"X": 16.0}) == {"x1": 16.0, "x2": 16.0}


# ----------------------------------------------------------------------------------------------- external load


def test_external_load_is_taken_off_each_phase_first():
    # 40 A per phase minus the building (10, 20, 5): L2 has 20 A left, so both 3-phase cars get 10 A.
    result = allocate(SiteLimit(40), [session("a"), session("b", 1)], now=T0, external_load_a=(10.0, 20.0, 5.0))
    assert result.limits() == {"a": 10.0, "b": 10.0}
    assert result.available_a == (30.0, 20.0, 35.0)
    assert not result.overloaded


def test_external_load_is_rounded_up_and_can_exceed_the_limit():
    assert limits(SiteLimit(40), [session("a")], external_load_a=(10.05, 0, 0)) == {"a": 29.9}
    result = allocate(
        SiteLimit(40), [session("a", phases=(1,)), session("b", 1, phases=(2,))], now=T0, external_load_a=(45.0,)
    )
    assert result.limits() == {"a": 0.0, "b": 32.0}
    assert result.available_a == (0.0, 40.0, 40.0)


# ----------------------------------------------------------------------------------------------- unmanaged


def test_an_unmanaged_session_is_counted_at_its_maximum():
    sessions = [session("soap15", 0, max_a=16.0, managed=False), session("a", 1), session("b", 2)]
    result = allocate(SiteLimit(32), sessions, now=T0)
    assert result.limits() == {"soap15": 16.0, "a": 8.0, "b": 8.0}
    assert result["soap15"].reason is Reason.UNMANAGED and not result["soap15"].managed
    assert result.allocated_a == (32.0, 32.0, 32.0) and not result.overloaded


def test_unmanaged_sessions_over_the_limit_leave_nothing_and_say_so():
    sessions = [session("u1", 0, managed=False), session("u2", 1, managed=False), session("a", 2)]
    result = allocate(SiteLimit(40), sessions, now=T0)
    assert result.limits() == {"u1": 32.0, "u2": 32.0, "a": 0.0}
    assert result.overloaded


# ----------------------------------------------------------------------------------------------- rounding


def test_limits_are_rounded_down_to_a_tenth():
    assert limits(SiteLimit(10.09, min_current_a=0), [session("a")]) == {"a": 10.0}
    assert limits(SiteLimit(63), [session("a", max_a=15.99)]) == {"a": 15.9}
    assert limits(SiteLimit(63), [session("a", ev_max_a=0.3 * 3)]) == {"a": 0.0}  # 0.9 A is below 6 A
    assert limits(SiteLimit(0.3 * 30, min_current_a=0.3 * 10), [session("a")]) == {"a": 9.0}  # no 8.9999


# ----------------------------------------------------------------------------------------------- fallback


def test_fallback_is_each_charge_points_share_when_every_connector_charges():
    # 63 A for three connectors: Y's 16 A connector takes 16, X's two share the rest (23.5 A each).
    connectors = [ConnectorInfo("X", 1, 32.0), ConnectorInfo("X", 2, 32.0), ConnectorInfo("Y", 1, 16.0)]
    assert fallback_limits(SiteLimit(63), connectors) == {"X": 23.5, "Y": 16.0}


def test_starting_fallbacks_fit_in_the_room_the_sessions_leave():
    site = SiteLimit(63)
    connectors = [ConnectorInfo("X", 1, 32.0), ConnectorInfo("Y", 1, 32.0), ConnectorInfo("Z", 1, 32.0)]
    ceilings = fallback_limits(site, connectors)
    assert ceilings == {"X": 21.0, "Y": 21.0, "Z": 21.0}

    def fallbacks(x_limit: float) -> dict:
        sessions = [session("x", max_a=x_limit, charge_point="X")]
        allocation = allocate(site, sessions, now=T0)
        return starting_fallbacks(
            site, connectors, allocation, ceilings=ceilings, session_limits={("X", 1): allocation["x"].limit_a}
        )

    # X charges at 20 A: 43 A left, and Y and Z may each start at their full ceiling (X at 21 would be 1 A more).
    assert fallbacks(20.0) == {"X": 21.0, "Y": 21.0, "Z": 21.0}
    # X at 30 A: 33 A for Y and Z to start with: 16.5 A each (X's connector, busy at 30, needs none of it).
    assert fallbacks(30.0) == {"X": 16.5, "Y": 16.5, "Z": 16.5}
    # X at 32 A: 31 A left is 15.5 each. A site X fills leaves nothing: below the minimum, so 0 A.
    assert fallbacks(32.0) == {"X": 15.5, "Y": 15.5, "Z": 15.5}
    assert starting_fallbacks(
        SiteLimit(40),
        connectors,
        allocate(SiteLimit(40), [session("x", charge_point="X")], now=T0),
        ceilings={"X": 13.3, "Y": 13.3, "Z": 13.3},
        session_limits={("X", 1): 32.0},
    ) == {"X": 0.0, "Y": 0.0, "Z": 0.0}  # 8 A left: 4 A each, under the minimum


def test_starting_fallbacks_count_a_charge_point_out_of_reach_at_what_it_has():
    site = SiteLimit(63)
    connectors = [ConnectorInfo("X", 1, 32.0), ConnectorInfo("Y", 1, 32.0), ConnectorInfo("Z", 1, 32.0)]
    allocation = allocate(site, [], now=T0)
    got = starting_fallbacks(
        site, connectors, allocation, ceilings={"X": 21.0, "Y": 21.0, "Z": 21.0}, fixed={"Z": 32.0}
    )
    assert got == {"X": 15.5, "Y": 15.5}  # Z may start at its 32 A: 31 A for the other two


@given(
    st.integers(0, 1000),
    st.lists(st.tuples(st.integers(0, 5), st.integers(1, 2), st.integers(6, 32), st.booleans()), max_size=12),
)
@settings(max_examples=property_examples(200), deadline=None)
def test_starting_anywhere_stays_within_the_limit(limit_tenths, plugs):
    """Every connector at the higher of its session's limit and its fallback never exceeds the site."""
    site = SiteLimit(limit_tenths / 10)
    plugged = {(f"C{cp}", conn): (float(mx), charging) for cp, conn, mx, charging in plugs}
    connectors = [ConnectorInfo(cp, conn, mx) for (cp, conn), (mx, _) in plugged.items()]
    sessions = [session((cp, conn), max_a=mx, charge_point=cp) for (cp, conn), (mx, on) in plugged.items() if on]
    allocation = allocate(site, sessions, now=T0)
    limits_of = {s.key: s.limit_a for s in allocation.sessions}
    got = starting_fallbacks(
        site, connectors, allocation, ceilings=fallback_limits(site, connectors), session_limits=limits_of
    )
    drawn = sum(max(limits_of.get((c.charge_point, c.connector_id), 0.0), got[c.charge_point]) for c in connectors)
    assert drawn <= site.max_current_a + 1e-9


def test_fallback_takes_the_lowest_connector_of_a_charge_point_and_its_own_limit():
    connectors = [
        ConnectorInfo("X", 1, 32.0),
        ConnectorInfo("X", 2, 10.0),
        ConnectorInfo("Y", 1, 32.0),
        ConnectorInfo("U", 1, 16.0, managed=False),
    ]
    # U (unmanaged) takes 16 of 63: 47 left; X2 at 10, X1 and Y share 37: 18.5 each. X's profile covers both.
    assert fallback_limits(SiteLimit(63), connectors) == {"X": 10.0, "Y": 18.5}
    assert fallback_limits(SiteLimit(63), connectors, charge_point_limits={"Y": 12.0}) == {"X": 10.0, "Y": 12.0}


def test_fallback_below_the_minimum_is_zero():
    connectors = [ConnectorInfo(f"CP{i}", 1, 32.0) for i in range(20)]
    assert set(fallback_limits(SiteLimit(63), connectors).values()) == {0.0}  # 3.1 A each: 0
    assert fallback_limits(SiteLimit(63), connectors[:10]) == {f"CP{i}": 6.3 for i in range(10)}


def test_fallback_respects_phases():
    connectors = [
        ConnectorInfo("A", 1, 32.0, phases=(1,)),
        ConnectorInfo("B", 1, 32.0, phases=(1,)),
        ConnectorInfo("C", 1, 32.0, phases=(2,)),
    ]
    assert fallback_limits(SiteLimit(40), connectors, external_load_a=(10.0, 0, 0)) == {"A": 15.0, "B": 15.0, "C": 32.0}


# ----------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "site,sessions,kw,message",
    [
        (SiteLimit(32, phases=2), [], {}, "1 or 3 phases"),
        (SiteLimit(-1), [], {}, "0 A or more"),
        (SiteLimit(32), [session("a", phases=(1, 4))], {}, "phases must be"),
        (SiteLimit(32), [session("a", phases=())], {}, "phases must be"),
        (SiteLimit(32), [session("a", phases=(1, 1))], {}, "phases must be"),
        (SiteLimit(32), [session("a"), session("a", 1)], {}, "unique"),
        (SiteLimit(32), [session("a", max_a=-3)], {}, "0 A or more"),
        (SiteLimit(32), [], {"external_load_a": (1, 2, 3, 4)}, "4 values"),
        (SiteLimit(32), [], {"external_load_a": (-1,)}, "0 A or more"),
        (SiteLimit(32), [session("a", measured_a=(1.0, 2.0))], {"previous": {}}, "one value per phase"),
        (SiteLimit(32), [session("a", measured_a=(float("nan"),))], {}, "0 A or more"),
        (SiteLimit(32), [], {"charge_point_limits": {"X": -1}}, "0 A or more"),
    ],
)
def test_nonsense_is_refused_with_a_reason(site, sessions, kw, message):
    with pytest.raises(ValueError, match=message):
        allocate(site, sessions, now=T0, **kw)


# ----------------------------------------------------------------------------------------------- properties

PHASE_SETS = st.sampled_from([(1,), (2,), (3,), (1, 2), (1, 2, 3), (2, 3, 1)])
AMPS = st.floats(min_value=0, max_value=80, allow_nan=False).map(lambda a: round(a, 2))


@st.composite
def scenarios(draw):
    site = SiteLimit(draw(AMPS), draw(st.sampled_from([1, 3])), draw(st.sampled_from([0.0, 6.0, 8.0, 6.05])))
    n = draw(st.integers(0, 12))
    sessions, previous = [], {}
    for i in range(n):
        phases = draw(PHASE_SETS)
        measured = draw(st.none() | st.tuples(*[AMPS for _ in phases]))
        sessions.append(
            ActiveSession(
                key=i,
                started_at=T0 + timedelta(seconds=draw(st.integers(0, 3600))),
                charger_max_a=draw(AMPS),
                phases=phases,
                ev_max_a=draw(st.none() | AMPS),
                measured_a=measured,
                priority=draw(st.integers(0, 2)),
                charge_point=draw(st.sampled_from([None, "X", "Y", "Z"])),
                managed=draw(st.booleans() | st.just(True)),
            )
        )
        if draw(st.booleans()):
            previous[i] = SessionState(draw(AMPS), draw(st.none() | st.just(T0)), draw(st.none() | AMPS))
    cp_limits = draw(st.dictionaries(st.sampled_from(["X", "Y"]), AMPS, max_size=2))
    external = draw(st.none() | st.lists(AMPS, max_size=site.phases))
    return site, sessions, previous, cp_limits, external


def tenths(a: float) -> int:
    """An allocation's amperes as whole tenths (failing if it is not a multiple of 0.1 A)."""
    t = round(a * 10)
    assert abs(a * 10 - t) < 1e-6, f"{a} is not a multiple of 0.1 A"
    return t


def floor_tenths(a: float) -> int:
    return math.floor(round(a * 10, 6))


def phases_of(site, s):
    return [0] if site.phases == 1 else sorted(p - 1 for p in s.phases)


@settings(max_examples=property_examples(400), deadline=None)
@given(scenarios())
def test_properties_of_every_allocation(scenario):
    site, sessions, previous, cp_limits, external = scenario
    result = allocate(
        site,
        sessions,
        now=T0 + timedelta(minutes=5),
        previous=previous,
        charge_point_limits=cp_limits,
        external_load_a=external,
    )
    minimum = floor_tenths(site.min_current_a)
    managed_use, unmanaged_use = [0] * site.phases, [0] * site.phases
    cp_managed, cp_unmanaged = {}, {}
    for s in sessions:
        out = result[s.key]
        t = tenths(out.limit_a)
        own_max = s.charger_max_a if s.ev_max_a is None else min(s.charger_max_a, s.ev_max_a)
        assert t <= floor_tenths(own_max)
        if s.managed:
            assert t == 0 or t >= minimum, (out, minimum)  # never between 0 and the minimum
        use, cp_use = (managed_use, cp_managed) if s.managed else (unmanaged_use, cp_unmanaged)
        for p in phases_of(site, s):
            use[p] += t
            if s.charge_point in cp_limits:
                cp_use[(s.charge_point, p)] = cp_use.get((s.charge_point, p), 0) + t
    available = [tenths(a) for a in result.available_a]
    assert available == [
        max(0, floor_tenths(site.max_current_a) - math.ceil(round(e * 10, 6)))
        for e in (list(external or []) + [0.0] * 3)[: site.phases]
    ]
    for p in range(site.phases):
        # Managed sessions never take more than the room that the limit, external load and unmanaged leave.
        assert managed_use[p] <= max(0, available[p] - unmanaged_use[p])
        assert tenths(result.allocated_a[p]) == managed_use[p] + unmanaged_use[p]
    for (cp, p), used in cp_managed.items():
        assert used <= max(0, floor_tenths(cp_limits[cp]) - cp_unmanaged.get((cp, p), 0))
    assert result.overloaded == any(unmanaged_use[p] > available[p] for p in range(site.phases)) or any(
        floor_tenths(site.max_current_a) < math.ceil(round(e * 10, 6)) for e in external or []
    )


@settings(max_examples=property_examples(300), deadline=None)
@given(scenarios())
def test_nobody_is_left_short_while_their_rooms_have_space(scenario):
    """Work-conserving: a charging managed session under its own maximum (no under-use memory) draws from a
    phase or a charge point with no tenth left."""
    site, sessions, _, cp_limits, external = scenario
    sessions = [s for s in sessions if s.managed]
    result = allocate(site, sessions, now=T0, charge_point_limits=cp_limits, external_load_a=external)
    available = [tenths(a) for a in result.available_a]
    phase_use = [tenths(a) for a in result.allocated_a]
    cp_use: dict = {}
    for s in sessions:
        for p in phases_of(site, s):
            cp_use[(s.charge_point, p)] = cp_use.get((s.charge_point, p), 0) + tenths(result[s.key].limit_a)
    for s in sessions:
        out = result[s.key]
        if out.limit_a == 0 or out.reason is not Reason.SHARE:
            continue
        full_phase = any(phase_use[p] == available[p] for p in phases_of(site, s))
        full_cp = s.charge_point in cp_limits and any(
            cp_use[(s.charge_point, p)] == floor_tenths(cp_limits[s.charge_point]) for p in phases_of(site, s)
        )
        assert full_phase or full_cp, (s, out, available, phase_use)


@settings(max_examples=property_examples(300), deadline=None)
@given(scenarios())
def test_an_older_session_is_never_paused_for_a_newer_one_in_the_same_place(scenario):
    site, sessions, _, cp_limits, external = scenario
    sessions = [s for s in sessions if s.managed]
    result = allocate(site, sessions, now=T0, charge_point_limits=cp_limits, external_load_a=external)
    for old in sessions:
        if result[old.key].reason is not Reason.PAUSED:
            continue
        for new in sessions:
            same_place = (
                phases_of(site, new) == phases_of(site, old)
                and new.charge_point == old.charge_point
                and new.priority == old.priority
            )
            if same_place and (new.started_at, str(new.key)) > (old.started_at, str(old.key)):
                assert result[new.key].limit_a == 0, (old, new)


def test_a_start_or_a_stop_among_many_changes_few_limits():
    """80 equal sessions share 800 A (10 A each); an 81st starts, then one stops. Each time the limits stay
    within 0.5 A of each other and within the site, and only about a score of them change (each change is a
    SetChargingProfile): to the tenth, every one of them would."""
    site = SiteLimit(800)
    fleet = [session(n, n) for n in range(81)]

    def run(sessions, previous=None):
        result = allocate(site, sessions, now=T0 + timedelta(hours=1), previous=previous)
        return result.limits(), result.states()

    before, states = run(fleet[:80])
    assert set(before.values()) == {10.0}
    after, states = run(fleet, states)
    assert sum(after.values()) <= 800 and max(after.values()) - min(after.values()) <= 0.5
    assert sum(1 for k in before if before[k] != after[k]) <= 25
    later, _ = run(fleet[1:], states)
    assert sum(later.values()) <= 800 and max(later.values()) - min(later.values()) <= 0.5
    assert sum(1 for k in later if later[k] != after[k]) <= 25
