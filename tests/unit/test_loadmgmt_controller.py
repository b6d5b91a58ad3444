"""The load management controller and profile builder, alone: from a station's snapshot to the profiles to send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from cms.loadmgmt.controller import plan
from cms.loadmgmt.profiles import tenth_down, tx_default_profile, tx_profile
from cms.loadmgmt.state import ChargePointInfo, LimitSettings, SessionInfo, StationSnapshot

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def cp(id_: int, *, version="1.6", max_a=None, refused=False, connectors=(1,), default=None, owner_stack=-1):
    return ChargePointInfo(id_, f"CP{id_}", version, max_a, refused, connectors, owner_stack, default, True)


def session(tx: int, cp_id: int, *, minutes_ago: int = 10, status="Charging", measured=None):
    return SessionInfo(tx, cp_id, 1, NOW - timedelta(minutes=minutes_ago), status, measured, None)


def snapshot(limit_a: float, cps, sessions, previous=None, phases=3, external=()):
    return StationSnapshot(
        1,
        1,
        NOW,
        LimitSettings(True, limit_a, phases, 6.0, 230.0, tuple(external), None),
        {c.id: c for c in cps},
        sessions,
        previous or {},
    )


def sent(limit: float, *, limit_a=None):
    return SimpleNamespace(
        sent_limit_a=limit, limit_a=limit if limit_a is None else limit_a, low_since=None, cap_a=None
    )


def test_profile_payloads():
    assert tenth_down(6.6666) == 6.6 and tenth_down(0.3 * 3) == 0.9 and tenth_down(-1) == 0.0
    assert tx_profile(2, 77, 10.05, 3, owner_stack_level=4)["csChargingProfiles"] == {
        "chargingProfileId": 7_000_002,
        "transactionId": 77,
        "stackLevel": 5,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0, "numberPhases": 3}],
        },
    }
    assert tx_default_profile(8.0, 1)["connectorId"] == 0


def test_equal_shares_and_nothing_resent_when_unchanged():
    p = plan(snapshot(32, [cp(1), cp(2)], [session(10, 1), session(11, 2)]))
    assert [(s.limit_a, s.payload is not None) for s in p.sessions] == [(16.0, True), (16.0, True)]
    assert [d.limit_a for d in p.defaults] == [16.0, 16.0]
    again = plan(
        snapshot(
            32,
            [cp(1, default=16.0), cp(2, default=16.0)],
            [session(10, 1), session(11, 2)],
            {10: sent(16.0), 11: sent(16.0)},
        )
    )
    assert [s.payload for s in again.sessions] == [None, None] and again.defaults == []


def test_lowered_limits_are_marked_to_go_first():
    p = plan(
        snapshot(
            32,
            [cp(1, default=10.6), cp(2, default=10.6), cp(3, default=10.6)],
            [session(10, 1, minutes_ago=20), session(11, 2, minutes_ago=10), session(12, 3, minutes_ago=1)],
            {10: sent(16.0), 11: sent(16.0)},
        )
    )
    by_tx = {s.session.transaction_id: s for s in p.sessions}
    assert (by_tx[10].limit_a, by_tx[10].lowers) == (10.7, True)
    assert (by_tx[11].limit_a, by_tx[11].lowers) == (10.7, True)
    assert (by_tx[12].limit_a, by_tx[12].lowers) == (10.6, False)  # from its fallback of 10.6: no lower


def test_unmanaged_chargers_are_counted_at_their_maximum_and_sent_nothing():
    p = plan(
        snapshot(
            40,
            [cp(1), cp(2, version="1.5", max_a=16), cp(3, refused=True)],
            [session(10, 1), session(11, 2), session(12, 3)],
        )
    )
    by_tx = {s.session.transaction_id: s for s in p.sessions}
    assert (by_tx[11].limit_a, by_tx[11].payload) == (16.0, None)
    assert (by_tx[12].limit_a, by_tx[12].payload) == (32.0, None)  # no limit of its own: 32 A
    assert by_tx[10].limit_a == 0.0  # 40 - 16 - 32 < 0: nothing left, it waits
    assert [d.charge_point.id for d in p.defaults] == [1]


def test_a_car_that_is_done_is_held_at_the_minimum_and_the_rest_goes_to_the_others():
    p = plan(snapshot(32, [cp(1), cp(2)], [session(10, 1), session(11, 2, status="SuspendedEV")]))
    assert [s.limit_a for s in p.sessions] == [26.0, 6.0]


def test_owner_profiles_raise_the_stack_level_and_external_load_comes_off():
    p = plan(snapshot(32, [cp(1, owner_stack=3)], [session(10, 1)], external=(2.0, 12.05, 0)))
    assert p.sessions[0].payload["csChargingProfiles"]["stackLevel"] == 4
    assert p.sessions[0].limit_a == 19.9


def test_a_booted_charger_gets_its_fallback_even_when_unchanged():
    p = plan(snapshot(32, [cp(1, default=32.0)], []), force_defaults=frozenset({1}))
    assert [(d.charge_point.id, d.payload) for d in p.defaults] == [(1, tx_default_profile(32.0, 3))]


def _worst_draw(cps, sessions, session_limits: dict, defaults: dict) -> float:
    """What the site draws when every session takes its limit and a session starts on every idle connector
    (drawing its charge point's fallback); a session without a limit draws the fallback too."""
    busy = {(s.charge_point_id, s.connector_id): s.transaction_id for s in sessions}
    total = 0.0
    for c in cps:
        for connector in c.connector_ids:
            tx = busy.get((c.id, connector))
            own = session_limits.get(tx) if tx is not None else None
            total += own if own is not None else defaults[c.id]
    return total


def test_a_session_starting_anywhere_cannot_take_the_site_over_its_limit():
    """Two of four chargers share 63 A; the other two hold the all-charging fallback (15.7 A). Before, a car
    plugged into either started at 15.7 A on top of 63 A; now the fallbacks shrink to what the sessions leave,
    and while a newcomer's share is sent the others are lowered first."""
    cps = [cp(n, default=15.7) for n in (1, 2, 3, 4)]
    sessions = [session(10, 1, minutes_ago=20), session(11, 2, minutes_ago=10)]
    before = {10: 31.5, 11: 31.5}
    p = plan(snapshot(63, cps, sessions, {10: sent(31.5), 11: sent(31.5)}))
    assert [s.payload for s in p.sessions] == [None, None]
    fallbacks = {c.id: c.default_limit_a for c in cps} | {d.charge_point.id: d.limit_a for d in p.defaults}
    assert fallbacks == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}  # 63 A taken: a newcomer waits for its share
    assert _worst_draw(cps, sessions, before, fallbacks) <= 63
    lowers, raises = p.steps()
    assert raises == [] and {d.charge_point.id for d in lowers} == {1, 2, 3, 4}

    # A car starts on charger 3: the two are lowered to 21 A first, then the newcomer raised to 21 A.
    cps = [cp(n, default=0.0) for n in (1, 2, 3, 4)]
    sessions = [*sessions, session(12, 3, minutes_ago=0)]
    p = plan(snapshot(63, cps, sessions, {10: sent(31.5), 11: sent(31.5)}))
    lowers, raises = p.steps()
    assert [(x.session.transaction_id, x.limit_a) for x in lowers] == [(10, 21.0), (11, 21.0)]
    assert [(x.session.transaction_id, x.limit_a) for x in raises] == [(12, 21.0)]
    assert p.defaults == []  # still no room for a fourth to start on
    fallbacks = {c.id: 0.0 for c in cps}
    halfway = {10: 21.0, 11: 21.0, 12: None}  # lowered, newcomer still at its fallback
    assert _worst_draw(cps, sessions, halfway, fallbacks) <= 63
    assert _worst_draw(cps, sessions, {10: 21.0, 11: 21.0, 12: 21.0}, fallbacks) <= 63


def test_fallbacks_rise_only_after_the_sessions_are_lowered():
    """Two sessions stop: the one left rises to 32 A and the idle chargers' fallbacks to what it leaves, both in
    the second step. Its own charger, busy, keeps its 0 A (nothing can start there before a stop)."""
    cps = [cp(1, default=0.0), cp(2, default=0.0), cp(3, default=0.0)]
    p = plan(snapshot(63, cps, [session(10, 1)], {10: sent(21.0)}))
    lowers, raises = p.steps()
    assert lowers == []
    assert [(getattr(x, "session", None) and x.session.transaction_id, x.limit_a) for x in raises] == [
        (None, 15.5),
        (None, 15.5),
        (10, 32.0),
    ]
    assert [d.charge_point.id for d in p.defaults] == [2, 3]
