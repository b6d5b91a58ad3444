"""DiagnosticsStatusNotification and FirmwareStatusNotification: how an upload or an update goes."""

from __future__ import annotations

from ocpp.v16.enums import Action

from .context import OperationContext
from .messages import StatusReport
from .registry import on


@on(Action.diagnostics_status_notification)
def diagnostics_status_notification(ctx: OperationContext, p: StatusReport) -> dict:
    """Keep the latest diagnostics upload status (the dashboard shows it)."""
    ctx.update_charger(diagnostics_status=p.get("status"), diagnostics_status_at=ctx.now)
    return {}


@on(Action.firmware_status_notification)
def firmware_status_notification(ctx: OperationContext, p: StatusReport) -> dict:
    """Keep the latest firmware update status (the dashboard shows it)."""
    ctx.update_charger(firmware_status=p.get("status"), firmware_status_at=ctx.now)
    return {}
