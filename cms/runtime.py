"""The per-process objects the app is made of, built once by :func:`build_runtime` and kept on
``app.extensions["cms"]``: every collaborator is made here and passed in at construction."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .admission import Admission
from .config import Settings
from .connection_flags import ConnectionFlags
from .credentials import Credentials
from .datatransfer import DataTransferRegistry
from .db import Database
from .dispatcher import Dispatcher
from .files import FileStore
from .group_commit import GroupCommitter
from .handshake_cache import HandshakeCache
from .heartbeats import HeartbeatBatcher
from .mail import Mailer
from .maintenance import Maintenance
from .message_runner import AcceptedChargers, MessageObserver, MessageRunner
from .metrics import NO_METRICS, Metrics, MetricsAccess
from .payments import PaymentProvider, load_provider
from .pipeline import ChargerPipeline
from .ports import LocalConnections, Router
from .schemas import PayloadValidator
from .wallet import billing_hook

if TYPE_CHECKING:
    from redis import Redis

    from .loadmgmt.manager import LoadManager
    from .node_routing import RedisRouter

log = logging.getLogger(__name__)

REDIS_POOL_SIZE = 64  # Redis connections per process: commands waiting for answers, presence, the subscription
ANNOUNCE_DELAY = 0.02  # seconds connecting chargers' presence gathers before one HSET writes it (cms.node_routing)


@dataclass
class Runtime:
    """Everything a request, a WebSocket or a SOAP call needs, built once by :func:`build_runtime`."""

    settings: Settings
    db: Database
    validator: PayloadValidator
    node_id: str
    metrics: Metrics
    pipeline: ChargerPipeline  # every charger-initiated message of every transport
    dispatcher: Dispatcher  # every CMS-initiated command
    files: FileStore
    payments: PaymentProvider
    mailer: Mailer
    credentials: Credentials
    metrics_access: MetricsAccess
    group_commit: GroupCommitter | None = None
    heartbeats: HeartbeatBatcher | None = None
    maintenance: Maintenance | None = None
    redis: Redis | None = None
    router: Router | None = None  # to chargers of other processes (CMS_REDIS_URL)
    connections: LocalConnections | None = None  # the JSON chargers of this process (json_ws registers it)
    load_manager: LoadManager | None = None  # site load management (cms.loadmgmt), set by create_app
    # Called with (charge point identity, connection token) when a JSON charger connects / disconnects here.
    on_connect: list[Callable[[str, str], None]] = field(default_factory=list)
    on_disconnect: list[Callable[[str, str], None]] = field(default_factory=list)
    # Called with the same before a JSON charger's first answer is sent: once it is answered, every process
    # must reach it (its Redis presence is written).
    before_first_answer: list[Callable[[str, str], object]] = field(default_factory=list)
    # Called with a deadline (time.monotonic()) when the process stops: each transport closes its connections
    # once their messages are answered (see :meth:`shutdown`).
    on_shutdown: list[Callable[[float], object]] = field(default_factory=list)
    stopping: bool = False  # set by shutdown(): /readyz says 503 so load balancers send no new work
    admission: Admission | None = None  # OCPP-J handshakes in progress that read the database
    admission_known: Admission | None = None  # those of chargers the handshake cache knows (no database)
    handshake_cache: HandshakeCache | None = None  # registered chargers' handshake facts
    connection_flags: ConnectionFlags | None = None  # connected/disconnected flags written in batches

    def start(self) -> None:
        """Start the background loops: heartbeat batches, upkeep rounds, calls routed here over Redis."""
        if self.heartbeats is not None:
            self.heartbeats.start()
        if self.connection_flags is not None:
            self.connection_flags.start()
        if self.handshake_cache is not None:
            self.handshake_cache.load_from(self.db)  # a restart's reconnect storm finds them known
        if self.maintenance is not None:
            self.maintenance.start()
        if self.router is not None:
            self.router.start()

    def handshake_gate(self, identity: str | None) -> Admission | None:
        """The admission gate of a handshake to ``identity`` (None: not known yet): ``admission_known`` when the
        handshake cache holds the charger's facts (checked without the database), else ``admission``."""
        cache = self.handshake_cache
        if identity and self.admission_known is not None and cache is not None and cache.get(identity) is not None:
            return self.admission_known
        return self.admission

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop this process's work within ``timeout`` seconds, losing nothing a charger was told is stored.

        In order: the transports close their chargers' connections once the messages they are handling are
        answered (JSON chargers get WebSocket close 1001, Going Away, and reconnect to another process); the
        messages already handed to group commit are written; the batched heartbeat times and message-log copies
        are written, and from then on each is written before its message is answered; this process's Redis
        presence is withdrawn and its background loops stop. The caller (cms.gunicorn_worker, or a test) has
        stopped accepting connections. Calling it again is harmless.
        """
        deadline = time.monotonic() + timeout
        self.stopping = True
        # The transports get all but a second; the writes after them are a transaction or two.
        transports_deadline = deadline - min(1.0, timeout / 4)
        for close in list(self.on_shutdown):
            _attempt(close, transports_deadline)
        if self.group_commit is not None:
            _attempt(self.group_commit.drain, deadline)
        if self.heartbeats is not None:
            _attempt(self.heartbeats.close)
        if self.connection_flags is not None:
            _attempt(self.connection_flags.close)
        if self.router is not None:
            _attempt(self.router.withdraw_all)
            _attempt(self.router.stop)
        if self.maintenance is not None:
            _attempt(self.maintenance.stop)


def _attempt(step: Callable, *args) -> None:
    """One step of a shutdown: a failure is logged and the next step still runs."""
    try:
        step(*args)
    except Exception:
        log.exception("shutdown: %s failed", getattr(step, "__qualname__", step))


def build_pipeline(
    db: Database,
    settings: Settings,
    validator: PayloadValidator,
    *,
    metrics: Metrics = NO_METRICS,
    data_transfer: DataTransferRegistry | None = None,
    observers: Iterable[MessageObserver] = (),
) -> tuple[ChargerPipeline, GroupCommitter | None, HeartbeatBatcher | None]:
    """The charger-message pipeline as ``settings`` ask for it (group commit, batched heartbeats, billing);
    also the group committer and heartbeat batcher, which the runtime stops."""
    heartbeats = None
    if settings.heartbeat_batch_seconds > 0:
        heartbeats = HeartbeatBatcher(db, settings.heartbeat_batch_seconds, settings.message_log_limit, metrics=metrics)
    accepted = AcceptedChargers() if heartbeats is not None else None
    runner = MessageRunner(
        db,
        settings,
        data_transfer=data_transfer,
        accepted=accepted,
        heartbeats=heartbeats,
        on_transaction_stopped=[billing_hook(settings)],
        observers=observers,
    )
    group_commit = None
    if settings.group_commit_max > 0:
        group_commit = GroupCommitter(runner, settings.group_commit_max, settings.group_commit_writers, metrics=metrics)
    pipeline = ChargerPipeline(
        runner,
        validator,
        settings,
        group_commit=group_commit,
        heartbeats=heartbeats,
        accepted=accepted,
        metrics=metrics,
    )
    return pipeline, group_commit, heartbeats


def build_runtime(
    settings: Settings,
    metrics_factory: Callable[[Database], Metrics] | None = None,
    *,
    observers: Iterable[MessageObserver] = (),
    connections: LocalConnections | None = None,
) -> Runtime:
    """The runtime's objects, wired; nothing runs until :meth:`Runtime.start`. ``metrics_factory`` makes the
    metrics once the database exists; ``observers`` see every committed charger message; ``connections`` are
    the transport's charger connections of this process."""
    db = Database(settings.database_url, echo=settings.sql_echo)
    node_id = settings.node_id or f"{socket.gethostname()}:{os.getpid()}"
    validator = PayloadValidator()
    metrics = metrics_factory(db) if metrics_factory is not None else NO_METRICS
    pipeline, group_commit, heartbeats = build_pipeline(
        db, settings, validator, metrics=metrics, data_transfer=DataTransferRegistry(), observers=observers
    )
    mailer = Mailer(settings)
    dispatcher = Dispatcher(db, validator, timeout=settings.call_timeout, metrics=metrics)
    maintenance = None
    if settings.maintenance_interval > 0:
        maintenance = Maintenance(
            db, settings.heartbeat_interval, settings.maintenance_interval, settings.gc_full_interval
        )
    client, router = _redis(settings, node_id, dispatcher, connections) if settings.redis_url else (None, None)
    handshake_cache = HandshakeCache(settings.handshake_cache_seconds)
    handshake_cache.watch(db.session_factory)
    connection_flags = None
    if settings.connection_flags_batch_seconds > 0 and settings.heartbeat_batch_seconds > 0:
        connection_flags = ConnectionFlags(db, settings.connection_flags_batch_seconds)
    return Runtime(
        settings=settings,
        db=db,
        validator=validator,
        node_id=node_id,
        metrics=metrics,
        pipeline=pipeline,
        dispatcher=dispatcher,
        files=FileStore(settings),
        payments=load_provider(settings),
        mailer=mailer,
        credentials=Credentials(settings, mailer),
        metrics_access=MetricsAccess.from_settings(settings),
        group_commit=group_commit,
        heartbeats=heartbeats,
        maintenance=maintenance,
        redis=client,
        router=router,
        connections=connections,
        on_connect=[router.announce] if router is not None else [],
        before_first_answer=[router.await_announcement] if router is not None else [],
        on_disconnect=[router.withdraw] if router is not None else [],
        admission=Admission(settings.max_pending_handshakes, settings.handshake_wait_seconds),
        admission_known=Admission(settings.max_pending_known_handshakes, settings.handshake_wait_seconds),
        handshake_cache=handshake_cache,
        connection_flags=connection_flags,
    )


def _redis(
    settings: Settings, node_id: str, dispatcher: Dispatcher, connections: LocalConnections | None
) -> tuple[Redis, RedisRouter]:
    """Several processes or nodes: share who holds which charger, and route commands, over Redis."""
    import redis

    from .node_routing import RedisRouter

    # Connecting times out quickly (a Redis that is away must not hold a command or a probe); reads do not, since
    # a BLPOP waits for a charger's answer.
    # A bounded pool: under gevent every connection's greenlet announcing itself at once (a reconnect storm) would
    # otherwise open a Redis connection each, thousands, past Redis's maxclients; beyond the bound they wait.
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=REDIS_POOL_SIZE,
        timeout=5,
        socket_timeout=None,
        socket_connect_timeout=2,
        health_check_interval=30,
    )
    client = redis.Redis(connection_pool=pool)
    router = RedisRouter(
        client,
        node_id,
        dispatcher.call_local,
        held=connections.held if connections is not None else None,
        refresh_interval=settings.presence_refresh_seconds,
        announce_delay=ANNOUNCE_DELAY,
    )
    # The dispatcher routes to other processes through the router, which delivers calls addressed here
    # through the dispatcher's local gateways: the one link made after construction.
    dispatcher.remote = router
    return client, router
