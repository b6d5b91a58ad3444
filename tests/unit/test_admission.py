"""Admission control (cms.admission): a few handshakes at a time, the next ones wait their turn in order for a
short while, and only then are refused."""

from __future__ import annotations

import threading
import time

import pytest

from cms.admission import Admission, handshake_identity


def _enter_in_thread(gate: Admission, wait: float, got: list, name: str) -> threading.Thread:
    def run():
        ticket = gate.enter(wait)
        got.append((name, ticket))

    t = threading.Thread(target=run)
    t.start()
    return t


def _until(predicate, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert predicate()


def test_a_handshake_waits_for_a_place_and_gets_it_when_one_is_released():
    gate = Admission(1)
    held = gate.enter()
    got: list = []
    t = _enter_in_thread(gate, 5.0, got, "next")
    _until(lambda: gate.waiting == 1)
    assert got == []
    held.release()
    t.join(2)
    assert got and got[0][1] is not None
    assert gate.in_progress == 1 and gate.refused == 0


def test_waiting_handshakes_get_their_places_first_come_first_served():
    gate = Admission(1)
    held = gate.enter()
    got: list = []
    first = _enter_in_thread(gate, 5.0, got, "first")
    _until(lambda: gate.waiting == 1)
    second = _enter_in_thread(gate, 5.0, got, "second")
    _until(lambda: gate.waiting == 2)
    assert gate.enter() is None  # a newcomer that will not wait does not jump the queue
    held.release()
    first.join(2)
    assert [name for name, _ in got] == ["first"]
    got[0][1].release()
    second.join(2)
    assert [name for name, _ in got] == ["first", "second"]


def test_a_handshake_that_gets_no_place_in_time_is_refused():
    gate = Admission(1)
    held = gate.enter()
    started = time.monotonic()
    assert gate.enter(0.2) is None
    assert time.monotonic() - started >= 0.19
    assert gate.refused == 1 and gate.waiting == 0
    held.release()
    assert gate.enter() is not None


def test_no_limit_admits_everyone_at_once():
    gate = Admission(0)
    tickets = [gate.enter() for _ in range(1000)]
    assert all(tickets) and gate.refused == 0


@pytest.mark.parametrize(
    ("head", "identity"),
    [
        (b"GET /ocpp/CP-1 HTTP/1.1\r\nHost: x\r\n", "CP-1"),
        (b"GET /ocpp/CP-1?token=1 HTTP/1.1\r\n", "CP-1"),
        (b"GET /ocpp/site%2FCP%20%C3%A9 HTTP/1.1\r\n", "site/CP \u00e9"),  # decoded as the route reads it
        (b"GET /ocpp/site/CP-2 HTTP/1.1", "site/CP-2"),
        (b"GET /ocpp/CP-1", None),  # the request line goes on in a later segment: not known yet
        (b"GET /ocpp/ HTTP/1.1\r\n", None),
        (b"GET /ocp", None),
        (b"GET /healthz HTTP/1.1\r\n", None),
        (b"POST /ocpp/CP-1 HTTP/1.1\r\n", None),
        (b"", None),
    ],
)
def test_the_identity_a_handshake_names_is_read_from_its_request_line(head, identity):
    """The worker picks a handshake's gate by the charger it names, before the request is parsed."""
    assert handshake_identity(head) == identity
