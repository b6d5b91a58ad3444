"""Redis goes away and comes back (issue 12): chargers are served throughout, commands to chargers held here
work, commands to chargers held elsewhere answer 503 quickly, and once Redis is back (even empty) every held
charger is known again and reachable from other processes within seconds; /readyz tells the truth."""

from __future__ import annotations

import time

import pytest
from ocpp.v16 import call

from cms.node_routing import RedisRouter
from tests.support.redis_server import OwnRedis

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis():
    reason = OwnRedis.unavailable()
    if reason:
        pytest.skip(reason)
    server = OwnRedis().start()
    yield server
    server.stop(kill=True)


@pytest.fixture
def app_config(app_config, own_redis):
    return {**app_config, "redis_url": own_redis.url, "node_id": "node-a", "presence_refresh_seconds": 1.0}


@pytest.fixture(autouse=True)
def _stop_router(rt):
    """The router's threads would go on trying to reach this test's Redis after it is gone."""
    yield
    rt.router.stop()


def other_process(own_redis) -> RedisRouter:
    """A second process's route (node-b), as another worker would use it."""

    def not_here(*_):
        raise AssertionError("node-b holds nothing")

    return RedisRouter(own_redis.client(), "node-b", not_here)


def until(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def ready(client) -> int:
    return client.get("/readyz").status_code


def presence(own_redis) -> dict:
    try:
        return {k.decode(): v.decode() for k, v in own_redis.client().hgetall("cms:presence").items()}
    except Exception:
        return {}


def test_a_charger_is_reachable_from_every_process_once_its_first_message_is_answered(
    rt, client, add_charger, connect, own_redis
):
    """Presence is written in batches a moment after connecting; the first answer waits for it, so a command
    sent through another process right after a BootNotification finds the charger (CI saw 409 here)."""
    add_charger("FIRST1")
    assert until(lambda: ready(client) == 200)
    rt.router.announce_delay = 0.5  # longer than a BootNotification takes: the answer would win the race
    charger = connect("FIRST1")
    assert charger.boot().status == "Accepted"
    assert other_process(own_redis).holder("FIRST1") == "node-a"


def test_a_charger_connecting_while_redis_is_down_is_served_and_announced_later(
    rt, client, add_charger, connect, own_redis
):
    add_charger("DOWN1")
    assert until(lambda: ready(client) == 200)
    own_redis.stop(kill=True)
    assert ready(client) == 503
    charger = connect("DOWN1")
    assert charger.boot().status == "Accepted"  # served although it could not be announced
    assert charger.call(call.Heartbeat()).current_time
    assert rt.connections.get("DOWN1") is not None
    own_redis.start()  # back, empty
    assert until(lambda: presence(own_redis).get("DOWN1", "").startswith("node-a|"), 10)
    assert until(lambda: ready(client) == 200, 10)
    answer = other_process(own_redis).call("DOWN1", "GetConfiguration", {}, 5)
    assert answer["configurationKey"][0]["key"] == "HeartbeatInterval"


def test_redis_restarted_empty_relearns_every_held_charger(rt, client, add_charger, connect, own_redis):
    for name in ("KEEP1", "KEEP2"):
        add_charger(name)
        connect(name).boot()
    assert until(lambda: {"KEEP1", "KEEP2"} <= set(presence(own_redis)))
    assert until(lambda: rt.router.subscribed)
    before = own_redis.client().info("server")["run_id"]
    own_redis.stop(kill=True)
    own_redis.start()  # a new process without persistence: it starts empty
    started = time.monotonic()
    # Not "presence is empty now": the router may re-announce before this line runs.
    assert own_redis.client().info("server")["run_id"] != before
    assert until(lambda: {"KEEP1", "KEEP2"} <= set(presence(own_redis)), 10)
    relearned = time.monotonic() - started
    assert relearned < 5, relearned
    # and commands from another process reach them again (the subscription was restored too)
    assert until(lambda: rt.router.subscribed, 10)
    answer = other_process(own_redis).call("KEEP2", "Reset", {"type": "Soft"}, 5)
    assert answer == {"status": "Accepted"}


def test_commands_while_redis_is_down(rt, client, add_charger, connect, owner_token, own_redis):
    """Held here: works. Held elsewhere (or nowhere: this process cannot know): 503 with a JSON error, quickly."""
    add_charger("HERE1")
    add_charger("ELSEWHERE1")
    connect("HERE1").boot()
    own_redis.stop(kill=True)
    h = {"Authorization": f"Bearer {owner_token}"}
    r = client.post("/api/v1/charge-points/HERE1/commands/Reset", json={"type": "Soft"}, headers=h)
    assert r.status_code == 200 and r.get_json() == {"status": "Accepted"}
    started = time.monotonic()
    r = client.post("/api/v1/charge-points/ELSEWHERE1/commands/Reset", json={"type": "Soft"}, headers=h)
    assert r.status_code == 503, r.get_data(as_text=True)
    assert r.get_json()["error"] == "routing_unavailable" and r.headers["Retry-After"]
    assert time.monotonic() - started < 3
    assert ready(client) == 503
    own_redis.start()
    assert until(lambda: ready(client) == 200, 10)
    r = client.post("/api/v1/charge-points/ELSEWHERE1/commands/Reset", json={"type": "Soft"}, headers=h)
    assert r.status_code == 409  # known again, and not connected anywhere


def test_the_app_starts_while_redis_is_down(app_config, own_redis, add_charger):
    """A process that starts during the outage serves, then subscribes once Redis answers."""
    from app import create_app

    own_redis.stop(kill=True)
    app = create_app(app_config)
    try:
        c = app.test_client()
        assert ready(c) == 503
        own_redis.start()
        assert until(lambda: ready(c) == 200, 10)
    finally:
        app.extensions["cms"].router.stop()
        app.extensions["cms"].db.dispose()
