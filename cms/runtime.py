"""The per-process objects the app is made of, kept on ``app.extensions["cms"]``."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import Settings
from .datatransfer import DataTransferRegistry
from .db import Database
from .metrics import NO_METRICS, Metrics
from .schemas import PayloadValidator
from .services import ChargerService


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


def build_runtime(settings: Settings, metrics_factory: Callable[[Database], Metrics] | None = None) -> Runtime:
    """The runtime's core objects; ``metrics_factory`` makes the metrics once the database exists."""
    db = Database(settings.database_url, echo=settings.sql_echo)
    node_id = settings.node_id or f"{socket.gethostname()}:{os.getpid()}"
    validator = PayloadValidator()
    metrics = metrics_factory(db) if metrics_factory is not None else NO_METRICS
    return Runtime(
        settings=settings,
        db=db,
        charger_service=ChargerService(db, settings, DataTransferRegistry(), validator, metrics=metrics),
        validator=validator,
        node_id=node_id,
        metrics=metrics,
    )
