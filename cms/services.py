"""The service layer for charger-initiated OCPP operations: one function per action, transport-neutral.

Every transport (OCPP-J, SOAP 1.5, SOAP 1.6) decodes a message into an OCPP 1.6 payload (camelCase dict)
and calls :meth:`ChargerService.handle`; the answer is an OCPP 1.6 response payload. Rules live here only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic, perf_counter
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import bindparam, case, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import limits, message_log
from .authorization import authorize, authorize_with_tag
from .bulk import BulkInsert
from .config import Settings
from .datatransfer import DataTransferRegistry
from .db import Database
from .errors import InternalFailure, OcppError
from .heartbeats import HeartbeatBatcher
from .metering import latest_register_and_power, rows_from_meter_values
from .metrics import INTERNAL_ERROR, NO_METRICS, RESULT, Metrics
from .models import (
    ChargePoint,
    Connector,
    DataTransferRecord,
    MeterValue,
    Reservation,
    StatusEvent,
    Transaction,
    UnmatchedStop,
    utcnow,
)
from .schemas import PayloadValidator
from .timeutil import iso, parse_timestamp

if TYPE_CHECKING:
    from .group_commit import GroupCommitter

log = logging.getLogger(__name__)

# The charger-initiated operations of OCPP 1.5 and 1.6 (core, firmware, local auth list).
CHARGER_OPERATIONS = (
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
)
# How stale ChargePoint.last_seen_at may get while a charger keeps talking (see ChargerService.handle).
LAST_SEEN_RESOLUTION = timedelta(seconds=15)
# Actions a charger may not send but that OCPP 1.6 knows (CMS-initiated ones, security extensions):
# answered NotSupported rather than NotImplemented.
KNOWN_UNSUPPORTED = frozenset(
    {
        "SecurityEventNotification",
        "LogStatusNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetLocalListVersion",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
    }
)


@dataclass
class Charger:
    """The charger behind a message, as the transport knows it."""

    identity: str
    transport: str = "json"
    ocpp_version: str = "1.6"
    endpoint_url: str | None = None


@dataclass(slots=True)
class ChargerRow:
    """The columns of a charge point that almost every message needs, read without building an ORM object."""

    id: int
    identity: str
    owner_id: int | None
    registered: bool
    registration_status: str | None
    transport: str
    ocpp_version: str
    endpoint_url: str | None
    last_seen_at: datetime | None


@dataclass(slots=True)
class Applied:
    """A message run in a unit of work not yet committed: what its commit makes final."""

    row: ChargerRow
    cached: bool  # the row came from the cache of accepted chargers
    seen: bool  # last_seen_at was written
    after_commit: list[Callable[[], None]]
    request_text: str
    response: dict
    request: dict


@dataclass(frozen=True, slots=True)
class CommittedMessage:
    """A charger's message whose effects are committed, as observers of :class:`ChargerService` see it."""

    identity: str
    charge_point_id: int
    action: str
    request: dict
    response: dict


# Called after each charger message is committed (not for batched heartbeats); must return quickly (it runs on
# the charger's read path) and never raise (a failure is logged and the message still counts as answered).
MessageObserver = Callable[[CommittedMessage], None]


# Built once: constructing statements is a large share of the per-message cost.
_CHARGER_ROW = select(
    ChargePoint.id,
    ChargePoint.identity,
    ChargePoint.owner_id,
    ChargePoint.registered,
    ChargePoint.registration_status,
    ChargePoint.transport,
    ChargePoint.ocpp_version,
    ChargePoint.endpoint_url,
    ChargePoint.last_seen_at,
).where(ChargePoint.identity == bindparam("identity_"))
_SET_CHARGER = update(ChargePoint).where(ChargePoint.id == bindparam("cp_id_"))


class OperationContext:
    """What an operation function needs beyond the payload."""

    def __init__(
        self,
        session: Session,
        row: ChargerRow,
        charger: Charger,
        settings: Settings,
        now: datetime,
        data_transfer: DataTransferRegistry,
        on_transaction_stopped: list[Callable[[Session, StoppedTransaction], None]] | None = None,
    ):
        self.session = session
        self.row = row
        self.charger = charger
        self.settings = settings
        self.now = now
        self.data_transfer = data_transfer
        self.on_transaction_stopped = on_transaction_stopped or []
        self.after_commit: list[Callable[[], None]] = []
        self._charge_point: ChargePoint | None = None

    @property
    def charge_point(self) -> ChargePoint:
        """The full ORM charge point, loaded only by the operations that change its details."""
        if self._charge_point is None:
            self._charge_point = self.session.get_one(ChargePoint, self.row.id)
        return self._charge_point

    def update_charger(self, **values) -> None:
        """Set columns of this charge point with one UPDATE, without loading it (Core: the ORM's bulk-update
        bookkeeping cost more than the statement)."""
        self.session.connection().execute(_SET_CHARGER.values(**values), {"cp_id_": self.row.id})


