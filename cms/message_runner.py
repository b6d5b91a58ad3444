"""One charger message in a unit of work: the registration gate, its handler, the message log, then what its
commit makes final (caches, log copies, after-commit observers).

:class:`cms.pipeline.ChargerPipeline` calls :meth:`MessageRunner.run_alone`; :class:`cms.group_commit.GroupCommitter`
calls :meth:`MessageRunner.apply` for each message of a group in one unit of work, then :meth:`committed` or
:meth:`refused`. Neither calls back into the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

import orjson
from ocpp.v16.enums import Action, RegistrationStatus
from sqlalchemy import ARRAY, String, any_, bindparam, select
from sqlalchemy.orm import Session

from . import message_log
from .config import Settings
from .datatransfer import DataTransferRegistry
from .db import Database
from .errors import InternalFailure, OcppError
from .handlers import HANDLERS, Charger, ChargerRow, Handler, OperationContext, PendingChargerWrites, StopHook
from .heartbeats import HeartbeatBatcher
from .models import ChargePoint

log = logging.getLogger(__name__)

# How stale ChargePoint.last_seen_at may get while a charger keeps talking (see MessageRunner.apply).
LAST_SEEN_RESOLUTION = timedelta(seconds=15)
# How long a charger's accepted state is trusted for batched heartbeats (an owner's change shows within this).
ACCEPTED_TTL = 300.0


@dataclass(frozen=True, slots=True)
class CommittedMessage:
    """A charger message whose unit of work committed: what an after-commit observer receives."""

    identity: str
    charge_point_id: int
    action: str
    request: Mapping[str, Any]
    response: Mapping[str, Any]
    at: datetime


# Called after a message's commit, in the thread that committed it; must not raise (a failure is logged).
MessageObserver = Callable[[CommittedMessage], None]


@dataclass(slots=True)
class Applied:
    """A message run in a unit of work not yet committed: what its commit makes final."""

    row: ChargerRow
    cached: bool  # the row came from the cache of accepted chargers
    seen: bool  # last_seen_at was written
    request: Mapping[str, Any]
    request_text: str
    response: dict


class AcceptedChargers:
    """Rows of chargers known to be accepted, as their last message left them: the fast paths (batched
    heartbeats, no charger read per message) trust them for ``ttl`` seconds after the row was read."""

    def __init__(self, ttl: float = ACCEPTED_TTL, clock: Callable[[], float] = monotonic):
        self.ttl = ttl
        self.clock = clock
        self._rows: dict[str, tuple[ChargerRow, float]] = {}  # identity -> (row, clock() when read)

    def known(self, charger: Charger) -> ChargerRow | None:
        """The row of ``charger`` if it is known accepted and this message comes the way the last did."""
        known = self._rows.get(charger.identity)
        if known is None or self.clock() - known[1] > self.ttl:
            return None
        row = known[0]
        if (row.transport, row.ocpp_version) != (charger.transport, charger.ocpp_version) or (
            charger.endpoint_url and charger.endpoint_url != row.endpoint_url
        ):
            return None
        return row

    def remember(self, row: ChargerRow, charger: Charger, action: str, response: Mapping, cached: bool) -> None:
        """Keep an accepted charger's row (as this message left it). The time kept is when the row was read from
        the database, so an owner's change shows within ``ttl`` however busy the charger is."""
        status = response.get("status") if action == Action.boot_notification else row.registration_status
        if status == RegistrationStatus.accepted and row.registered:
            fresh = ChargerRow(
                row.id,
                row.identity,
                row.owner_id,
                row.registered,
                RegistrationStatus.accepted,
                charger.transport,
                charger.ocpp_version,
                charger.endpoint_url or row.endpoint_url,
                row.last_seen_at,
                row.heartbeat_interval,
            )
            known = self._rows.get(charger.identity) if cached else None
            self._rows[charger.identity] = (fresh, known[1] if known is not None else self.clock())
        else:
            self._rows.pop(charger.identity, None)

    def forget(self, identity: str) -> None:
        """Read this charger afresh next time (a message of it failed; it may have been removed)."""
        self._rows.pop(identity, None)


# Built once: constructing statements is a large share of the per-message cost.
_CHARGER_COLUMNS = (
    ChargePoint.id,
    ChargePoint.identity,
    ChargePoint.owner_id,
    ChargePoint.registered,
    ChargePoint.registration_status,
    ChargePoint.transport,
    ChargePoint.ocpp_version,
    ChargePoint.endpoint_url,
    ChargePoint.last_seen_at,
    ChargePoint.heartbeat_interval,
)
_CHARGER_ROW = select(*_CHARGER_COLUMNS).where(ChargePoint.identity == bindparam("identity_"))
# The rows of a commit group's chargers in one statement: an array on PostgreSQL (one prepared statement however
# many there are), an IN list elsewhere.
_CHARGER_ROWS_PG = select(*_CHARGER_COLUMNS).where(
    ChargePoint.identity == any_(bindparam("identities_", type_=ARRAY(String)))
)
_CHARGER_ROWS = select(*_CHARGER_COLUMNS).where(ChargePoint.identity.in_(bindparam("identities_", expanding=True)))


