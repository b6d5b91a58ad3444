"""Server processes for integration tests: free ports, the ``cms`` command line, waiting until ready."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cms(env: dict, *args: str) -> str:
    """Run ``cms ARGS`` with ``env``; its standard output, stripped (fails the test on a non-zero exit)."""
    out = subprocess.run([sys.executable, "-m", "cms.cli", *args], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def wait_ready(address: str, seconds: float = 30) -> None:
    """Wait until ``http://ADDRESS/readyz`` answers 200."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(f"http://{address}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"server at {address} did not start"
        time.sleep(0.2)


def redis_unavailable(url: str) -> str | None:
    """None when Redis at ``url`` answers, else why not (a skip reason)."""
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return None
    except Exception as e:
        return f"Redis at {url} does not answer ({e.__class__.__name__})"


def shared_redis_url(db: int) -> str:
    """The shared Redis a test file uses: ``CMS_TEST_REDIS_URL`` when set, else database ``db`` of the local
    Redis moved up by ``CMS_TEST_REDIS_DB_OFFSET``, so that two suites running at once (make test's SQLite and
    PostgreSQL passes) never share a charger's presence."""
    url = os.environ.get("CMS_TEST_REDIS_URL")
    if url:
        return url
    return f"redis://127.0.0.1:6379/{db + int(os.environ.get('CMS_TEST_REDIS_DB_OFFSET', '0'))}"


# An OCPP-J charger's WebSocket handshake, byte for byte (``% identity``): for tests that write the socket.
WS_UPGRADE = (
    b"GET /ocpp/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
)


def masked_text_frame(payload: bytes) -> bytes:
    """One masked WebSocket text frame with a zero mask key (the payload goes as is), as a charger sends it."""
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


@contextmanager
def gunicorn_on_sqlite(tmp: Path, chargers: Iterable[str], **settings: str) -> Iterator[tuple[str, dict]]:
    """The production server (``cms serve``'s gunicorn, one worker) on a fresh SQLite database in ``tmp``, with an
    owner ``ops@example.com`` and ``chargers`` registered; ``settings`` are more ``CMS_*`` variables. Yields its
    ``host:port`` and the environment, for more ``cms`` commands."""
    from cms.cli import gunicorn_command

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "CMS_DATABASE_URL": f"sqlite:///{tmp}/cms.sqlite3",
        "CMS_DATA_DIR": str(tmp),
        "CMS_SECRET_KEY": "test",
        "CMS_MAINTENANCE_INTERVAL": "0",
        **settings,
    }
    run_cms(env, "db", "upgrade")
    run_cms(env, "owner", "create", "ops@example.com", "--password", "ops-password")
    for identity in chargers:
        run_cms(env, "chargepoint", "add", identity, "--owner", "ops@example.com")
    port = free_port()
    proc = subprocess.Popen(
        gunicorn_command("127.0.0.1", port, 1), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"127.0.0.1:{port}"
    try:
        wait_ready(base)
        yield base, env
    finally:
        proc.terminate()
        proc.wait(timeout=15)
