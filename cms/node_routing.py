"""Commands across processes and nodes over Redis: who holds which JSON charger, and request/reply to it.

Each process announces the chargers it holds in a Redis hash and listens on its own channel; a command for
a charger held elsewhere is published to that process's channel and its answer comes back on a list keyed
by a correlation id. OCPP's one-CALL-at-a-time rule holds because every call ends in the holding
connection's queue.

Redis goes away sometimes, and may come back empty. Nothing here lets that stop a charger from being served:
an announcement that fails is logged and made good later; the subscription is retried with backoff for as
long as the process lives; every charger this process holds is announced again every ``refresh_interval``
seconds and at once when the subscription is restored, so a Redis that restarted empty knows every held
charger again within seconds. Meanwhile a command for a charger held elsewhere fails at once with
:class:`RoutingUnavailable` (HTTP 503), and commands for chargers held here never touch Redis.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

import orjson
from redis.exceptions import RedisError

from .gateway import ChargerCallError, ChargerNotConnected, ChargerTimeout, RoutingUnavailable

log = logging.getLogger(__name__)

PRESENCE_KEY = "cms:presence"
# Forget what this process announced, never another's (newer) announcement: pairs of identity, value.
_WITHDRAW = """
local withdrawn = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    withdrawn = withdrawn + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return withdrawn
"""
# Announce again what Redis forgot, never over another process's (newer) announcement: pairs of identity, value.
_RESTORE = """
local restored = 0
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    restored = restored + 1
  end
