"""BootNotification and Heartbeat: a charger introduces itself, then says it is alive."""

from __future__ import annotations

from ocpp.v16.enums import Action, RegistrationStatus

from ..timeutil import iso
from .context import OperationContext
from .messages import BootNotificationRequest
from .registry import on


@on(Action.boot_notification)
def boot_notification(ctx: OperationContext, p: BootNotificationRequest) -> dict:
    """Record boot details; a registered charger is Accepted, others Rejected; the charger's own heartbeat
    interval, if it has one, else the server's. The row is written by one UPDATE, in a commit group together with
    the other boots': in a reconnect storm every charger boots at once."""
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
    interval = ctx.row.heartbeat_interval or ctx.settings.heartbeat_interval
    return {"status": status, "currentTime": iso(ctx.now), "interval": interval}


@on(Action.heartbeat)
def heartbeat(ctx: OperationContext, p: dict) -> dict:
    """The charger is alive (batched heartbeats of accepted chargers take the pipeline's fast path instead)."""
    ctx.update_charger(last_heartbeat_at=ctx.now)
    return {"currentTime": iso(ctx.now)}
