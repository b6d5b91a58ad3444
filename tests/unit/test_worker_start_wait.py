"""A starting worker waits for a database or Redis that does not answer (issue 12: a worker restarted while
the database's connections were cut stopped the whole server); anything else wrong fails at once."""

from __future__ import annotations

import pytest

from cms import preflight
from cms.config import Settings, StartupError


def test_unreachable_is_tried_again_until_it_answers(monkeypatch):
    answers = [preflight.Unreachable("cannot reach the database"), preflight.Unreachable("still not"), ["a warning"]]

    def check(settings):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(preflight, "check", check)
    retries = []
    result = preflight.check_until_reachable(Settings(), 30, sleep=lambda s: None, on_retry=retries.append)
    assert result == ["a warning"] and len(retries) == 2


def test_unreachable_for_too_long_fails(monkeypatch):
    def check(settings):
        raise preflight.Unreachable("cannot reach Redis")

    monkeypatch.setattr(preflight, "check", check)
    with pytest.raises(preflight.Unreachable):
        preflight.check_until_reachable(Settings(), 0, sleep=lambda s: None)


def test_other_startup_errors_fail_at_once(monkeypatch):
    calls = []

    def check(settings):
        calls.append(1)
        raise StartupError("no CMS tables yet: run `cms db upgrade`")

    monkeypatch.setattr(preflight, "check", check)
    with pytest.raises(StartupError):
        preflight.check_until_reachable(Settings(), 30, sleep=lambda s: None)
    assert calls == [1]
