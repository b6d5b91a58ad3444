"""Charger-initiated OCPP messages, one module per feature, each action registered with ``@on(Action)``.

=================================================  =============================
action                                             module
=================================================  =============================
BootNotification, Heartbeat                        ``cms/handlers/boot.py``
Authorize                                          ``cms/handlers/authorization.py``
StartTransaction, StopTransaction, MeterValues     ``cms/handlers/transactions.py``
StatusNotification                                 ``cms/handlers/status.py``
DiagnosticsStatusNotification,                     ``cms/handlers/firmware.py``
FirmwareStatusNotification
DataTransfer                                       ``cms/handlers/data_transfer.py``
=================================================  =============================

Importing this package fills :data:`HANDLERS`; :class:`cms.pipeline.ChargerPipeline` runs them.
"""

from __future__ import annotations

from . import authorization, boot, data_transfer, firmware, status, transactions
from .context import Charger, ChargerRow, OperationContext, PendingChargerWrites, StopHook
from .registry import HANDLERS, Handler, HandlerFunction, on
from .transactions import StoppedTransaction

__all__ = [
    "HANDLERS",
    "Charger",
    "ChargerRow",
    "Handler",
    "HandlerFunction",
    "OperationContext",
    "PendingChargerWrites",
    "StopHook",
    "StoppedTransaction",
    "authorization",
    "boot",
    "data_transfer",
    "firmware",
    "on",
    "status",
    "transactions",
]
