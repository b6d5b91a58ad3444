"""Admission control in the production server (issue 12, reconnect storms): the worker puts a charger's
handshake in turn before parsing it, a handshake keeps its place until its connection is open (or ADMITTED_HOLD_S,
if it stalls), and one that gets no place within CMS_HANDSHAKE_WAIT_SECONDS is answered HTTP 503 with
Retry-After at once."""

from __future__ import annotations

import socket
import time

import pytest

from cms.admission import ADMITTED_HOLD_S
from tests.support.processes import WS_UPGRADE, gunicorn_on_sqlite, masked_text_frame

WAIT_S = 2.0
SETTLE_S = 1.0  # for the worker to accept and admit a connection before the next one, on a loaded CI machine


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn-admission")
    settings = {
        "CMS_MAX_PENDING_HANDSHAKES": "1",
        "CMS_MAX_PENDING_KNOWN_HANDSHAKES": "1",
        "CMS_HANDSHAKE_WAIT_SECONDS": str(WAIT_S),
    }
    with gunicorn_on_sqlite(tmp, ("ADM-1", "ADM-2", "ADM-3"), **settings) as (base, _env):
        for identity in (b"ADM-1", b"ADM-2", b"ADM-3"):  # each known to the worker from here on
            s, answer = _knock(base, identity)
            s.close()
            assert answer.startswith(b"HTTP/1.1 101 "), answer
        yield base


def _read_head(s: socket.socket) -> bytes:
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def _knock(base: str, identity: bytes) -> tuple[socket.socket, bytes]:
    s = _begin(base, identity, WS_UPGRADE % identity)
    return s, _read_head(s)


def _begin(base: str, identity: bytes, request: bytes) -> socket.socket:
    host, port = base.split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(request)
    return s


BOOT = b'[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'


def test_a_handshake_waits_its_turn_then_is_refused_with_503_and_an_open_connection_frees_the_place(server):
    upgrade = WS_UPGRADE % b"ADM-1"
    # Half a request: the worker admitted it (it begins like a charger's handshake) and waits for the rest.
    first = _begin(server, b"ADM-1", upgrade[:40])
    try:
        time.sleep(SETTLE_S)
        started = time.monotonic()
        second, answer = _knock(server, b"ADM-2")
        waited = time.monotonic() - started
        second.close()
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"Retry-After: 5" in answer
        assert WAIT_S * 0.9 <= waited < WAIT_S + 3, waited
        first.sendall(upgrade[40:])
        assert _read_head(first).startswith(b"HTTP/1.1 101 ")
        # Open: the place is free again before the charger says anything.
        third, answer = _knock(server, b"ADM-3")
        third.close()
        assert answer.startswith(b"HTTP/1.1 101 "), answer
        first.sendall(masked_text_frame(BOOT))
        assert b"Accepted" in first.recv(4096)
    finally:
        first.close()


def test_a_handshake_split_before_its_path_still_waits_its_turn(server):
    """A request whose first segment ends before ``GET /ocpp/`` is complete is a charger's handshake all the
    same: it waits for the place (and gets it when the holder's connection opens), not refused at once."""
    upgrade = WS_UPGRADE % b"ADM-1"
    first = _begin(server, b"ADM-1", upgrade[:40])  # holds the only place
    split = WS_UPGRADE % b"ADM-2"
    second = None
    try:
        time.sleep(SETTLE_S)
        second = _begin(server, b"ADM-2", split[:6])
        time.sleep(0.3)
        second.sendall(split[6:])
        time.sleep(0.3)  # its request is whole: it waits its turn (before the fix: HTTP 503 by now)
        first.sendall(upgrade[40:])
        assert _read_head(first).startswith(b"HTTP/1.1 101 ")
        answer = _read_head(second)
        assert answer.startswith(b"HTTP/1.1 101 "), answer
    finally:
        first.close()
        if second is not None:
            second.close()


def test_chargers_the_worker_knows_and_chargers_it_must_look_up_wait_in_gates_of_their_own(server):
    """A charger the handshake cache knows needs no database: it does not wait behind handshakes that read
    theirs, nor they behind it; each gate keeps its own limit (here one place each)."""
    known = _begin(server, b"ADM-1", (WS_UPGRADE % b"ADM-1")[:40])  # holds the known chargers' place
    looked_up = _begin(server, b"NEW-1", (WS_UPGRADE % b"NEW-1")[:40])  # holds the other place
    try:
        time.sleep(SETTLE_S)
        started = time.monotonic()
        other, answer = _knock(server, b"ADM-2")  # known, though both places are taken: waits, refused
        other.close()
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert time.monotonic() - started >= WAIT_S * 0.9
        looked_up.close()  # the request ends before the endpoint: its place is free at once
        time.sleep(0.3)
        unknown, answer = _knock(server, b"NEW-2")  # not registered: its own gate, not ADM-1's
        unknown.close()
        assert answer.startswith(b"HTTP/1.1 404 "), answer  # behind ADM-1 it would have been refused (503)
    finally:
        known.close()
        looked_up.close()


def test_a_handshake_that_stalls_frees_its_place_after_the_hold(server):
    stalled = _begin(server, b"ADM-1", (WS_UPGRADE % b"ADM-1")[:40])
    try:
        time.sleep(ADMITTED_HOLD_S + 0.5)
        other, answer = _knock(server, b"ADM-2")
        other.close()
        assert answer.startswith(b"HTTP/1.1 101 "), answer
    finally:
        stalled.close()


def test_other_requests_are_not_held_by_admission_control(server):
    first, answer = _knock(server, b"ADM-1")
    try:
        assert answer.startswith(b"HTTP/1.1 101 "), answer
        host, port = server.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            started = time.monotonic()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
            assert time.monotonic() - started < WAIT_S
    finally:
        first.close()
