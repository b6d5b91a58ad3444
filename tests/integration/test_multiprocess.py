"""Two server processes sharing PostgreSQL and Redis: a charger on one, its commands sent through the other."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
import requests

from tests.support import databases
from tests.support.charger import ChargerClient
from tests.support.processes import free_port, redis_unavailable, run_cms, shared_redis_url, wait_ready

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = shared_redis_url(0)


@pytest.fixture
def cluster(tmp_path):
    reason = databases.postgres_available() or redis_unavailable(REDIS_URL)
    if reason:
        pytest.skip(reason)
    name = f"cms_cluster_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = databases.create_postgres_database(name)
    env = {
        **os.environ,
        "CMS_DATABASE_URL": url,
        "CMS_REDIS_URL": REDIS_URL,
        "CMS_CALL_TIMEOUT": "5",
        "CMS_DATA_DIR": str(tmp_path),
        "CMS_WS_PING_INTERVAL": "0",
    }
    run_cms(env, "owner", "create", "ops@example.com", "--password", "ops-password")
    run_cms(env, "chargepoint", "add", "CROSS-1", "--owner", "ops@example.com")
    token = run_cms(env, "token", "create", "ops@example.com")
    procs, urls = [], []
    from cms.cli import gunicorn_command

    for _ in range(2):
        port = free_port()
        procs.append(
            subprocess.Popen(
                gunicorn_command("127.0.0.1", port, 1), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        urls.append(f"127.0.0.1:{port}")
    try:
        for u in urls:
            wait_ready(u)
        yield urls, token
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=15)
        databases.drop_postgres_database(name)


def test_command_crosses_processes(cluster):
    (a, b), token = cluster
    charger = ChargerClient(f"ws://{a}", "CROSS-1")
    try:
        assert charger.boot().status == "Accepted"
        h = {"Authorization": f"Bearer {token}"}
        r = requests.post(
            f"http://{b}/api/v1/charge-points/CROSS-1/commands/GetConfiguration", json={}, headers=h, timeout=20
        )
        assert r.status_code == 200, r.text
        assert r.json()["configurationKey"][0]["key"] == "HeartbeatInterval"
        # The answer's effects are stored whichever process sent the command.
        conf = requests.get(f"http://{a}/api/v1/charge-points/CROSS-1/configuration", headers=h, timeout=10).json()
        assert conf[0]["key"] == "HeartbeatInterval"
        # A CALLERROR and a timeout cross the processes as such.
        from ocpp.exceptions import NotSupportedError

        charger.cp.answers["Reset"] = NotSupportedError(description="nope")
        r = requests.post(
            f"http://{b}/api/v1/charge-points/CROSS-1/commands/Reset", json={"type": "Soft"}, headers=h, timeout=20
        )
        assert r.status_code == 502
        charger.cp.answers.pop("Reset")
        charger.cp.delay["Reset"] = 9
        r = requests.post(
            f"http://{b}/api/v1/charge-points/CROSS-1/commands/Reset", json={"type": "Soft"}, headers=h, timeout=30
        )
        assert r.status_code == 504
    finally:
        charger.close()
    # Once it is gone, both processes say so.
    time.sleep(0.5)
    for node in (a, b):
        r = requests.post(
            f"http://{node}/api/v1/charge-points/CROSS-1/commands/ClearCache",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=20,
        )
        assert r.status_code == 409, (node, r.text)
