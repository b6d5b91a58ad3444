"""BootNotification and Heartbeat: a charger introduces itself, then says it is alive."""

from __future__ import annotations

from ocpp.v16.enums import Action, RegistrationStatus

from ..timeutil import iso
from .context import OperationContext
from .messages import BootNotificationRequest
from .registry import on


@on(Action.boot_notification, runs_alone=True)
def boot_notification(ctx: OperationContext, p: BootNotificationRequest) -> dict:
    """Record boot details; a registered charger is Accepted, others Rejected."""
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
    status = RegistrationStatus.accepted if cp.registered else RegistrationStatus.rejected
    cp.registration_status = status
    return {"status": status, "currentTime": iso(ctx.now), "interval": interval}


@on(Action.heartbeat)
def heartbeat(ctx: OperationContext, p: dict) -> dict:
    """The charger is alive (batched heartbeats of accepted chargers take the pipeline's fast path instead)."""
    ctx.update_charger(last_heartbeat_at=ctx.now)
    return {"currentTime": iso(ctx.now)}