def _charger_row(columns: Sequence[Any]) -> ChargerRow:
    """A charger's row from the columns these statements read, in their order."""
    return ChargerRow(*columns)


class MessageRunner:
    """Runs one charger message's handler in a unit of work; its collaborators are given at construction.

    ``accepted`` and ``heartbeats`` go together (batching on): the message-log copies then go with the next
    heartbeat batch instead of each message's own transaction. ``on_transaction_stopped`` hooks run inside a
    StopTransaction's unit of work (billing); ``observers`` after each message's commit.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        data_transfer: DataTransferRegistry | None = None,
        accepted: AcceptedChargers | None = None,
        heartbeats: HeartbeatBatcher | None = None,
        on_transaction_stopped: Iterable[StopHook] = (),
        observers: Iterable[MessageObserver] = (),
        handlers: Mapping[str, Handler] = HANDLERS,
    ):
        self.db = db
        self.settings = settings
        self.data_transfer = data_transfer or DataTransferRegistry()
        self.accepted = accepted
        self.heartbeats = heartbeats
        self.on_transaction_stopped = tuple(on_transaction_stopped)
        self.observers = tuple(observers)
        self.handlers = handlers

    def run_alone(
        self,
        charger: Charger,
        action: str,
        payload: Mapping[str, Any],
        unique_id: str | None,
        raw: str | None,
        now: datetime,
    ) -> dict:
        """Run one message in its own unit of work; raises :class:`OcppError` for the charger."""
        try:
            with self.db.uow() as uow:
                applied = self.apply(uow.session, charger, action, payload, unique_id, raw, now)
                uow.commit()
        except OcppError:
            self.refused(charger, action, unique_id, raw, payload)
            raise
        except Exception as exc:  # the server's failure: the charger gets InternalError, the message stays in the log
            log.exception("%s from %s failed", action, charger.identity)
            self.refused(charger, action, unique_id, raw, payload)
            raise InternalFailure(f"{action} could not be processed") from exc
        self.committed(applied, charger, action, unique_id, now)
        return applied.response

    def apply(
        self,
        s: Session,
        charger: Charger,
        action: str,
        payload: Mapping[str, Any],
        unique_id: str | None,
        raw: str | None,
        now: datetime,
        row: ChargerRow | None = None,
        pending: PendingChargerWrites | None = None,
    ) -> Applied:
        """Run one message's handler in ``s`` (the caller commits). An :class:`OcppError` raised here comes
        before anything was written, so a caller may go on with other messages in the same session. ``row``:
        the charger's row as :meth:`read_rows` read it in ``s`` just before (else it is read here, or taken
        from the cache of accepted chargers). With ``pending``, the changes of the charger's row are left there
        for the caller to write before it commits (and before the charger's next message reads its row)."""
        handler = self.handlers[action]
        cp = row if row is not None else self._cached_row(charger, action)
        cached, known = cp is not None and row is None, True
        if cp is None:
            found = s.connection().execute(_CHARGER_ROW, {"identity_": charger.identity}).first()
            if found is None:
                cp, known = self._unknown_charger(s, charger, action), False
            else:
                cp = _charger_row(found)
        # The registration gate: an unknown or rejected charger may only boot, and send transaction messages.
        if (
            known
            and action != Action.boot_notification
            and cp.registration_status != RegistrationStatus.accepted
            and not handler.transaction_message
        ):
            raise OcppError("SecurityError", "The charge point is not accepted; send BootNotification")
        changes: dict[str, Any] = {}
        # "Last seen" at a resolution of LAST_SEEN_RESOLUTION: rewriting the charger's row on every
        # message of a session costs an UPDATE each; heartbeat and boot times stay exact.
        if cp.last_seen_at is None or not (timedelta(0) <= now - cp.last_seen_at < LAST_SEEN_RESOLUTION):
            changes["last_seen_at"] = now
        if charger.endpoint_url and cp.endpoint_url != charger.endpoint_url:
            changes["endpoint_url"] = charger.endpoint_url
        if cp.transport != charger.transport or cp.ocpp_version != charger.ocpp_version:
            changes["transport"], changes["ocpp_version"] = charger.transport, charger.ocpp_version
        ctx = OperationContext(s, cp, charger, self.settings, now, self.data_transfer, self.on_transaction_stopped)
        if changes:
            ctx.update_charger(**changes)
        response = handler.run(ctx, payload)
        if pending is None:
            ctx.flush_charger()
        else:
            pending.add(charger.identity, cp.id, ctx.take_changes())
        request_text = raw if raw is not None else orjson.dumps(payload).decode()
        limit = self.settings.message_log_limit
        if limit > 0 and self.heartbeats is None:
            message_log.record_exchange(
                s, cp.id, action, unique_id, request_text, orjson.dumps(response).decode(), limit=limit
            )
        return Applied(cp, cached, "last_seen_at" in changes, payload, request_text, response)

    def read_rows(self, s: Session, messages: Iterable[tuple[Charger, str]]) -> dict[str, ChargerRow]:
        """The rows of the chargers of ``messages`` (charger, action) about to be applied together in ``s`` (a
        commit group), read by one statement, for those :meth:`apply` would read one by one: boots, and chargers
        not in the cache of accepted chargers. In a reconnect storm a group is dozens of boots. A row is good
        for its charger's first message in the group only (that message may change it): hand it to that one."""
        wanted = {charger.identity for charger, action in messages if self._cached_row(charger, action) is None}
        if len(wanted) < 2:  # one row costs the same either way
            return {}
        conn = s.connection()
        statement = _CHARGER_ROWS_PG if conn.dialect.name == "postgresql" else _CHARGER_ROWS
        found = conn.execute(statement, {"identities_": sorted(wanted)})
        return {r.identity: _charger_row(r) for r in found}

    def _cached_row(self, charger: Charger, action: str) -> ChargerRow | None:
        """An accepted charger's row, as its last message left it (it saves a query on every message); never for
        a BootNotification, which reads the row afresh."""
        if self.accepted is None or action == Action.boot_notification:
            return None
        return self.accepted.known(charger)

    def committed(self, applied: Applied, charger: Charger, action: str, unique_id: str | None, now: datetime) -> None:
        """What follows a message's commit: caches, the batched log copies, the after-commit observers."""
        cp = applied.row
        if applied.seen:  # only now: a rolled-back write must not be taken for done
            cp.last_seen_at = now
        if self.heartbeats is not None and self.settings.message_log_limit > 0:
            # troubleshooting copies go with the next batch
            self.heartbeats.log(
                message_log.exchange_rows(
                    cp.id, action, unique_id, applied.request_text, orjson.dumps(applied.response).decode(), now
                )
            )
        if self.accepted is not None:
            self.accepted.remember(cp, charger, action, applied.response, cached=applied.cached)
        if self.observers:
            message = CommittedMessage(charger.identity, cp.id, action, applied.request, applied.response, now)
            for observe in self.observers:
                try:
                    observe(message)
                except Exception:  # the message is committed and answered whatever an observer does
                    log.exception("after-commit observer %r failed on %s", observe, action)

    def refused(
        self, charger: Charger, action: str, unique_id: str | None, raw: str | None, payload: Mapping[str, Any]
    ) -> None:
        """A message that failed: read its charger afresh next time (it may have been removed), keep the
        message in the log."""
        if self.accepted is not None:
            self.accepted.forget(charger.identity)
        self.log_failed(charger, action, unique_id, raw, payload)

    def _unknown_charger(self, s: Session, charger: Charger, action: str) -> ChargerRow:
        """A charger the CMS does not know: registered when auto-registration is on, else only recorded."""
        if not self.settings.auto_register and action != Action.boot_notification:
            raise OcppError("SecurityError", f"Unknown charge point {charger.identity}")
        status = RegistrationStatus.accepted if self.settings.auto_register else RegistrationStatus.rejected
        cp = ChargePoint(
            identity=charger.identity,
            registered=self.settings.auto_register,
            registration_status=status,
            transport=charger.transport,
            ocpp_version=charger.ocpp_version,
            endpoint_url=charger.endpoint_url,
        )
        s.add(cp)
        s.flush()
        return ChargerRow(
            cp.id,
            cp.identity,
            cp.owner_id,
            cp.registered,
            cp.registration_status,
            cp.transport,
            cp.ocpp_version,
            cp.endpoint_url,
            cp.last_seen_at,
            cp.heartbeat_interval,
        )

    def log_failed(
        self, charger: Charger, action: str, unique_id: str | None, raw: str | None, payload: Mapping[str, Any]
    ) -> None:
        """Keep a message whose handling failed, so nothing a charger sent is lost."""
        if self.settings.message_log_limit <= 0:
            return
        try:
            with self.db.uow() as uow:
                cp_id = uow.session.scalar(select(ChargePoint.id).where(ChargePoint.identity == charger.identity))
                if cp_id is None:
                    return
                message_log.record(
                    uow.session,
                    cp_id,
                    "in",
                    action,
                    unique_id,
                    raw if raw is not None else orjson.dumps(payload).decode(),
                    limit=self.settings.message_log_limit,
                )
                uow.commit()
        except Exception:  # pragma: no cover - logging must never take the connection down
            log.exception("could not log failed message")
