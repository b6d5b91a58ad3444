"""StatusNotification: each connector's current status (0 is the charger itself) and its history."""

from __future__ import annotations

from ocpp.v16.enums import Action, ChargePointErrorCode, ChargePointStatus
from sqlalchemy import bindparam, insert, update

from ..models import Connector, StatusEvent
from ..timeutil import parse_timestamp
from .context import OperationContext
from .messages import StatusNotificationRequest
from .registry import on

_SET_CONNECTOR_STATUS = update(Connector).where(
    Connector.charge_point_id == bindparam("cp_id_"), Connector.connector_id == bindparam("connector_id_")
)
_INSERT_CONNECTOR = insert(Connector.__table__)
_INSERT_STATUS_EVENT = insert(StatusEvent.__table__)


@on(Action.status_notification)
def status_notification(ctx: OperationContext, p: StatusNotificationRequest) -> dict:
    """Keep each connector's current status (0 is the charger itself) and its history."""
    cp = ctx.row
    connector_id = int(p.get("connectorId") or 0)
    ts = parse_timestamp(p.get("timestamp"))
    state = {
        "status": p.get("status") or ChargePointStatus.unavailable,
        "error_code": p.get("errorCode") or ChargePointErrorCode.no_error,
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
