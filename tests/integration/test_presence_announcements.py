"""Presence announcements in a reconnect storm (issue 12): the chargers connecting within ``announce_delay``
are announced to Redis by one HSET, and a charger gone before that is never announced."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from cms.node_routing import RedisRouter
from tests.support.processes import shared_redis_url

pytestmark = pytest.mark.redis

REDIS_URL = shared_redis_url(1)


class CountingRedis:
    """A Redis client that counts the HSET commands sent through it; each takes ``hset_delay`` seconds more."""

    def __init__(self, client):
        self._client = client
        self.hsets = 0
        self.hset_delay = 0.0
        self.writing = threading.Event()

    def hset(self, *args, **kwargs):
        self.hsets += 1
        self.writing.set()
        time.sleep(self.hset_delay)
        return self._client.hset(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.fixture
def client():
    import redis

    c = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        c.ping()
    except redis.RedisError as e:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({e.__class__.__name__})")
    yield CountingRedis(c)
    c.close()


@pytest.fixture
def router(client):
    r = RedisRouter(
        client, "node-a", lambda *a: {}, namespace=f"test-announce-{uuid.uuid4().hex[:8]}", announce_delay=0.05
    )
    yield r
    r.stop()
    client.delete(r.presence_key)


def presence(client, router) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in client.hgetall(router.presence_key).items()}


def until(check, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return check()


def test_a_burst_of_connections_is_announced_by_one_write(client, router):
    router.announce_delay = 0.5  # the burst is sent well within it, however loaded the machine
    for i in range(200):
        router.announce(f"CP-{i}", f"t{i}")
    assert until(lambda: len(presence(client, router)) == 200)
    assert client.hsets == 1
    assert presence(client, router)["CP-7"] == "node-a|t7"


def test_a_charger_gone_before_its_announcement_is_never_announced(client, router):
    router.announce("CP-GONE", "t1")
    router.announce("CP-STAYS", "t2")
    router.withdraw("CP-GONE", "t1")
    assert until(lambda: "CP-STAYS" in presence(client, router))
    time.sleep(0.1)
    assert presence(client, router) == {"CP-STAYS": "node-a|t2"}


def test_a_charger_gone_while_its_announcement_is_written_is_withdrawn_after_it(client, router):
    client.hset_delay = 1.0
    router.announce("CP-BRIEF", "t1")
    assert client.writing.wait(5)  # the announcement is on its way to Redis
    started = time.monotonic()
    router.withdraw("CP-BRIEF", "t1")
    assert time.monotonic() - started < 0.5  # the disconnect does not wait for the write
    assert until(lambda: client.hsets == 1 and not router._in_flight)
    assert until(lambda: presence(client, router) == {})


def test_a_newer_connection_announced_meanwhile_is_not_withdrawn(client, router):
    router.announce("CP-1", "old")
    router.announce("CP-1", "new")  # reconnected before the first announcement was written
    router.withdraw("CP-1", "old")  # the old connection's end
    assert until(lambda: presence(client, router).get("CP-1") == "node-a|new")


def test_without_a_delay_an_announcement_is_written_at_once(client):
    r = RedisRouter(client, "node-a", lambda *a: {}, namespace=f"test-announce-{uuid.uuid4().hex[:8]}")
    try:
        r.announce("CP-1", "t")
        assert presence(client, r) == {"CP-1": "node-a|t"}
    finally:
        client.delete(r.presence_key)


def test_awaiting_an_announcement_returns_once_it_is_in_redis(client, router):
    client.hset_delay = 0.2
    router.announce("CP-1", "t1")
    assert router.await_announcement("CP-1", "t1", timeout=5)
    assert presence(client, router) == {"CP-1": "node-a|t1"}


def test_awaiting_an_announcement_redis_is_slow_to_write_is_bounded(client, router):
    client.hset_delay = 3.0
    router.announce("CP-1", "t1")
    started = time.monotonic()
    assert not router.await_announcement("CP-1", "t1", timeout=0.2)
    assert time.monotonic() - started < 2.0  # well before the write ends


def test_awaiting_a_withdrawn_or_unknown_announcement_does_not_wait(client, router):
    router.announce("CP-1", "t1")
    router.withdraw("CP-1", "t1")
    started = time.monotonic()
    assert router.await_announcement("CP-1", "t1", timeout=5)
    assert router.await_announcement("CP-NEVER", "t", timeout=5)
    assert time.monotonic() - started < 2.0  # not the 5 s of a wait


def test_a_refresh_leaves_announcements_on_their_way_to_the_batch(client):
    held = [("CP-1", "t1"), ("CP-2", "t2")]
    r = RedisRouter(
        client,
        "node-a",
        lambda *a: {},
        namespace=f"test-announce-{uuid.uuid4().hex[:8]}",
        held=lambda: held,
        announce_delay=5.0,  # the batch is not written during this test
    )
    try:
        r.announce("CP-2", "t2")
        assert r.refresh() == 1  # CP-1 was forgotten; CP-2 is pending, not forgotten
        assert presence(client, r) == {"CP-1": "node-a|t1"}
    finally:
        r.stop()
        client.delete(r.presence_key)


class CountingScript:
    """A registered Redis script that counts its calls."""

    def __init__(self, script):
        self._script = script
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self._script(*args, **kwargs)


def test_a_burst_of_disconnections_is_withdrawn_by_one_script_call(client, router):
    """A network cut ends thousands of connections at once, just before they all come back: their presence is
    withdrawn together, not by a round trip each."""
    for i in range(200):
        router.announce(f"CP-{i}", f"t{i}")
    assert until(lambda: len(presence(client, router)) == 200)
    router._withdraw = counting = CountingScript(router._withdraw)
    router.announce_delay = 0.5  # the burst is sent well within it, however loaded the machine
    for i in range(200):
        router.withdraw(f"CP-{i}", f"t{i}")
    assert until(lambda: presence(client, router) == {})
    assert counting.calls == 1


def test_a_withdrawal_waiting_for_its_batch_leaves_a_newer_connection_announced(client, router):
    router.announce("CP-1", "old")
    router.announce("CP-2", "old")
    assert until(lambda: len(presence(client, router)) == 2)
    router.withdraw("CP-1", "old")  # the old connection ended; its withdrawal waits for the batch ...
    router.announce("CP-1", "new")  # ... and the charger is back meanwhile, in the same batch
    router.announce("CP-2", "new")  # back first ...
    assert until(lambda: presence(client, router) == {"CP-1": "node-a|new", "CP-2": "node-a|new"})
    router.withdraw("CP-2", "old")  # ... and its old connection's end noticed after the new one was written
    time.sleep(0.2)
    assert presence(client, router) == {"CP-1": "node-a|new", "CP-2": "node-a|new"}


def test_withdrawing_everything_at_shutdown_is_one_call_per_thousand(client, router):
    other = "node-b|x"
    client.hset(router.presence_key, "CP-OTHER", other)  # another process's: stays
    for i in range(1500):
        router.announce(f"CP-{i}", f"t{i}")
    assert until(lambda: len(presence(client, router)) == 1501)
    router._withdraw = counting = CountingScript(router._withdraw)
    assert router.withdraw_all() == 1500
    assert presence(client, router) == {"CP-OTHER": other}
    assert counting.calls == 2
