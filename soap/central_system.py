"""The CentralSystemService of OCPP 1.5-S and 1.6-S: decode, hand the 1.6 payload to the service layer,
encode its answer. No rule lives here; ``cms.services.ChargerService`` decides everything."""

from __future__ import annotations

import logging

from spyne.model.fault import Fault

from cms.errors import InternalFailure, OcppError
from cms.limits import brief
from cms.services import Charger

from . import mapping15
from .convert import from_dict
from .schema import Operation, load
from .service import RequestContext, SoapServices

log = logging.getLogger(__name__)


def ocpp_fault(code: str, description: str) -> Fault:
    """A Sender fault (the charger's mistake) whose Subcode is the OCPP error code (e.g. SecurityError)."""
    return Fault(faultcode=f"Client.{code}", faultstring=brief(description or code))


def internal_error(identity: str | None, operation: str, failure: Exception) -> Fault:
    """The one place a SOAP charger is answered with a Receiver fault (InternalError): the server's own
    failure, never its input. A failure the core reported (:class:`InternalFailure`) was logged with its
    stack trace where it was caught; anything else is logged here with its own."""
    if isinstance(failure, InternalFailure):
        log.error("%s: %s answered InternalError: %s", identity, operation, failure.description)
    else:
        log.error("%s: %s failed", identity, operation, exc_info=failure)
    return Fault(faultcode="Server.InternalError", faultstring=f"{operation} could not be processed")


class CentralSystemEndpoint:
    """Handles every operation of one version's CentralSystemService for the runtime ``rt``."""

    def __init__(self, rt, version: str):
        self.rt = rt
        self.version = version
        self.desc = load(version, "CentralSystemService")
        self.services = SoapServices(self.desc, self.handle)

    def handle(self, rc: RequestContext, op: Operation, payload: dict) -> object:
        if not rc.identity:
            log.warning("SOAP %s %s refused: no %s header", op.name, brief(rc.message_id, 80),
                        self.desc.header_element)
            raise ocpp_fault("ProtocolError", f"The {self.desc.header_element} header is missing")
        try:
            result = self._answer(rc, op, payload)
        except InternalFailure as e:
            raise internal_error(rc.identity, op.name, e) from None
        except OcppError as e:  # the charger's mistake: one line, no stack trace
            log.warning("%s: %s %s refused with %s: %s", brief(rc.identity, 80), op.name, brief(rc.message_id, 80),
                        e.code, brief(e.description))
            raise ocpp_fault(e.code, e.description) from None
        except Exception as e:
            raise internal_error(rc.identity, op.name, e) from None
        return result

    def _answer(self, rc: RequestContext, op: Operation, payload: dict) -> object:
        if self.version == "1.5":
            payload = mapping15.request_to_16(op.name, payload)
        charger = Charger(identity=rc.identity, transport="soap", ocpp_version=self.version,
                          endpoint_url=rc.from_address)
        result = self.rt.charger_service.handle(charger, op.name, payload, unique_id=rc.message_id, raw=rc.raw)
        if self.version == "1.5":
            result = mapping15.response_to_15(op.name, result)
        return None if op.response_is_empty else from_dict(op.response_type, result)
