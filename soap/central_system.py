"""The CentralSystemService of OCPP 1.5-S and 1.6-S: decode, hand the 1.6 payload to the service layer,
encode its answer. No rule lives here; ``cms.services.ChargerService`` decides everything."""

from __future__ import annotations

import logging

from spyne.model.fault import Fault

from cms.errors import OcppError
from cms.logs import bind_charger, unbind_charger
from cms.services import Charger

from . import mapping15
from .convert import from_dict, to_dict
from .schema import Operation, load
from .service import RequestContext, SoapServices

log = logging.getLogger(__name__)

# OCPP error codes that are the central system's own failure (SOAP Receiver); all others are the Sender's.
_RECEIVER_CODES = frozenset({"InternalError"})


def ocpp_fault(code: str, description: str) -> Fault:
    """A SOAP fault whose Subcode is the OCPP error code (e.g. SecurityError)."""
    side = "Server" if code in _RECEIVER_CODES else "Client"
    return Fault(faultcode=f"{side}.{code}", faultstring=description or code)


class CentralSystemEndpoint:
    """Handles every operation of one version's CentralSystemService for the runtime ``rt``."""

    def __init__(self, rt, version: str):
        self.rt = rt
        self.version = version
        self.desc = load(version, "CentralSystemService")
        self.services = SoapServices(self.desc, self.handle)

    def handle(self, rc: RequestContext, op: Operation, request) -> object:
        logged_as = bind_charger(rc.identity)  # every line logged for this message names the charger
        try:
            return self._answer(rc, op, request)
        finally:
            unbind_charger(logged_as)

    def _answer(self, rc: RequestContext, op: Operation, request) -> object:
        if not rc.identity:
            raise ocpp_fault("ProtocolError", f"The {self.desc.header_element} header is missing")
        payload = to_dict(op.request_type, request) if request is not None else {}
        if self.version == "1.5":
            payload = mapping15.request_to_16(op.name, payload)
        charger = Charger(identity=rc.identity, transport="soap", ocpp_version=self.version,
                          endpoint_url=rc.from_address)
        rc.counted = True  # the service layer counts it, whatever happens there (cms.metrics)
        try:
            result = self.rt.charger_service.handle(charger, op.name, payload, unique_id=rc.message_id,
                                                    raw=rc.raw)
        except OcppError as e:
            raise ocpp_fault(e.code, e.description) from None
        try:
            if self.version == "1.5":
                result = mapping15.response_to_15(op.name, result)
            return None if op.response_is_empty else from_dict(op.response_type, result)
        except Exception:
            log.exception("%s answer to %s could not be encoded", op.name, rc.identity)
            self.rt.metrics.internal_error("soap")  # the message itself was counted with the service's outcome
            raise ocpp_fault("InternalError", f"{op.name} could not be answered") from None
