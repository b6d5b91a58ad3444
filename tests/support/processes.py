"""Server processes for integration tests: free ports, the ``cms`` command line, waiting until ready."""

from __future__ import annotations

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
