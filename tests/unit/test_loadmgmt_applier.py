"""The applier's two steps with a stand-in dispatcher: limits that go down first, and nothing raised while one
of them is unanswered (the room the raises count on may still be in use)."""

from __future__ import annotations

from types import SimpleNamespace

from cms.gateway import ChargerNotConnected
from cms.loadmgmt.applier import Applier
from cms.loadmgmt.controller import plan
from tests.unit.test_loadmgmt_controller import cp, sent, session, snapshot


class Dispatcher:
    """Answers SetChargingProfile like chargers would; ``away`` ones are not connected. Keeps the order."""

    def __init__(self, away=()):
        self.away = set(away)
        self.sent: list[tuple[str, float]] = []

    def route(self, identity, action, payload, timeout=None):
        if identity in self.away:
            raise ChargerNotConnected(identity)
        limit = payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
        self.sent.append((identity, limit))
        return {"status": "Accepted"}


def _newcomer_plan():
    # CP1 and CP2 share 63 A (31.5 A each); a car starts on CP3: both go down to 21 A, then it goes up to 21 A.
    cps = [cp(n, default=0.0) for n in (1, 2, 3)]
    sessions = [session(10, 1, minutes_ago=20), session(11, 2, minutes_ago=10), session(12, 3, minutes_ago=0)]
    return plan(snapshot(63, cps, sessions, {10: sent(31.5), 11: sent(31.5)}))


def test_lowered_limits_are_accepted_before_any_goes_up():
    dispatcher = Dispatcher()
    applier = Applier(SimpleNamespace(dispatcher=dispatcher), concurrency=4)
    try:
        outcome, calls, accepted = applier._send(_newcomer_plan())
    finally:
        applier.close()
    assert sorted(dispatcher.sent[:2]) == [("CP1", 21.0), ("CP2", 21.0)] and dispatcher.sent[2:] == [("CP3", 21.0)]
    assert (outcome.accepted, outcome.deferred, accepted) == (3, False, {10: 21.0, 11: 21.0, 12: 21.0})
    assert len(calls) == 3


def test_nothing_goes_up_while_a_lowered_limit_is_unanswered():
    dispatcher = Dispatcher(away={"CP2"})  # CP2 may still draw 31.5 A
    applier = Applier(SimpleNamespace(dispatcher=dispatcher), concurrency=4)
    try:
        outcome, calls, accepted = applier._send(_newcomer_plan())
    finally:
        applier.close()
    assert dispatcher.sent == [("CP1", 21.0)]  # the newcomer waits: 31.5 + 21 + 21 would exceed 63 A
    assert (outcome.failed, outcome.deferred, accepted) == (1, True, {10: 21.0})
