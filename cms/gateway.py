"""The port through which the CMS reaches chargers, and the outcomes of a CMS-initiated call.

Transports implement :class:`ChargerGateway` and register it with the dispatcher at start-up; the core
never imports a transport.
"""

from __future__ import annotations

from typing import Protocol


class CallFailed(Exception):
    """Base of the ways a CMS-initiated call can fail."""


class ChargerNotConnected(CallFailed):
    """Nothing holds a connection to the charger (HTTP 409)."""


class ChargerCallError(CallFailed):
    """The charger answered with a CALLERROR or a SOAP fault (HTTP 502)."""

    def __init__(self, code: str, description: str = "", details: dict | None = None):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


class ChargerTimeout(CallFailed):
    """No answer in time (HTTP 504)."""


class RoutingUnavailable(CallFailed):
    """The charger may be held by another process, but the way there (Redis) is down (HTTP 503): try again."""


class ChargerGateway(Protocol):
    """One way of reaching chargers: JSON connections of this process, SOAP endpoints, ..."""

    name: str

    def holds(self, identity: str) -> bool:
        """True when this gateway can deliver a call to ``identity`` right now."""

    def call(self, identity: str, action: str, payload: dict, timeout: float) -> dict:
        """Send an OCPP 1.6 request payload; return the response payload or raise a :class:`CallFailed`."""