# --------------------------------------------------------------------------------------------------------
# Operations. Each takes the context and the OCPP 1.6 request payload and returns the response payload.
# --------------------------------------------------------------------------------------------------------


def boot_notification(ctx: OperationContext, p: dict) -> dict:
    """Record boot details; a registered charger is Accepted, others Rejected (decided in ``handle``)."""
    cp = ctx.charge_point
    cp.vendor = p.get("chargePointVendor")
    cp.model = p.get("chargePointModel")
    cp.serial_number = p.get("chargePointSerialNumber")
    cp.charge_box_serial_number = p.get("chargeBoxSerialNumber")
    cp.firmware_version = p.get("firmwareVersion")
    cp.iccid = p.get("iccid")
    cp.imsi = p.get("imsi")
    cp.meter_type = p.get("meterType")
    cp.meter_serial_number = p.get("meterSerialNumber")
    cp.last_boot_at = ctx.now
    cp.ocpp_version = ctx.charger.ocpp_version
    cp.transport = ctx.charger.transport
    interval = cp.heartbeat_interval or ctx.settings.heartbeat_interval
    status = "Accepted" if cp.registered else "Rejected"
    cp.registration_status = status
    return {"status": status, "currentTime": iso(ctx.now), "interval": interval}


def heartbeat(ctx: OperationContext, p: dict) -> dict:
    ctx.update_charger(last_heartbeat_at=ctx.now)
    return {"currentTime": iso(ctx.now)}


def authorize_tag(ctx: OperationContext, p: dict) -> dict:
    return {"idTagInfo": authorize(ctx.session, p["idTag"], ctx.row, ctx.now)}


