"""The per-process objects the app is made of, kept on ``app.extensions["cms"]``."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import Settings
from .datatransfer import DataTransferRegistry
from .db import Database
from .metrics import NO_METRICS, Metrics
from .schemas import PayloadValidator
from .services import ChargerService, MessageObserver

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a request, a WebSocket or a SOAP call needs, built once by ``create_app``."""

    settings: Settings
    db: Database
    charger_service: ChargerService
    validator: PayloadValidator
    node_id: str
    metrics: Metrics = NO_METRICS  # what the collaborators record (cms.metrics); /metrics shows it
    registry: Any = None  # json_ws ConnectionRegistry of this process
    dispatcher: Any = None  # cms.dispatcher.Dispatcher
    # Called with (charge point identity, connection token) when a JSON charger connects / disconnects here.
    on_connect: list[Callable[[str, str], None]] = field(default_factory=list)
    on_disconnect: list[Callable[[str, str], None]] = field(default_factory=list)
    extras: dict = field(default_factory=dict)
    # Called with a deadline (time.monotonic()) when the process stops: each transport closes its connections
    # once their messages are answered (see :meth:`shutdown`).
    on_shutdown: list[Callable[[float], None]] = field(default_factory=list)
    stopping: bool = False  # set by shutdown(): /readyz says 503 so load balancers send no new work

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
        service = self.charger_service
        if service.group_commit is not None:
            _attempt(service.group_commit.drain, deadline)
        if service.heartbeats is not None:
            _attempt(service.heartbeats.close)
        router = self.extras.get("redis_router")
        if router is not None:
            _attempt(router.withdraw_all)
            _attempt(router.stop)
        maintenance = self.extras.get("maintenance")
        if maintenance is not None:
            _attempt(maintenance.stop)


def _attempt(step: Callable, *args) -> None:
    """One step of a shutdown: a failure is logged and the next step still runs."""
    try:
        step(*args)
    except Exception:
        log.exception("shutdown: %s failed", getattr(step, "__qualname__", step))


def build_runtime(
    settings: Settings,
    metrics_factory: Callable[[Database], Metrics] | None = None,
    observers: Sequence[MessageObserver] = (),
) -> Runtime:
    """The runtime's core objects; ``metrics_factory`` makes the metrics once the database exists; ``observers``
    are told of every committed charger message (:class:`cms.services.CommittedMessage`)."""
    db = Database(settings.database_url, echo=settings.sql_echo)
    node_id = settings.node_id or f"{socket.gethostname()}:{os.getpid()}"
    validator = PayloadValidator()
    metrics = metrics_factory(db) if metrics_factory is not None else NO_METRICS
    return Runtime(
        settings=settings,
        db=db,
        charger_service=ChargerService(
            db, settings, DataTransferRegistry(), validator, metrics=metrics, observers=observers
        ),
        validator=validator,
        node_id=node_id,
        metrics=metrics,
    )