end
return restored
"""
PAIRS_PER_SCRIPT = 1000  # identities per script call: one round trip each, short enough not to hold Redis up
# A connection's first answer waits at most this long for its announcement: a Redis that hangs must not hold a
# charger up (a failed announcement is made good by the refresh).
ANNOUNCE_WAIT_S = 2.0
MAX_BACKOFF = 2.0  # seconds between attempts to subscribe again: Redis that returns is used within this


class RedisRouter:
    """The dispatcher's route to chargers held by other processes; also serves calls addressed to this one.

    ``held()`` lists the (identity, connection token) pairs this process holds now (its connection registry),
    for the periodic announcements."""

    def __init__(
        self,
        redis_client,
        node_id: str,
        call_local,
        *,
        namespace: str = "cms",
        held: Callable[[], list[tuple[str, str]]] | None = None,
        refresh_interval: float = 10.0,
        announce_delay: float = 0.0,
    ):
        self.redis = redis_client
        self.node_id = node_id
        self._call_local = call_local  # (identity, action, payload, timeout) -> response
        self._held = held or list
        self.refresh_interval = refresh_interval
        self.presence_key = f"{namespace}:presence"
        self.channel = f"{namespace}:node:{node_id}"
        self._namespace = namespace
        self._withdraw = self.redis.register_script(_WITHDRAW)
        self._restore = self.redis.register_script(_RESTORE)
        self._pubsub = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._refresh_now = threading.Event()
        # With ``announce_delay``, announcements gather for that long and one HSET writes them all: in a reconnect
        # storm a round trip per connecting charger cost a twentieth of a worker's CPU and a pooled connection each.
        self.announce_delay = announce_delay
        self._announcing: dict[str, str] = {}  # identity -> presence value, not yet written
        self._in_flight: dict[str, str] = {}  # being written now
        self._withdraw_after: list[tuple[str, str]] = []  # withdrawn while in flight: withdrawn once written
        self._withdrawing: list[tuple[str, str]] = []  # (identity, value) of connections that ended, not yet written
        self._announce_lock = threading.Lock()  # guards the four above (never held across a round trip)
        self._announce_done = threading.Condition(self._announce_lock)  # a write ended (stored or failed)
        self._announce_due = threading.Event()
        self._announcer: threading.Thread | None = None
        self.subscribed = False  # listening on this process's channel right now (readiness)
        self.restored = 0  # announcements Redis had forgotten and got again, for tests and figures

    # presence
    def _value(self, token: str) -> str:
        return f"{self.node_id}|{token}"

    def announce(self, identity: str, token: str) -> None:
        """Tell Redis this process holds ``identity`` (the newest connection wins): at once, or within
        ``announce_delay`` together with the others. Never raises: when Redis is away the next refresh
        announces it."""
        if self.announce_delay <= 0:
            self._write_announcements({identity: self._value(token)})
            return
        with self._announce_lock:
            self._announcing[identity] = self._value(token)
            self._start_announcer()
        self._announce_due.set()

    def _start_announcer(self) -> None:  # with _announce_lock held
        if self._announcer is None:
            self._announcer = threading.Thread(target=self._announce_loop, name="cms-redis-announce", daemon=True)
            self._announcer.start()

    def _announce_loop(self) -> None:
        while not self._stopping.is_set():
            self._announce_due.wait()
            self._stopping.wait(self.announce_delay)  # let the announcements of a burst gather
            self._announce_due.clear()
            with self._announce_lock:
                pending, self._announcing = self._announcing, {}
                self._in_flight = pending
            if pending:
                self._write_announcements(pending)
            with self._announce_lock:
                self._in_flight = {}
                gone = self._withdraw_after + self._withdrawing
                self._withdraw_after, self._withdrawing = [], []
                self._announce_done.notify_all()
            if gone:
                self._withdraw_values(gone)

    def _write_announcements(self, values: dict[str, str]) -> None:
        try:
            self.redis.hset(self.presence_key, mapping=values)
        except RedisError as e:
            log.warning(
                "Redis router: %d charger(s) could not be announced (%s); announced when Redis answers", len(values), e
            )
            self._refresh_now.set()

    def await_announcement(self, identity: str, token: str, timeout: float = ANNOUNCE_WAIT_S) -> bool:
        """Wait until this connection's announcement has been written (or has failed: the refresh makes it good);
        at most ``timeout`` seconds. A connection waits here before its first answer, so a charger that has been
        answered is reachable from every process. True unless the wait timed out."""
        value = self._value(token)
        with self._announce_lock:
            written = self._announce_done.wait_for(
                lambda: self._announcing.get(identity) != value and self._in_flight.get(identity) != value, timeout
            )
        if not written:
            log.warning("Redis router: %s answered before its announcement was written (Redis is slow)", identity)
        return written

    def withdraw(self, identity: str, token: str) -> None:
        """Forget the charger unless a newer connection (here or on another node) announced it meanwhile: at
        once, or within ``announce_delay`` together with the others (a network cut ends thousands of connections
        at once, just before they all come back)."""
        value = self._value(token)
        with self._announce_lock:
            if self._announcing.get(identity) == value:  # not written yet: it never will be
                del self._announcing[identity]
                self._announce_done.notify_all()
                return
            if self._in_flight.get(identity) == value:  # being written: withdrawn right after
                self._withdraw_after.append((identity, value))
                return
            if self.announce_delay > 0:
                self._withdrawing.append((identity, value))
                self._start_announcer()
        if self.announce_delay > 0:
            self._announce_due.set()
        else:
            self._withdraw_values([(identity, value)])

    def _withdraw_values(self, pairs: list[tuple[str, str]]) -> int:
        """Withdraw each (identity, value) still announced with that value; how many were."""
        withdrawn = 0
        try:
            for start in range(0, len(pairs), PAIRS_PER_SCRIPT):
                args = [part for pair in pairs[start : start + PAIRS_PER_SCRIPT] for part in pair]
                withdrawn += int(self._withdraw(keys=[self.presence_key], args=args))
        except RedisError as e:  # stale until then: a call finds it is not held here and says so
            log.warning("Redis router: %d charger(s) could not be withdrawn (%s)", len(pairs), e)
        return withdrawn

    def withdraw_all(self) -> int:
        """Forget every charger this process announced (it is stopping); a newer announcement by another process
        stays. Returns how many were withdrawn."""
        with self._announce_lock:  # stopping: what was not written yet is not written, what is in flight undone
            self._announcing.clear()
            self._withdrawing.clear()  # among what is withdrawn here
            self._announce_done.notify_all()
            self._withdraw_after.extend(self._in_flight.items())
        prefix = f"{self.node_id}|".encode()
        mine = [
            (identity.decode(), value.decode())
            for identity, value in self.redis.hscan_iter(self.presence_key, count=1000)
            if value.startswith(prefix)
        ]
        return self._withdraw_values(mine)

    def refresh(self) -> int:
        """Announce again every charger this process holds that Redis does not know (it restarted empty, or an
        announcement failed); one held elsewhere since is left alone. Returns how many were restored."""
        with self._announce_lock:  # about to be written anyway: not "forgotten", and not counted as restored
            waiting = {**self._announcing, **self._in_flight}
        pairs = [(identity, token) for identity, token in self._held() if waiting.get(identity) != self._value(token)]
        restored = 0
        for start in range(0, len(pairs), PAIRS_PER_SCRIPT):
            args: list[str] = []
            for identity, token in pairs[start : start + PAIRS_PER_SCRIPT]:
                args += [identity, self._value(token)]
            restored += int(self._restore(keys=[self.presence_key], args=args))
        if restored:
            log.info("Redis router: %d held chargers announced again", restored)
        self.restored += restored
        return restored

    def holder(self, identity: str) -> str | None:
        value = self.redis.hget(self.presence_key, identity)
        return value.decode().split("|", 1)[0] if value else None

    # calls
    def call(self, identity: str, action: str, payload: dict, timeout: float) -> dict:
        """Send a call to the process holding ``identity``; :class:`RoutingUnavailable` when Redis is down."""
        try:
            return self._call(identity, action, payload, timeout)
        except RedisError as e:
            raise RoutingUnavailable(f"{identity} cannot be reached: the routing service is unavailable ({e})") from e

    def _call(self, identity: str, action: str, payload: dict, timeout: float) -> dict:
        node = self.holder(identity)
        if node is None or node == self.node_id:
            # Not held anywhere; or announced by this process but no longer held here (stale).
            raise ChargerNotConnected(f"{identity} is not connected")
        corr = uuid.uuid4().hex
        reply_key = f"{self._namespace}:reply:{corr}"
        request = {
            "corr": corr,
            "identity": identity,
            "action": action,
            "payload": payload,
            "timeout": timeout,
            "reply": reply_key,
        }
        if self.redis.publish(f"{self._namespace}:node:{node}", orjson.dumps(request)) == 0:
            # Nobody listens there: that process is gone; its announcement is stale.
            self.redis.hdel(self.presence_key, identity)
            raise ChargerNotConnected(f"{identity} is not connected (its node {node} is gone)")
        # The holder applies the same timeout; allow for the hop there and back.
        answer = self.redis.blpop([reply_key], timeout=max(1, int(timeout + 2.5)))
        if answer is None:
            raise ChargerTimeout(f"{identity} did not answer {action} in time")
        return _decode_reply(orjson.loads(answer[1]))

    # serving calls for other processes
    def start(self) -> None:
        """Start listening and announcing, in background threads; Redis need not answer yet."""
        for target, name in ((self._listen, "cms-redis-router"), (self._refresher, "cms-redis-presence")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._refresh_now.set()
        self._announce_due.set()
        self._close_pubsub()

    def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self.subscribed = False
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # closing anyway
                pass

    def _subscribe(self) -> None:
        """Subscribe to this process's channel, retrying with backoff until it works or the router stops."""
        delay = 0.1
        while not self._stopping.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._pubsub = pubsub
                self.subscribed = True
                self._refresh_now.set()  # Redis may have come back empty: announce what is held here
                return
            except RedisError as e:
                if delay >= MAX_BACKOFF:  # once per outage at most a line every MAX_BACKOFF seconds
                    log.warning("Redis router: cannot subscribe (%s); retrying", e)
                self._stopping.wait(delay)
                delay = min(MAX_BACKOFF, delay * 2)

    def _listen(self) -> None:
        while not self._stopping.is_set():
            if self._pubsub is None:
                self._subscribe()
                continue
            try:
                message = self._pubsub.get_message(timeout=1.0)
            except Exception as e:
                if self._stopping.is_set():
                    return
                log.warning("Redis router: lost the subscription (%s); subscribing again", e)
                self._close_pubsub()
                continue
            if message and message.get("type") == "message":
                threading.Thread(target=self._serve, args=(message["data"],), daemon=True).start()

    def _refresher(self) -> None:
        while not self._stopping.is_set():
            self._refresh_now.wait(self.refresh_interval if self.refresh_interval > 0 else None)
            self._refresh_now.clear()
            if self._stopping.is_set():
                return
            try:
                self.refresh()
            except RedisError as e:  # Redis away: the resubscription or the next round tries again
                log.debug("Redis router: announcing held chargers failed (%s)", e)
            except Exception:
                log.exception("Redis router: announcing held chargers failed")

    def _serve(self, data: bytes) -> None:
        try:
            req = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("Redis router: unreadable request dropped")
            return
        try:
            reply = {"ok": self._call_local(req["identity"], req["action"], req["payload"], float(req["timeout"]))}
        except ChargerCallError as e:
            reply = {"error": "call_error", "code": e.code, "description": e.description, "details": e.details}
        except ChargerTimeout as e:
            reply = {"error": "timeout", "description": str(e)}
        except ChargerNotConnected as e:
            reply = {"error": "not_connected", "description": str(e)}
        except Exception as e:  # the caller must get an answer, not a hung request
            log.exception("Redis router: %s for %s failed", req.get("action"), req.get("identity"))
            reply = {"error": "call_error", "code": "InternalError", "description": str(e), "details": {}}
        try:
            pipe = self.redis.pipeline()
            pipe.rpush(req["reply"], orjson.dumps(reply))
            pipe.expire(req["reply"], 60)
            pipe.execute()
        except RedisError as e:  # the caller times out
            log.warning(
                "Redis router: the answer to %s for %s was lost (%s)", req.get("action"), req.get("identity"), e
            )


def _decode_reply(reply: dict) -> dict:
    if "ok" in reply:
        return reply["ok"]
    kind = reply.get("error")
    if kind == "call_error":
        raise ChargerCallError(reply.get("code", "GenericError"), reply.get("description", ""), reply.get("details"))
    if kind == "timeout":
        raise ChargerTimeout(reply.get("description", "timeout"))
    raise ChargerNotConnected(reply.get("description", "not connected"))
