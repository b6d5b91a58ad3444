"""The production server (gunicorn + gevent) on SQLite: WebSocket connections outlive their WSGI request.

Under gevent each connection is taken over by a greenlet of its own and the request ends (json_ws/wsloop.py);
these tests hold that path to what the threaded test server shows for the request-bound path.
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
import requests
from ocpp.v16 import call

from tests.support.charger import ChargerClient
from tests.support.processes import WS_UPGRADE, gunicorn_on_sqlite, masked_text_frame, run_cms


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    chargers = ("GUN-1", "GUN-2", "GUN-MUTE", "GUN-BIG", "GUN-TALK")
    with gunicorn_on_sqlite(tmp, chargers, CMS_WS_PING_INTERVAL="0.5", CMS_CALL_TIMEOUT="5") as (base, env):
        token = run_cms(env, "token", "create", "ops@example.com")
        yield base, {"Authorization": f"Bearer {token}"}


def _connected(base, headers, identity) -> bool:
    r = requests.get(f"http://{base}/api/v1/charge-points/{identity}", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["connected"]


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_session_and_commands_over_a_detached_connection(server):
    base, headers = server
    with ChargerClient(f"ws://{base}", "GUN-1") as charger:
        assert charger.boot().status == "Accepted"
        for _ in range(3):
            charger.call(call.Heartbeat())
        r = requests.post(
            f"http://{base}/api/v1/charge-points/GUN-1/commands/GetConfiguration", json={}, headers=headers, timeout=20
        )
        assert r.status_code == 200, r.text
        assert ("GetConfiguration", {}) in charger.cp.received
        assert _wait_for(lambda: _connected(base, headers, "GUN-1"), 5)  # flags are written in batches
    assert _wait_for(lambda: not _connected(base, headers, "GUN-1"), 5)


def test_new_connection_replaces_the_old_one(server):
    base, headers = server
    first = ChargerClient(f"ws://{base}", "GUN-2")
    try:
        assert first.boot().status == "Accepted"
        with ChargerClient(f"ws://{base}", "GUN-2") as second:
            assert _wait_for(lambda: first.ws.state.name == "CLOSED", 5)
            second.call(call.Heartbeat())
            r = requests.post(
                f"http://{base}/api/v1/charge-points/GUN-2/commands/ClearCache", json={}, headers=headers, timeout=20
            )
            assert r.status_code == 200, r.text
            assert [a for a, _ in second.cp.received] == ["ClearCache"]
            assert _wait_for(lambda: _connected(base, headers, "GUN-2"), 5)  # flags are written in batches
    finally:
        first.close()


@contextlib.contextmanager
def _raw_websocket(base: str, identity: bytes):
    """A bare socket past the WebSocket handshake: we decide what it sends and what it answers."""
    host, port = base.split(":")
    s = socket.create_connection((host, int(port)))
    try:
        s.sendall(WS_UPGRADE % identity)
        assert b" 101 " in s.recv(4096).split(b"\r\n", 1)[0]
        yield s
    finally:
        s.close()


def _server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each complete unmasked frame the server sent."""
    frames = []
    while len(data) >= 2:
        n, off = data[1] & 0x7F, 2
        if n == 126:
            n, off = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            n, off = int.from_bytes(data[2:10], "big"), 10
        if len(data) < off + n:
            break
        frames.append((data[0] & 0x0F, data[off : off + n]))
        data = data[off + n :]
    return frames


def test_silent_charger_is_dropped_after_two_ping_intervals(server):
    base, headers = server
    with _raw_websocket(base, b"GUN-MUTE"):
        assert _wait_for(lambda: _connected(base, headers, "GUN-MUTE"), 5)
        t0 = time.monotonic()
        assert _wait_for(lambda: not _connected(base, headers, "GUN-MUTE"), 5)  # we never answer its pings
        assert time.monotonic() - t0 <= 2.0


def test_a_talking_charger_is_not_pinged_nor_dropped(server):
    base, headers = server
    with _raw_websocket(base, b"GUN-TALK") as s:
        s.settimeout(5)
        received = b""
        for n in range(8):  # a message every 0.25 s for four ping intervals; its pings (if any) unanswered
            s.sendall(masked_text_frame(b'[2,"%d","Heartbeat",{}]' % n))
            received += s.recv(4096)
            time.sleep(0.25)
        opcodes = [op for op, _ in _server_frames(received)]
        assert opcodes == [0x1] * 8  # eight answers, no ping, no close
        assert _wait_for(lambda: _connected(base, headers, "GUN-TALK"), 5)  # flags are written in batches


def test_oversized_message_closes_with_1009(server):
    base, _ = server
    with _raw_websocket(base, b"GUN-BIG") as s:
        s.sendall(masked_text_frame(b"x" * ((1 << 20) + 10)))
        s.settimeout(5)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
            if b"\x88" in data:
                break
        close = data[data.index(b"\x88") :]
        assert int.from_bytes(close[2:4], "big") == 1009
