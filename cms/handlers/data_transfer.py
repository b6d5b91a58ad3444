"""DataTransfer: vendor extensions, answered by the handlers registered in :mod:`cms.datatransfer`, and kept."""

from __future__ import annotations

from ocpp.v16.enums import Action

from ..models import DataTransferRecord
from .context import OperationContext
from .messages import DataTransferRequest
from .registry import on


# Runs alone: a vendor handler may do anything, not only database work.
@on(Action.data_transfer, runs_alone=True)
def data_transfer(ctx: OperationContext, p: DataTransferRequest) -> dict:
    """Answer with the registered vendor handler (UnknownVendorId / UnknownMessageId otherwise); keep it."""
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
    out: dict = {"status": status}
    if response is not None:
        out["data"] = response
    return out