_TRANSACTION_BY_START_KEY = select(Transaction.id).where(Transaction.start_key == bindparam("key_"))
# A retried StartTransaction meets the unique start_key: PostgreSQL and SQLite skip the row (no error to fail a
# group commit) and RETURNING gives nothing; other databases raise, and the charger's retry finds the first.
_INSERT_TRANSACTION = {
    name: dialect_insert(Transaction.__table__)
    .on_conflict_do_nothing(index_elements=["start_key"])
    .returning(Transaction.__table__.c.id)
    for name, dialect_insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_PLAIN_INSERT_TRANSACTION = insert(Transaction.__table__).returning(Transaction.__table__.c.id)


def start_transaction(ctx: OperationContext, p: dict) -> dict:
    """Open a transaction. A retried StartTransaction gets the same transactionId; a reservation is used."""
    s, cp = ctx.session, ctx.row
    connector_id = int(p.get("connectorId") or 0)
    id_tag = str(p.get("idTag") or "")
    meter_start = int(p.get("meterStart") or 0)
    raw_ts = p.get("timestamp")
    key = hashlib.sha256(f"{cp.id}|{connector_id}|{id_tag}|{raw_ts}|{meter_start}".encode()).hexdigest()
    info, tag = authorize_with_tag(s, id_tag, cp, ctx.now)
    reservation = _matching_reservation(s, cp, connector_id, id_tag, p.get("reservationId"), ctx.now)
    start_ts = parse_timestamp(raw_ts)
    # Insert first, look up only when it was there already (a retry): the usual start costs one round trip less.
    # Core with RETURNING: the ORM's add-and-flush cost several times the INSERT.
    conn = s.connection()
    tx_id = conn.execute(
        _INSERT_TRANSACTION.get(conn.dialect.name, _PLAIN_INSERT_TRANSACTION),
        {
            "charge_point_id": cp.id,
            "connector_id": connector_id,
            "id_tag": id_tag,
            "start_key": key,
            "meter_start": meter_start,
            "start_timestamp": start_ts or ctx.now,
            "start_received_at": ctx.now,
            "reservation_id": reservation.id if reservation else p.get("reservationId"),
            "start_status": info["status"],
            "last_meter_wh": float(meter_start),
            "last_meter_at": ctx.now,
            "user_id": tag.owner_id if tag is not None else None,
        },
    ).scalar()
    if tx_id is None:  # a retry: the same transaction, authorised without counting itself as concurrent
        existing = conn.scalar(_TRANSACTION_BY_START_KEY, {"key_": key})
        info = authorize(s, id_tag, cp, ctx.now, exclude_transaction_id=existing)
        return {"transactionId": existing, "idTagInfo": info}
    if reservation is not None:
        reservation.status = "Used"
        reservation.transaction_id = tx_id
    return {"transactionId": tx_id, "idTagInfo": info}


@dataclass(slots=True)
class StoppedTransaction:
    """A transaction as its StopTransaction leaves it, read and written with Core (the ORM's load and flush
    cost more than the statements). ``on_transaction_stopped`` hooks read it and may set ``cost``."""

    id: int
    charge_point_id: int
    connector_id: int
    id_tag: str
    meter_start: int
    start_timestamp: datetime
    stop_timestamp: datetime | None
    meter_stop: int | None
    last_meter_wh: float | None
    last_meter_at: datetime | None
    user_id: int | None
    cost: float | None


_STOP_COLUMNS = [Transaction.__table__.c[name] for name in StoppedTransaction.__slots__]
_TRANSACTION_FOR_STOP = select(*_STOP_COLUMNS).where(Transaction.__table__.c.id == bindparam("tx_id_"))
_SET_TRANSACTION = update(Transaction.__table__).where(Transaction.__table__.c.id == bindparam("tx_id_"))


def stop_transaction(ctx: OperationContext, p: dict) -> dict:
    """Close a transaction. Unknown ids (or -1, errata 3.18) are answered, kept for review, reconciled."""
    s, cp = ctx.session, ctx.row
    conn = s.connection()
    # A transactionId that cannot be stored (10^20) names no transaction: an unknown one, like -1.
    reported = p.get("transactionId")
    reported = -1 if reported is None else int(reported)
    id_tag = p.get("idTag")
    found = conn.execute(_TRANSACTION_FOR_STOP, {"tx_id_": reported}).first() if reported > 0 else None
    tx = StoppedTransaction(*found) if found is not None and found.charge_point_id == cp.id else None
    if tx is None:
        tx = _reconcile_stop(ctx, reported, p)
    connector_id = tx.connector_id if tx is not None else 0
    changes: dict = {}
    if tx is not None and tx.stop_timestamp is None:
        # Without a usable meterStop the session closes on its last reading (MeterValues), not on 0.
        meter_stop = p.get("meterStop")
        tx.meter_stop = int(meter_stop) if meter_stop is not None else None
        tx.stop_timestamp = parse_timestamp(p.get("timestamp")) or ctx.now
        changes = {
            "meter_stop": tx.meter_stop,
            "stop_timestamp": tx.stop_timestamp,
            "stop_received_at": ctx.now,
            "stop_reason": p.get("reason") or "Local",
            "stop_id_tag": id_tag,
            "last_power_w": 0.0,
        }
        if tx.meter_stop is not None:
            tx.last_meter_wh = changes["last_meter_wh"] = float(tx.meter_stop)
    rows = rows_from_meter_values(p.get("transactionData") or [], ctx.now)
    _store_meter_rows(ctx, rows, connector_id, tx.id if tx is not None else None)
    if tx is not None:
        cost = tx.cost
        for hook in ctx.on_transaction_stopped:
            hook(s, tx)
        if tx.cost != cost:
            changes["cost"] = tx.cost
        if changes:  # the stop and its cost in one UPDATE
            conn.execute(_SET_TRANSACTION, {"tx_id_": tx.id, **changes})
    if id_tag:
        info = authorize(s, id_tag, cp, ctx.now, check_concurrent=False)
        return {"idTagInfo": info}
    return {}


_TX = Transaction.__table__.c
_AT, _WH = bindparam("at_", type_=_TX.last_meter_at.type), bindparam("wh_", type_=_TX.last_meter_wh.type)
# A late sample (older and lower than the register kept) must not roll the live register back.
_NEWER = or_(
    _TX.last_meter_at.is_(None), _TX.last_meter_at <= _AT, _TX.last_meter_wh.is_(None), _TX.last_meter_wh <= _WH
)
_OPEN_TX_OF_CHARGER = update(Transaction.__table__).where(
    _TX.id == bindparam("tx_id_"), _TX.charge_point_id == bindparam("cp_id_"), _TX.stop_timestamp.is_(None)
)
_LIVE_REGISTER = {
    "last_meter_wh": case((_NEWER, _WH), else_=_TX.last_meter_wh),
    "last_meter_at": case((_NEWER, _AT), else_=_TX.last_meter_at),
}
_POWER = {"last_power_w": bindparam("w_", type_=_TX.last_power_w.type)}
# One UPDATE that checks the transaction is this charger's and open (no read first), built once per shape.
_SET_LIVE = {
    (True, True): _OPEN_TX_OF_CHARGER.values(**_LIVE_REGISTER, **_POWER),
    (True, False): _OPEN_TX_OF_CHARGER.values(**_LIVE_REGISTER),
    (False, True): _OPEN_TX_OF_CHARGER.values(**_POWER),
}


def meter_values(ctx: OperationContext, p: dict) -> dict:
    """Store every sampled value (inside a transaction or not) and keep the live register current."""
    connector_id = int(p.get("connectorId") or 0)
    tx_id = p.get("transactionId")
    tx_id = int(tx_id) if tx_id is not None else None
    rows = rows_from_meter_values(p.get("meterValue") or [], ctx.now)
    _store_meter_rows(ctx, rows, connector_id, tx_id)
    if rows and tx_id is not None:
        energy, power, at = latest_register_and_power(rows)
        shape = (energy is not None, power is not None)
        if shape in _SET_LIVE:
            ctx.session.connection().execute(
                _SET_LIVE[shape],
                {"tx_id_": tx_id, "cp_id_": ctx.row.id, "wh_": energy, "at_": at or ctx.now, "w_": power},
            )
    return {}


_SET_CONNECTOR_STATUS = update(Connector).where(
    Connector.charge_point_id == bindparam("cp_id_"), Connector.connector_id == bindparam("connector_id_")
)
_INSERT_CONNECTOR = insert(Connector.__table__)
_INSERT_STATUS_EVENT = insert(StatusEvent.__table__)


def status_notification(ctx: OperationContext, p: dict) -> dict:
    """Keep each connector's current status (0 is the charger itself) and its history."""
    cp = ctx.row
    connector_id = int(p.get("connectorId") or 0)
    ts = parse_timestamp(p.get("timestamp"))
    state = {
        "status": p.get("status") or "Unavailable",
        "error_code": p.get("errorCode") or "NoError",
        "info": p.get("info"),
        "vendor_id": p.get("vendorId"),
        "vendor_error_code": p.get("vendorErrorCode"),
    }
    # Core statements: the ORM's load-then-flush of the connector cost several times the SQL.
    conn = ctx.session.connection()
    changed = conn.execute(
        _SET_CONNECTOR_STATUS,
        {
            "cp_id_": cp.id,
            "connector_id_": connector_id,
            "status_timestamp": ts or ctx.now,
            "updated_at": ctx.now,
            **state,
        },
    ).rowcount
    if not changed:  # first word from this connector (a racing twin hits the unique key; the charger retries)
        conn.execute(
            _INSERT_CONNECTOR,
            {
                "charge_point_id": cp.id,
                "connector_id": connector_id,
                "status_timestamp": ts or ctx.now,
                "updated_at": ctx.now,
                **state,
            },
        )
    conn.execute(
        _INSERT_STATUS_EVENT,
        {"charge_point_id": cp.id, "connector_id": connector_id, **state, "timestamp": ts, "received_at": ctx.now},
    )
    return {}


def data_transfer(ctx: OperationContext, p: dict) -> dict:
    vendor_id, message_id, data = p["vendorId"], p.get("messageId"), p.get("data")
    status, response = ctx.data_transfer.dispatch(ctx.charger.identity, vendor_id, message_id, data)
    ctx.session.add(
        DataTransferRecord(
            charge_point_id=ctx.row.id,
            direction="in",
            vendor_id=vendor_id,
            message_id=message_id,
            data=data,
            status=status,
            response_data=response,
            received_at=ctx.now,
        )
    )
    out = {"status": status}
    if response is not None:
        out["data"] = response
    return out


def diagnostics_status_notification(ctx: OperationContext, p: dict) -> dict:
    ctx.update_charger(diagnostics_status=p.get("status"), diagnostics_status_at=ctx.now)
    return {}


def firmware_status_notification(ctx: OperationContext, p: dict) -> dict:
    ctx.update_charger(firmware_status=p.get("status"), firmware_status_at=ctx.now)
    return {}


OPERATIONS: dict[str, Callable[[OperationContext, dict], dict]] = {
    "Authorize": authorize_tag,
    "BootNotification": boot_notification,
    "DataTransfer": data_transfer,
    "DiagnosticsStatusNotification": diagnostics_status_notification,
    "FirmwareStatusNotification": firmware_status_notification,
    "Heartbeat": heartbeat,
    "MeterValues": meter_values,
    "StartTransaction": start_transaction,
    "StatusNotification": status_notification,
    "StopTransaction": stop_transaction,
}
# Transaction messages are never refused for a charger's registration state or their content: the
# charger would retry, then drop them, and billing data would be lost.
TRANSACTION_MESSAGES = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})
# The facts a StartTransaction is refused for when they cannot be stored (a missing one is processed as 0 / "").
_START_FACTS = ("connectorId", "meterStart", "idTag")


