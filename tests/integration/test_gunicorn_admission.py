"""Admission control in the production server (issue 12, reconnect storms): the worker puts a charger's
handshake in turn before parsing it, a handshake keeps its place through the charger's first message, and one
that gets no place within CMS_HANDSHAKE_WAIT_SECONDS is answered HTTP 503 with Retry-After at once."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from cms.cli import gunicorn_command
from tests.support.processes import free_port, run_cms, wait_ready

UPGRADE = (
    b"GET /ocpp/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
)
WAIT_S = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn-admission")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "CMS_DATABASE_URL": f"sqlite:///{tmp}/cms.sqlite3",
        "CMS_DATA_DIR": str(tmp),
        "CMS_SECRET_KEY": "test",
        "CMS_MAINTENANCE_INTERVAL": "0",
        "CMS_MAX_PENDING_HANDSHAKES": "1",
        "CMS_HANDSHAKE_WAIT_SECONDS": str(WAIT_S),
    }
    run_cms(env, "db", "upgrade")
    run_cms(env, "owner", "create", "ops@example.com", "--password", "ops-password")
    for identity in ("ADM-1", "ADM-2", "ADM-3"):
        run_cms(env, "chargepoint", "add", identity, "--owner", "ops@example.com")
    port = free_port()
    proc = subprocess.Popen(
        gunicorn_command("127.0.0.1", port, 1), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"127.0.0.1:{port}"
    try:
        wait_ready(base)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _knock(base: str, identity: bytes) -> tuple[socket.socket, bytes]:
    host, port = base.split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(UPGRADE % identity)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    return s, answer


def _boot_frame() -> bytes:
    payload = b'[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


def test_a_handshake_waits_its_turn_then_is_refused_with_503_and_the_first_message_frees_the_place(server):
    first, answer = _knock(server, b"ADM-1")
    try:
        assert answer.startswith(b"HTTP/1.1 101 "), answer
        # The first charger has not sent its BootNotification: it still holds the only place.
        started = time.monotonic()
        second, answer = _knock(server, b"ADM-2")
        waited = time.monotonic() - started
        second.close()
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"Retry-After: 5" in answer
        assert WAIT_S * 0.9 <= waited < WAIT_S + 3, waited
        first.sendall(_boot_frame())
        assert b"Accepted" in first.recv(4096)
        third, answer = _knock(server, b"ADM-3")  # the place is free again
        third.close()
        assert answer.startswith(b"HTTP/1.1 101 "), answer
    finally:
        first.close()


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
