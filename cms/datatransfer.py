"""Handlers for charger-initiated DataTransfer, registered by vendorId and messageId."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A handler gets (charge point identity, messageId, data) and returns (status, response data or None).
DataTransferHandler = Callable[[str, str | None, str | None], tuple[str, str | None]]


@dataclass
class DataTransferRegistry:
    """Which vendor extensions the CMS understands. Made per app; extensions register at start-up."""

    def __post_init__(self) -> None:
        self._handlers: dict[str, dict[str | None, DataTransferHandler]] = {}

    def register(self, vendor_id: str, message_id: str | None, handler: DataTransferHandler) -> None:
        """Handle ``vendor_id``/``message_id``; ``message_id=None`` handles messages without one."""
        self._handlers.setdefault(vendor_id, {})[message_id] = handler

    def dispatch(self, identity: str, vendor_id: str, message_id: str | None, data: str | None):
        """(status, data) as the DataTransfer.conf says: UnknownVendorId / UnknownMessageId when unhandled."""
        by_message = self._handlers.get(vendor_id)
        if by_message is None:
            return "UnknownVendorId", None
        handler = by_message.get(message_id) or by_message.get("*")
        if handler is None:
            return "UnknownMessageId", None
        return handler(identity, message_id, data)