def _refusal(problem: limits.Violation) -> OcppError:
    """The OCPP error a charger hears for a value the CMS cannot store."""
    return OcppError(problem.code, str(problem), {"field": problem.field})


# Operations that may share a unit of work with other chargers' messages (cms.group_commit): database work only,
# and any OcppError raised before they write. BootNotification and DataTransfer (vendor handlers) run alone.
GROUPED_OPERATIONS = frozenset(OPERATIONS) - {"BootNotification", "DataTransfer"}
# How long a charger's accepted state is trusted for batched heartbeats (an owner's change shows within this).
ACCEPTED_TTL = 300.0


# --------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------


_ACTIVE_RESERVATION = (
    select(Reservation.id)
    .where(
        Reservation.charge_point_id == bindparam("cp_id_"),
        Reservation.status == "Accepted",
        Reservation.connector_id.in_([0, bindparam("connector_id_")]),
        Reservation.id_tag == bindparam("tag_"),
        Reservation.expiry_date > bindparam("now_"),
    )
    .order_by(Reservation.expiry_date)
    .limit(1)
)


def _matching_reservation(
    s: Session, cp: ChargerRow, connector_id: int, id_tag: str, reservation_id, now: datetime
) -> Reservation | None:
    """The reservation this start consumes: by its id, else an active one of the same tag on this charger."""
    if reservation_id is not None:
        r = s.get(Reservation, int(reservation_id))
        if r is not None and r.charge_point_id == cp.id and r.status in ("Accepted", "Requested"):
            return r
        return None
    found = s.connection().scalar(
        _ACTIVE_RESERVATION, {"cp_id_": cp.id, "connector_id_": connector_id, "tag_": id_tag, "now_": now}
    )
    return s.get(Reservation, found) if found is not None else None


