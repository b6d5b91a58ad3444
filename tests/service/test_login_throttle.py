"""The log-in throttle of the core (cms.login_throttle) with explicit clocks: who waits how long, who is let in,
and who is mailed when."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cms import mail
from cms.login_throttle import ALERT_SUBJECT, LoginThrottle, TooManyAttempts, backoff_delay, describe_wait
from cms.models import LoginAttempt, User, utcnow

ATTACKER, OWNER_ADDR = "203.0.113.66", "198.51.100.7"


@pytest.fixture
def throttle(rt):
    rt.settings.login_max_failures, rt.settings.login_backoff_seconds, rt.settings.login_window_seconds = 5, 15, 900
    return LoginThrottle(rt.settings, rt.mailer)


@pytest.fixture
def attempt(rt, throttle):
    """``attempt(email, addr, ok, at)``: check, then record a try at ``at``; returns the wait refused, else 0."""

    def _attempt(email: str, addr: str, ok: bool, at) -> int:
        with rt.db.uow() as uow:
            try:
                throttle.check(uow.session, email, addr, at)
            except TooManyAttempts as e:
                return e.retry_after
            user = uow.session.scalar(select(User).where(User.email == email))
            throttle.record(uow.session, email, addr, user, ok, at)
            uow.commit()
        return 0

    return _attempt


def test_backoff_delay_doubles_past_the_free_failures_up_to_the_longest():
    assert [backoff_delay(n, 5, 15, 900) for n in range(4, 13)] == [0, 15, 30, 60, 120, 240, 480, 900, 900]
    assert describe_wait(1) == "1 second" and describe_wait(45) == "45 seconds" and describe_wait(121) == "3 minutes"


def test_delays_grow_with_each_failure_and_throttled_tries_do_not_count(attempt, owner):
    t = utcnow()
    for i in range(5):
        assert attempt(owner.email, ATTACKER, False, t + timedelta(seconds=i)) == 0
    last = t + timedelta(seconds=4)
    # The sixth try waits 15 s after the fifth failure, whatever the password; hammering meanwhile changes nothing.
    for s in (0, 5, 14):
        assert attempt(owner.email, ATTACKER, True, last + timedelta(seconds=s)) == 15 - s
    waits = []
    for _ in range(4):  # each failure, tried as soon as allowed, doubles the next wait: 15, 30, 60, 120
        delay = attempt(owner.email, ATTACKER, False, last)
        waits.append(delay)
        last = last + timedelta(seconds=delay)
        assert attempt(owner.email, ATTACKER, False, last) == 0
    assert waits == [15, 30, 60, 120]
    assert attempt(owner.email, ATTACKER, True, last + timedelta(seconds=1)) == 239


def _failures_from(rt, addr) -> int:
    with rt.db.uow() as uow:
        return uow.session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.remote_addr == addr, LoginAttempt.succeeded.is_(False))
        )


def test_the_right_password_from_an_address_that_has_not_failed_goes_straight_in(rt, attempt, owner):
    t = utcnow()
    for i in range(12):  # one guess a minute, as far as the growing delays let them through
        attempt(owner.email, ATTACKER, False, t + timedelta(minutes=i))
    kept = _failures_from(rt, ATTACKER)
    assert kept >= 8
    assert attempt(owner.email, ATTACKER, True, t + timedelta(minutes=11, seconds=1)) > 0
    assert attempt(owner.email, OWNER_ADDR, True, t + timedelta(minutes=11, seconds=1)) == 0
    # The owner's success forgets nothing of the attacker's failures: the attacker still waits.
    assert _failures_from(rt, ATTACKER) == kept
    assert attempt(owner.email, ATTACKER, True, t + timedelta(minutes=11, seconds=2)) > 0


def test_a_success_forgets_only_its_own_address_failures(attempt, owner):
    t = utcnow()
    for i in range(4):
        attempt(owner.email, OWNER_ADDR, False, t + timedelta(seconds=i))
    assert attempt(owner.email, OWNER_ADDR, True, t + timedelta(seconds=5)) == 0
    for i in range(5):  # a fresh start: five free failures again
        assert attempt(owner.email, OWNER_ADDR, False, t + timedelta(seconds=6 + i)) == 0
    assert attempt(owner.email, OWNER_ADDR, False, t + timedelta(seconds=12)) > 0


def test_one_address_trying_many_accounts_is_slowed_too(attempt):
    t = utcnow()
    for i in range(20):  # one failure each for twenty accounts: the per-account count never trips
        assert attempt(f"user{i}@example.com", ATTACKER, False, t + timedelta(seconds=i)) == 0
    assert attempt("user99@example.com", ATTACKER, False, t + timedelta(seconds=20)) == 15 - 1
    assert attempt("user99@example.com", OWNER_ADDR, False, t + timedelta(seconds=20)) == 0


def test_failures_older_than_the_window_are_forgotten(attempt, owner):
    t = utcnow()
    for i in range(9):
        attempt(owner.email, ATTACKER, False, t + timedelta(seconds=i * 500))
    # Only the failures of the last 900 s count: two, so no wait.
    assert attempt(owner.email, ATTACKER, False, t + timedelta(seconds=8 * 500 + 1)) == 0


def _alerts(rt, email):
    with rt.db.uow() as uow:
        return [m for m in mail.outbox(uow.session, recipient=email) if m["subject"] == ALERT_SUBJECT]


def test_the_holder_is_mailed_once_per_window_about_repeated_failures(rt, attempt, owner):
    t = utcnow()
    for i in range(4):
        attempt(owner.email, ATTACKER if i % 2 else OWNER_ADDR, False, t + timedelta(seconds=i))
    assert _alerts(rt, owner.email) == []
    attempt(owner.email, "192.0.2.1", False, t + timedelta(seconds=4))  # the fifth, from anywhere
    [alert] = _alerts(rt, owner.email)
    assert "5 times" in alert["body"] and ATTACKER in alert["body"] and "192.0.2.1" in alert["body"]
    assert "still log in" in alert["body"]
    for i in range(5, 10):  # more failures in the same window: no more mail
        attempt(owner.email, f"192.0.2.{i}", False, t + timedelta(seconds=60 * i))
    assert len(_alerts(rt, owner.email)) == 1
    later = t + timedelta(seconds=901)  # the next window: mailed again once it collects enough failures
    for i in range(5):
        attempt(owner.email, f"192.0.2.{20 + i}", False, later + timedelta(seconds=i))
    assert len(_alerts(rt, owner.email)) == 2


def test_no_mail_for_an_unknown_account(rt, attempt):
    t = utcnow()
    for i in range(6):
        attempt("nobody@example.com", f"192.0.2.{i}", False, t + timedelta(seconds=i))
    assert _alerts(rt, "nobody@example.com") == []


def test_only_one_process_claims_the_mail_of_a_window(app_config, rt, throttle, owner):
    """Two apps (processes) on the same database: the first claim wins, the second sees it."""
    from app import create_app

    other = create_app(app_config)
    try:
        now, cutoff = utcnow(), utcnow() - timedelta(seconds=900)
        with rt.db.uow() as a:
            assert throttle._claim_alert(a.session, owner.email, now, cutoff) is True
            a.commit()
        with other.extensions["cms"].db.uow() as b:
            assert LoginThrottle._claim_alert(b.session, owner.email, now, cutoff) is False
        with other.extensions["cms"].db.uow() as b:  # after the window, the row is claimed again
            assert (
                LoginThrottle._claim_alert(
                    b.session, owner.email, now + timedelta(seconds=901), cutoff + timedelta(seconds=901)
                )
                is True
            )
    finally:
        other.extensions["cms"].db.dispose()
