"""Server processes for integration tests: free ports, the ``cms`` command line, waiting until ready."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

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