def _reconcile_stop(ctx: OperationContext, reported: int, p: dict) -> StoppedTransaction | None:
    """Record a stop for an unknown transaction and match it to the only plausible open one, if any."""
    s, cp = ctx.session, ctx.row
    q = select(*_STOP_COLUMNS).where(Transaction.charge_point_id == cp.id, Transaction.stop_timestamp.is_(None))
    if p.get("idTag"):
        q = q.where(Transaction.id_tag == p["idTag"])
    candidates = s.connection().execute(q.limit(2)).all()
    match = StoppedTransaction(*candidates[0]) if len(candidates) == 1 else None
    note = (
        "matched the only open transaction of this charger and tag"
        if match
        else f"{len(candidates)} open candidate(s); needs review"
    )
    unusable = p.problem("transactionId") if isinstance(p, limits.FittedPayload) else None
    if unusable is not None:  # the id as sent is in the payload kept (as received) and in the note
        note = f"transactionId {unusable.reason}: it cannot be one of ours; {note}"
    s.add(
        UnmatchedStop(
            charge_point_id=cp.id,
            reported_transaction_id=reported,
            matched_transaction_id=match.id if match else None,
            payload=getattr(p, "received", p),
            received_at=ctx.now,
            note=note,
        )
    )
    log.warning(
        "StopTransaction for unknown transaction %s from %s (matched: %s)",
        reported,
        cp.identity,
        match.id if match else None,
    )
    return match


_INSERT_METER_ROWS = BulkInsert(
    MeterValue.__table__,
    [
        "charge_point_id",
        "connector_id",
        "transaction_id",
        "timestamp",
        "received_at",
        "raw_value",
        "value",
        "measurand",
        "phase",
        "unit",
        "context",
        "location",
        "format",
    ],
)


