"""The metrics of :mod:`cms.metrics` in Prometheus terms: metric families, the scrape-time collector of chargers
online, the database pool's events and the text exposition (``cms.serve_metrics`` keeps the multiprocess
directory of ``cms serve``).

Isolation: every app builds its own :class:`PrometheusMetrics` with its own ``CollectorRegistry`` (never the
library's global ``REGISTRY``), so tests that build many apps in one process each start from zero. The only
module-level state is prometheus_client's own: in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before
the library is imported, as ``cms serve`` does for its workers) each process writes its values to files of its
own in that directory, and a scrape merges the files of all processes, so any worker answers for all of them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from sqlalchemy import event

from .metrics import INTERNAL_ERROR, NO_ACTION, action_label, outcome_label
from .models import utcnow
from .queries import online_charger_counts

log = logging.getLogger(__name__)

# The (transport, OCPP version) pairs a charger can speak: always exposed, zero when none is online.
CHARGER_KINDS = (("json", "1.6"), ("soap", "1.5"), ("soap", "1.6"))

# Charger messages take a millisecond when idle and up to a few hundred under load (they wait for their group
# commit); commands wait for a charger over the network, up to CMS_CALL_TIMEOUT (30 s by default).
_MESSAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_COMMAND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_BATCH_BUCKETS = (1, 10, 100, 1000, 10000, 100000)
_LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def build_metrics(settings, db) -> PrometheusMetrics:
    """The metrics of one app: chargers online read from ``db`` at each scrape, its pool followed."""

    def online_counts() -> dict[tuple[str, str], int]:
        with db.uow() as uow:
            return online_charger_counts(uow.session, utcnow(), settings.heartbeat_interval)

    metrics = PrometheusMetrics(online_counts)
    metrics.watch_pool(db.engine)
    return metrics


def multiprocess_mode() -> bool:
    """True when prometheus_client keeps values in per-process files (it decides once, at import)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class PrometheusMetrics:
    """:class:`cms.metrics.Metrics` on prometheus_client; :meth:`exposition` renders a scrape.

    ``online_counts`` (no arguments, returns ``{(transport, version): n}``) is read once per scrape: which
    chargers are online is in the database, so it is right across processes and nodes.
    """

    def __init__(self, online_counts: Callable[[], dict[tuple[str, str], int]] | None = None):
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "cms_charger_messages",
            "Messages received from chargers, by transport, action and outcome "
            "(result, or the OCPP error code / SOAP fault code they were answered with)",
            ["transport", "action", "outcome"],
            registry=r,
        )
        self.message_seconds = Histogram(
            "cms_charger_message_duration_seconds",
            "Time from a charger message's arrival in the service "
            "layer to its answer (including the wait for its group commit), by action",
            ["action"],
            buckets=_MESSAGE_BUCKETS,
            registry=r,
        )
        self.internal_errors = Counter(
            "cms_charger_internal_errors",
            "InternalError answers to chargers (OCPP-J CALLERROR InternalError, "
            "SOAP Receiver fault): the server's own failures",
            ["transport"],
            registry=r,
        )
        for transport in ("json", "soap"):  # exposed at 0 from the start, so the first one shows as an increase
            self.internal_errors.labels(transport)
        self.commands = Counter(
            "cms_commands",
            "CMS-initiated commands sent to chargers, by action and outcome "
            "(result, charger_call_error, timeout, not_connected, error)",
            ["action", "outcome"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "cms_command_round_trip_seconds",
            "Round trip of CMS-initiated commands, by action",
            ["action"],
            buckets=_COMMAND_BUCKETS,
            registry=r,
        )
        self.group_size = Histogram(
            "cms_group_commit_messages",
            "Charger messages committed together in one transaction",
            buckets=_GROUP_BUCKETS,
            registry=r,
        )
        self.heartbeat_batch = Histogram(
            "cms_heartbeat_batch_heartbeats",
            "Chargers' heartbeat times written in one batch",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.heartbeat_lag = Histogram(
            "cms_heartbeat_batch_lag_seconds",
            "Age of the oldest heartbeat of a batch when the batch is written",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        # Per process: in multiprocess mode each live worker's value carries a pid label, and a dead worker's
        # values go with it (mark_process_dead).
        self.pool_checked_out = Gauge(
            "cms_db_pool_checked_out_connections",
            "Database connections in use in this process",
            multiprocess_mode="liveall",
            registry=r,
        )
        self.pool_size = Gauge(
            "cms_db_pool_size_connections",
            "Size of this process's database connection pool",
            multiprocess_mode="liveall",
            registry=r,
        )
        self._children: dict[tuple, object] = {}  # labelled children, looked up once (labels() costs a lock)
        self._message_children: dict[tuple, tuple] = {}
        self._online = OnlineChargersCollector(online_counts) if online_counts is not None else None
        self._multiprocess = multiprocess_mode()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and not self._multiprocess:
            log.warning(
                "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported: /metrics shows "
                "only the process that answers the scrape"
            )
        if not self._multiprocess and self._online is not None:
            self.registry.register(self._online)

    def _child(self, metric, *labels):
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # ----- the port -----

    def charger_message(self, transport: str, action: str | None, outcome: str, seconds: float | None = None) -> None:
        # On every message: the labelled children are looked up once per (transport, action, outcome) as sent.
        # Only values that are their own label are kept, so a charger's made-up names cannot grow the dict.
        children = self._message_children.get((transport, action, outcome))
        if children is None:
            children = self._message_children_for(transport, action, outcome)
        count, latency, internal = children
        count.inc()
        if seconds is not None:
            (latency or self.message_seconds.labels(action_label(action))).observe(seconds)
        if internal is not None:
            internal.inc()

    def _message_children_for(self, transport: str, action: str | None, outcome: str) -> tuple:
        action_, outcome_ = action_label(action), outcome_label(outcome)
        # No latency series for messages too broken to name an action: they are refused unhandled.
        latency = self.message_seconds.labels(action_) if action_ != NO_ACTION else None
        children = (
            self.messages.labels(transport, action_, outcome_),
            latency,
            self.internal_errors.labels(transport) if outcome_ == INTERNAL_ERROR else None,
        )
        if action_ == (action or NO_ACTION) and outcome_ == outcome:
            self._message_children[(transport, action, outcome)] = children
        return children

    def internal_error(self, transport: str) -> None:
        self._child(self.internal_errors, transport).inc()

    def command_sent(self, action: str, outcome: str, seconds: float) -> None:
        action = action_label(action)
        self._child(self.commands, action, outcome_label(outcome)).inc()
        self._child(self.command_seconds, action).observe(seconds)

    def group_committed(self, size: int) -> None:
        self.group_size.observe(size)

    def heartbeat_batch_written(self, size: int, lag_seconds: float) -> None:
        self.heartbeat_batch.observe(size)
        self.heartbeat_lag.observe(max(0.0, lag_seconds))

    def watch_pool(self, engine) -> None:
        """Follow ``engine``'s pool: its size, and connections in use (out of the pool, not yet back)."""
        pool = engine.pool
        size = getattr(pool, "size", None)
        self.pool_size.set(size() if callable(size) else 1)
        gauge = self.pool_checked_out
        gauge.set(0)
        # Counted from the events: the pool's own count (QueuePool.checkedout) still includes a connection
        # while its checkin event runs. A detached connection leaves the pool without a checkin.
        event.listen(pool, "checkout", lambda *_: gauge.inc())
        event.listen(pool, "checkin", lambda *_: gauge.dec())
        event.listen(pool, "detach", lambda *_: gauge.dec())

    # ----- exposition -----

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """A scrape: the body and its content type (Prometheus text, or OpenMetrics when ``accept`` asks)."""
        encoder, content_type = choose_encoder(accept or "")
        if not self._multiprocess:
            return encoder(self.registry), content_type
        from prometheus_client.multiprocess import MultiProcessCollector

        # The files of every process (this one's included); the registry above is only written, never read.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        if self._online is not None:
            registry.register(self._online)
        return encoder(registry), content_type


class OnlineChargersCollector:
    """``cms_chargers_connected`` by transport and OCPP version, read from the database at each scrape."""

    def __init__(self, counts: Callable[[], dict[tuple[str, str], int]]):
        self._counts = counts

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "cms_chargers_connected",
            "Chargers online: JSON chargers holding a WebSocket to any process, SOAP "
            "chargers heard within two heartbeat intervals",
            labels=["transport", "ocpp_version"],
        )

    def describe(self):
        return [self._family()]

    def collect(self):
        try:
            counts = self._counts()
        except Exception as e:  # a scrape still shows everything else; the series' absence is the signal
            log.warning("metrics: chargers online could not be read: %s", e.__class__.__name__)
            return []
        family = self._family()
        for transport, version in sorted(set(CHARGER_KINDS) | set(counts)):
            family.add_metric([transport, version], counts.get((transport, version), 0))
        return [family]
