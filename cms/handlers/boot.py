"""BootNotification and Heartbeat: a charger introduces itself, then says it is alive."""

from __future__ import annotations

from ocpp.v16.enums import Action, RegistrationStatus

from ..timeutil import iso
from .context import OperationContext
from .messages import BootNotificationRequest
from .registry import on


@on(Action.boot_notification)
def boot_notification(ctx: OperationContext, p: BootNotificationRequest) -> dict:
    """Record boot details; a registered charger is Accepted, others Rejected. One UPDATE, which also reads
    the charger's own heartbeat interval: in a reconnect storm every charger boots at once."""
    status = RegistrationStatus.accepted if ctx.row.registered else RegistrationStatus.rejected
    ctx.update_charger(
        vendor=p.get("chargePointVendor"),
        model=p.get("chargePointModel"),
        serial_number=p.get("chargePointSerialNumber"),
        charge_box_serial_number=p.get("chargeBoxSerialNumber"),
        firmware_version=p.get("firmwareVersion"),
        iccid=p.get("iccid"),
        imsi=p.get("imsi"),
        meter_type=p.get("meterType"),
        meter_serial_number=p.get("meterSerialNumber"),
        last_boot_at=ctx.now,
        ocpp_version=ctx.charger.ocpp_version,
        transport=ctx.charger.transport,
        registration_status=status,
    )
    row = ctx.flush_charger("heartbeat_interval")
    own_interval = row.heartbeat_interval if row is not None else None
    return {"status": status, "currentTime": iso(ctx.now), "interval": own_interval or ctx.settings.heartbeat_interval}


@on(Action.heartbeat)
def heartbeat(ctx: OperationContext, p: dict) -> dict:
    """The charger is alive (batched heartbeats of accepted chargers take the pipeline's fast path instead)."""
    ctx.update_charger(last_heartbeat_at=ctx.now)
    return {"currentTime": iso(ctx.now)}
