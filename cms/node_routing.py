"""Commands across processes and nodes over Redis: who holds which JSON charger, and request/reply to it.

Each process announces the chargers it holds in a Redis hash and listens on its own channel; a command for
a charger held elsewhere is published to that process's channel and its answer comes back on a list keyed
by a correlation id. OCPP's one-CALL-at-a-time rule holds because every call ends in the holding
connection's queue.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import TYPE_CHECKING

import orjson

from .gateway import ChargerCallError, ChargerNotConnected, ChargerTimeout

if TYPE_CHECKING:
    from redis.client import PubSub

log = logging.getLogger(__name__)

PRESENCE_KEY = "cms:presence"
_WITHDRAW = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


class RedisRouter:
    """The dispatcher's route to chargers held by other processes; also serves calls addressed to this one."""

    def __init__(self, redis_client, node_id: str, call_local, *, namespace: str = "cms"):
        self.redis = redis_client
        self.node_id = node_id
        self._call_local = call_local  # (identity, action, payload, timeout) -> response
        self.presence_key = f"{namespace}:presence"
        self.channel = f"{namespace}:node:{node_id}"
        self._namespace = namespace
        self._withdraw = self.redis.register_script(_WITHDRAW)
        self._pubsub: PubSub | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # presence
    def _value(self, token: str) -> str:
        return f"{self.node_id}|{token}"

    def announce(self, identity: str, token: str) -> None:
        self.redis.hset(self.presence_key, identity, self._value(token))

    def withdraw(self, identity: str, token: str) -> None:
        """Forget the charger unless a newer connection (here or on another node) announced it meanwhile."""
        self._withdraw(keys=[self.presence_key], args=[identity, self._value(token)])

    def withdraw_all(self) -> int:
        """Forget every charger this process announced (it is stopping); a newer announcement by another process
        stays. Returns how many were withdrawn."""
        prefix = f"{self.node_id}|".encode()
        mine = [
            (identity, value)
            for identity, value in self.redis.hscan_iter(self.presence_key, count=1000)
            if value.startswith(prefix)
        ]
        withdrawn = 0
        for identity, value in mine:
            withdrawn += self._withdraw(keys=[self.presence_key], args=[identity, value])
        return withdrawn

    def holder(self, identity: str) -> str | None:
        value = self.redis.hget(self.presence_key, identity)
        return value.decode().split("|", 1)[0] if value else None

    # calls
    def call(self, identity: str, action: str, payload: dict, timeout: float) -> dict:
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
        self._subscribe()
        self._thread = threading.Thread(target=self._listen, name="cms-redis-router", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._pubsub is not None:
            try:
                self._pubsub.unsubscribe()
                self._pubsub.close()
            except Exception:  # closing anyway
                pass

    def _subscribe(self) -> PubSub:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self._pubsub = pubsub  # kept even when subscribing fails: the next get_message fails and retries
        pubsub.subscribe(self.channel)
        return pubsub

    def _listen(self) -> None:
        while not self._stopping.is_set():
            pubsub = self._pubsub
            assert pubsub is not None, "start() subscribes before the listening thread runs"
            try:
                message = pubsub.get_message(timeout=1.0)
            except Exception:
                if self._stopping.is_set():
                    return
                log.exception("Redis router: lost the subscription; retrying")
                self._stopping.wait(1.0)
                try:
                    self._subscribe()
                except Exception:
                    pass
                continue
            if message and message.get("type") == "message":
                threading.Thread(target=self._serve, args=(message["data"],), daemon=True).start()

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
        pipe = self.redis.pipeline()
        pipe.rpush(req["reply"], orjson.dumps(reply))
        pipe.expire(req["reply"], 60)
        pipe.execute()


def _decode_reply(reply: dict) -> dict:
    if "ok" in reply:
        return reply["ok"]
    kind = reply.get("error")
    if kind == "call_error":
        raise ChargerCallError(reply.get("code", "GenericError"), reply.get("description", ""), reply.get("details"))
    if kind == "timeout":
        raise ChargerTimeout(reply.get("description", "timeout"))
    raise ChargerNotConnected(reply.get("description", "not connected"))
