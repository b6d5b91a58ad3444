"""The CentralSystemService of OCPP 1.5-S and 1.6-S: decode, hand the 1.6 payload to the service layer,
encode its answer. No rule lives here; ``cms.pipeline.ChargerPipeline`` decides everything."""

from __future__ import annotations

import logging

from spyne.model.fault import Fault

from cms.errors import InternalFailure, OcppError
from cms.handlers import Charger
from cms.limits import brief
from cms.logs import bind_charger, unbind_charger
from cms.runtime import Runtime

from . import mapping15
from .convert import from_dict
from .schema import Operation, load
from .service import RequestContext, SoapServices

log = logging.getLogger(__name__)


def ocpp_fault(code: str, description: str) -> Fault:
    """A Sender fault (the charger's mistake) whose Subcode is the OCPP error code (e.g. SecurityError)."""
    return Fault(faultcode=f"Client.{code}", faultstring=brief(description or code))


class CentralSystemEndpoint:
    """Handles every operation of one version's CentralSystemService for the runtime ``rt``."""

    def __init__(self, rt: Runtime, version: str):
        self.rt = rt
        self.version = version
        self.desc = load(version, "CentralSystemService")
        self.services = SoapServices(self.desc, self.handle)

    def handle(self, rc: RequestContext, op: Operation, payload: dict) -> object:
        logged_as = bind_charger(rc.identity)  # every line logged for this message names the charger
        try:
            return self._answer(rc, op, payload)
        finally:
            unbind_charger(logged_as)

    def _answer(self, rc: RequestContext, op: Operation, payload: dict) -> object:
        if not rc.identity:
            log.warning("SOAP %s %s refused: no %s header", op.name, brief(rc.message_id, 80), self.desc.header_element)
            raise ocpp_fault("ProtocolError", f"The {self.desc.header_element} header is missing")
        answered = False
        try:
            if self.version == "1.5":
                payload = mapping15.request_to_16(op.name, payload)
            charger = Charger(
                identity=rc.identity, transport="soap", ocpp_version=self.version, endpoint_url=rc.from_address
            )
            rc.counted = True  # the service layer counts it, whatever happens there (cms.metrics)
            try:
                result = self.rt.pipeline.handle(charger, op.name, payload, unique_id=rc.message_id, raw=rc.raw)
            except InternalFailure:
                raise
            except OcppError as e:  # the charger's mistake: one line, no stack trace
                log.warning(
                    "%s: %s %s refused with %s: %s",
                    brief(rc.identity, 80),
                    op.name,
                    brief(rc.message_id, 80),
                    e.code,
                    brief(e.description),
                )
                raise ocpp_fault(e.code, e.description) from None
            answered = True
            if self.version == "1.5":
                result = mapping15.response_to_15(op.name, result)
            return None if op.response_is_empty else from_dict(op.response_type, result)
        except Fault:
            raise
        except Exception as e:
            raise self.internal_error(rc, op.name, e, answered) from None

    def internal_error(self, rc: RequestContext, operation: str, failure: Exception, answered: bool) -> Fault:
        """The one place a SOAP charger is answered with a Receiver fault (InternalError): the server's own
        failure, never its input. A failure the core reported (:class:`InternalFailure`) was logged with its
        stack trace where it was caught; anything else is logged here with its own.

        Counted once: by the service layer when it failed there, here when its answer could not be encoded
        (``answered``), by the mount's fault listener when it failed before reaching the service layer."""
        if answered:
            self.rt.metrics.internal_error("soap")
        if isinstance(failure, InternalFailure):
            log.error("%s: %s answered InternalError: %s", brief(rc.identity, 80), operation, failure.description)
        else:
            log.error("%s: %s failed", brief(rc.identity, 80), operation, exc_info=failure)
        return Fault(faultcode="Server.InternalError", faultstring=f"{operation} could not be processed")