def _store_meter_rows(ctx: OperationContext, rows: list[dict], connector_id: int, tx_id: int | None) -> None:
    if not rows:
        return
    cp_id = ctx.row.id
    for r in rows:
        r["charge_point_id"] = cp_id
        r["connector_id"] = connector_id
        r["transaction_id"] = tx_id
    # One statement for the whole sample (the ORM bulk path would split it by which fields are None).
    _INSERT_METER_ROWS(ctx.session.connection(), rows)


# --------------------------------------------------------------------------------------------------------
# The entry point transports call.
# --------------------------------------------------------------------------------------------------------


class ChargerService:
    """Runs charger-initiated operations, each in its own unit of work, with the message log."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        data_transfer: DataTransferRegistry | None = None,
        validator: PayloadValidator | None = None,
        *,
        metrics: Metrics = NO_METRICS,
        observers: Sequence[MessageObserver] = (),
    ):
        self.db = db
        self.metrics = metrics
        self.observers = tuple(observers)  # told of every committed message (e.g. site load management)
        self.validator = validator or PayloadValidator()
        self.settings = settings
        self.data_transfer = data_transfer or DataTransferRegistry()
        # Called with (session, StoppedTransaction) inside the StopTransaction unit of work (billing plugs in).
        self.on_transaction_stopped: list[Callable[[Session, StoppedTransaction], None]] = []
        # With a batcher, heartbeats of accepted chargers are answered without a transaction of their own.
        self.heartbeats: HeartbeatBatcher | None = None
        self._accepted: dict[str, tuple[ChargerRow, float]] = {}  # identity -> (row, monotonic time read)
        # With a group committer, messages of many chargers share a unit of work (cms.group_commit).
        self.group_commit: GroupCommitter | None = None

    def handle(
        self, charger: Charger, action: str, payload: dict, *, unique_id: str | None = None, raw: str | None = None
    ) -> dict:
        """Validate and run ``action`` for ``charger``. Raises :class:`OcppError` for anything the charger must hear.

        Every message of every transport passes here once: it is counted in the metrics with its outcome (an
        exception other than OcppError reaches the charger as InternalError) and how long it took.
        """
        started = perf_counter()
        outcome = INTERNAL_ERROR
        try:
            response = self._handle(charger, action, payload, unique_id, raw)
            outcome = RESULT
            return response
        except OcppError as e:
            outcome = e.code
            raise
        finally:
            self.metrics.charger_message(charger.transport, action, outcome, perf_counter() - started)

    def _handle(self, charger: Charger, action: str, payload: dict, unique_id: str | None, raw: str | None) -> dict:
        """Validate and run ``action`` for ``charger``.

        Strict with the wire, lenient with the facts: a message that does not fit its schema is refused with
        the OCPP 1.6 code, except transaction messages, which are processed whatever their flaws (a refused
        StopTransaction is retried, then dropped, and billing data is lost) unless they are unusable.
        """
        if action == "Heartbeat" and self.heartbeats is not None:
            answered = self._batched_heartbeat(charger, payload, unique_id, raw)
            if answered is not None:
                return answered
        if action not in OPERATIONS:
            if action in KNOWN_UNSUPPORTED:
                raise OcppError("NotSupported", f"{action} is not supported by this central system")
            raise OcppError("NotImplemented", f"Unknown action {action}")
        charger = self._storable_charger(charger)
        try:
            self.validator.validate(action, payload)
            invalid = None
        except OcppError as e:
            invalid = e
        # Then what the database can hold (cms.limits): 10^20 fits "type": "integer", not a column.
        problems = limits.problems(action, payload)
        if action not in TRANSACTION_MESSAGES:
            if invalid is None and problems:
                invalid = _refusal(problems[0])
            if invalid is not None:
                self._log_failed(charger, action, unique_id, raw, payload)
                raise invalid
            return self._run(charger, action, payload, unique_id, raw)
        if invalid is not None or problems:
            payload = self._usable_transaction_message(charger, action, payload, unique_id, raw, invalid)
        return self._run(charger, action, payload, unique_id, raw)

    def _storable_charger(self, charger: Charger) -> Charger:
        """Refuse an identity no charge point of this CMS can have; forget an address that cannot be kept."""
        reason = limits.identity_problem(charger.identity)
        if reason is not None:
            raise OcppError("SecurityError", f"Unknown charge point: {reason}")
        if charger.endpoint_url:
            reason = limits.endpoint_problem(charger.endpoint_url)
            if reason is not None:
                log.warning("%s: %s; the address is not kept", charger.identity, reason)
                return dataclasses.replace(charger, endpoint_url=None)
        return charger

    def _usable_transaction_message(
        self,
        charger: Charger,
        action: str,
        payload: dict,
        unique_id: str | None,
        raw: str | None,
        invalid: OcppError | None,
    ) -> limits.FittedPayload:
        """A transaction message with flaws, as far as it can be used (one WARNING line says what was wrong).

        Its operation gets what can be stored: an unusable transactionId is an unknown transaction (answered,
        kept for review), an unusable meterStop or timestamp is a missing one, sampled-value attributes are
        cut to fit. Only a StartTransaction whose own facts cannot be stored is refused (see below)."""
        usable = limits.fitted(action, payload)
        if action == "StartTransaction":
            for field in _START_FACTS:
                problem = usable.problem(field)
                if problem is not None:
                    # A transaction cannot be opened on a connector or meter reading that cannot exist (nor
                    # billed to a tag that cannot be one). The charger retries the start up to its
                    # TransactionMessageAttempts, hears the same answer and drops it; the session goes on
                    # locally and its StopTransaction comes with an unknown transactionId (or -1), which is
                    # answered and kept as an UnmatchedStop for review. Every attempt stays in the message log.
                    self._log_failed(charger, action, unique_id, raw, payload)
                    raise _refusal(problem)
        reasons = ([invalid.description] if invalid is not None else []) + [str(v) for v in usable.problems]
        log.warning(
            "%s %s from %s does not fit, processed as far as usable: %s",
            action,
            limits.brief(unique_id, 80),
            charger.identity,
            limits.brief("; ".join(reasons), 1000),
        )
        return usable

    def _known_row(self, charger: Charger) -> ChargerRow | None:
        """The row of a charger known to be accepted (read within ACCEPTED_TTL, batching on), if this
        message comes the way the last did; None: read it."""
        if self.heartbeats is None:
            return None
        known = self._accepted.get(charger.identity)
        if known is None or monotonic() - known[1] > ACCEPTED_TTL:
            return None
        row = known[0]
        if (row.transport, row.ocpp_version) != (charger.transport, charger.ocpp_version) or (
            charger.endpoint_url and charger.endpoint_url != row.endpoint_url
        ):
            return None
        return row

    def _batched_heartbeat(
        self, charger: Charger, payload: dict, unique_id: str | None, raw: str | None
    ) -> dict | None:
        """Answer a Heartbeat of a charger known to be accepted (read within ACCEPTED_TTL) and queue its
        writes; None when the charger must go through the full path."""
        batcher = self.heartbeats
        row = self._known_row(charger)
        if batcher is None or row is None:
            return None
        self.validator.validate("Heartbeat", payload)
        now = utcnow()
        response = {"currentTime": iso(now)}
        log_rows = []
        if self.settings.message_log_limit > 0:
            log_rows = message_log.exchange_rows(
                row.id,
                "Heartbeat",
                unique_id,
                raw if raw is not None else orjson.dumps(payload).decode(),
                orjson.dumps(response).decode(),
                now,
            )
        batcher.record(row.id, now, log_rows)
        return response

    def _run(self, charger: Charger, action: str, payload: dict, unique_id: str | None, raw: str | None) -> dict:
        if self.group_commit is not None and action in GROUPED_OPERATIONS:
            return self.group_commit.submit(charger, action, payload, unique_id, raw)
        return self.run_alone(charger, action, payload, unique_id, raw, utcnow())

    def run_alone(
        self, charger: Charger, action: str, payload: dict, unique_id: str | None, raw: str | None, now: datetime
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
        payload: dict,
        unique_id: str | None,
        raw: str | None,
        now: datetime,
    ) -> Applied:
        """Run one message's operation in ``s`` (the caller commits). An :class:`OcppError` raised here comes
        before anything was written, so a caller may go on with other messages in the same session."""
        # An accepted charger's row, as its last message left it, saves a query on every message.
        cp = self._known_row(charger) if action != "BootNotification" else None
        cached = cp is not None
        registered = True
        if cp is None:
            found = s.connection().execute(_CHARGER_ROW, {"identity_": charger.identity}).first()
            if found is None:
                cp = ChargerRow(*self._unknown_charger(s, charger, action))
                registered = False
            else:
                cp = ChargerRow(*found)
        if registered:
            if (
                action != "BootNotification"
                and cp.registration_status != "Accepted"
                and action not in TRANSACTION_MESSAGES
            ):
                raise OcppError("SecurityError", "The charge point is not accepted; send BootNotification")
        changes: dict = {}
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
        response = OPERATIONS[action](ctx, payload)
        request_text = raw if raw is not None else orjson.dumps(payload).decode()
        limit = self.settings.message_log_limit
        if limit > 0 and self.heartbeats is None:
            message_log.record_exchange(
                s, cp.id, action, unique_id, request_text, orjson.dumps(response).decode(), limit=limit
            )
        return Applied(cp, cached, "last_seen_at" in changes, ctx.after_commit, request_text, response, payload)

    def committed(self, applied: Applied, charger: Charger, action: str, unique_id: str | None, now: datetime) -> None:
        """What follows a message's commit: caches, the batched log copies, after-commit callbacks."""
        cp = applied.row
        if applied.seen:  # only now: a rolled-back write must not be taken for done
            cp.last_seen_at = now
        if self.heartbeats is not None:
            if self.settings.message_log_limit > 0:  # troubleshooting copies go with the next batch
                self.heartbeats.log(
                    message_log.exchange_rows(
                        cp.id, action, unique_id, applied.request_text, orjson.dumps(applied.response).decode(), now
                    )
                )
            self._remember(cp, charger, action, applied.response, cached=applied.cached)
        for fn in applied.after_commit:
            fn()
        if self.observers:
            message = CommittedMessage(charger.identity, cp.id, action, applied.request, applied.response)
            for observe in self.observers:
                try:
                    observe(message)
                except Exception:  # an observer's failure is its own; the message is stored and answered
                    log.exception("observer of %s from %s failed", action, charger.identity)

    def refused(self, charger: Charger, action: str, unique_id: str | None, raw: str | None, payload: dict) -> None:
        """A message that failed: read its charger afresh next time (it may have been removed), keep the
        message in the log."""
        self._accepted.pop(charger.identity, None)
        self._log_failed(charger, action, unique_id, raw, payload)

    def _remember(self, row: ChargerRow, charger: Charger, action: str, response: dict, cached: bool) -> None:
        """Keep accepted chargers' rows for the fast paths (as this message left them). The time kept is when
        the row was read from the database, so an owner's change shows within ACCEPTED_TTL however busy the
        charger is."""
        status = response.get("status") if action == "BootNotification" else row.registration_status
        if status == "Accepted" and row.registered:
            fresh = ChargerRow(
                row.id,
                row.identity,
                row.owner_id,
                row.registered,
                "Accepted",
                charger.transport,
                charger.ocpp_version,
                charger.endpoint_url or row.endpoint_url,
                row.last_seen_at,
            )
            known = self._accepted.get(charger.identity) if cached else None
            self._accepted[charger.identity] = (fresh, known[1] if known is not None else monotonic())
        else:
            self._accepted.pop(charger.identity, None)

    def _unknown_charger(self, s: Session, charger: Charger, action: str) -> tuple:
        """A charger the CMS does not know: registered when auto-registration is on, else only recorded."""
        if not self.settings.auto_register and action != "BootNotification":
            raise OcppError("SecurityError", f"Unknown charge point {charger.identity}")
        cp = ChargePoint(
            identity=charger.identity,
            registered=self.settings.auto_register,
            registration_status="Accepted" if self.settings.auto_register else "Rejected",
            transport=charger.transport,
            ocpp_version=charger.ocpp_version,
            endpoint_url=charger.endpoint_url,
        )
        s.add(cp)
        s.flush()
        return (
            cp.id,
            cp.identity,
            cp.owner_id,
            cp.registered,
            cp.registration_status,
            cp.transport,
            cp.ocpp_version,
            cp.endpoint_url,
            cp.last_seen_at,
        )

    def _log_failed(self, charger: Charger, action: str, unique_id: str | None, raw: str | None, payload: dict) -> None:
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

    # ----- connection state, used by transports -----

    def charger_connected(self, identity: str, node: str) -> None:
        with self.db.uow() as uow:
            uow.session.execute(
                update(ChargePoint)
                .where(ChargePoint.identity == identity)
                .values(connected=True, connected_node=node, connected_at=utcnow(), last_seen_at=utcnow())
            )
            uow.commit()

    def charger_disconnected(self, identity: str, node: str) -> None:
        """Mark offline, unless another node or connection has taken the charger over meanwhile."""
        with self.db.uow() as uow:
            uow.session.execute(
                update(ChargePoint)
                .where(ChargePoint.identity == identity, ChargePoint.connected_node == node)
                .values(connected=False, disconnected_at=utcnow())
            )
            uow.commit()
