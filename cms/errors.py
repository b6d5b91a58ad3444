"""Errors the core raises; transports turn them into an OCPP CALLERROR or a SOAP fault."""

from __future__ import annotations


class OcppError(Exception):
    """A failure with an OCPP 1.6-J error code (``NotImplemented``, ``SecurityError``, ...)."""

    def __init__(self, code: str, description: str = "", details: dict | None = None):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


class NotFound(LookupError):
    """The thing asked for does not exist (or is not the caller's to see)."""


class Conflict(Exception):
    """The request is valid but the current state forbids it."""


class InvalidInput(ValueError):
    """The request is malformed; the message says why."""


class InternalFailure(OcppError):
    """The server's own failure (a database outage, a bug), never the charger's: OCPP ``InternalError``.

    Only this is answered InternalError, in one place per transport (where it can be counted); the core logs
    its stack trace where it caught the cause."""

    def __init__(self, description: str):
        super().__init__("InternalError", description)
