"""The WSGI mount: ``/soap/ocpp15`` and ``/soap/ocpp16`` go to spyne, everything else to Flask.

Before spyne sees a request body, it is size-limited, checked by :mod:`soap.xmlguard` (no DTDs) and read by
:mod:`soap.envelope` (well formed, an envelope with one request of this service); the envelope's namespace
picks the SOAP 1.1 or SOAP 1.2 application, so every request is answered in the SOAP version it came in.
What cannot be read is answered here with a Sender fault (HTTP 400 in SOAP 1.2, 500 in SOAP 1.1, as their
HTTP bindings say) and one WARNING line. ``GET ...?wsdl`` returns the service description.
"""

from __future__ import annotations

import io
import logging

from lxml import etree
from spyne.server.wsgi import WsgiApplication

from cms.limits import brief
from cms.metrics import INTERNAL_ERROR, NO_METRICS, Metrics

from . import envelope
from .envelope import SOAP11_ENV, SOAP12_ENV, WSA, EnvelopeError
from .service import PARSED_KEY, RAW_BODY_KEY, WSA_FAULT_ACTION, SoapServices
from .xmlguard import UnsafeXml, inspect

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # far above any OCPP message; larger bodies are refused unread


def fault_document(soap_ns: str, code: str, reason: str, namespace: str, relates_to: str | None = None) -> bytes:
    """A minimal Sender fault, for requests refused before spyne parses them (``relates_to``: the request's
    WS-Addressing MessageID, when it could be read)."""
    env = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"soap": soap_ns})
    if relates_to is not None:
        header = etree.SubElement(env, f"{{{soap_ns}}}Header")
        etree.SubElement(header, f"{{{WSA}}}Action", nsmap={"wsa": WSA}).text = WSA_FAULT_ACTION
        etree.SubElement(header, f"{{{WSA}}}RelatesTo", nsmap={"wsa": WSA}).text = relates_to
    body = etree.SubElement(env, f"{{{soap_ns}}}Body")
    fault = etree.SubElement(body, f"{{{soap_ns}}}Fault")
    if soap_ns == SOAP12_ENV:
        code_el = etree.SubElement(fault, f"{{{soap_ns}}}Code")
        etree.SubElement(code_el, f"{{{soap_ns}}}Value").text = "soap:Sender"
        sub = etree.SubElement(code_el, f"{{{soap_ns}}}Subcode")
        etree.SubElement(sub, f"{{{soap_ns}}}Value", nsmap={"ocpp": namespace}).text = f"ocpp:{code}"
        reason_el = etree.SubElement(fault, f"{{{soap_ns}}}Reason")
        text = etree.SubElement(reason_el, f"{{{soap_ns}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = reason
    else:
        etree.SubElement(fault, "faultcode").text = f"soap:Client.{code}"
        etree.SubElement(fault, "faultstring").text = reason
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_outcome(error) -> str:
    """The metrics outcome of a fault: its OCPP code (``Client.SecurityError`` -> ``SecurityError``; spyne's own
    ``Client.SchemaValidationError`` likewise); a Receiver (``Server``) fault is the server's InternalError."""
    code = str(getattr(error, "faultcode", None) or "Server")
    side, _, sub = code.partition(".")
    if side.rpartition(":")[2] in ("Server", "Receiver"):
        return INTERNAL_ERROR
    return sub.rpartition(".")[2] or "Sender"


WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"
XS = "http://www.w3.org/2001/XMLSchema"


def complete_wsdl(generated: bytes, desc) -> bytes:
    """spyne's generated WSDL with the official header element and WS-Addressing actions added."""
    doc = etree.fromstring(generated, etree.XMLParser(resolve_entities=False, no_network=True))
    schema = doc.find(f"{{{WSDL_NS}}}types/{{{XS}}}schema")
    if schema is not None and schema.find(f"{{{XS}}}element[@name='{desc.header_element}']") is None:
        etree.SubElement(schema, f"{{{XS}}}element", name=desc.header_element, type="xs:string")
    ops = desc.operations
    for op_el in doc.iterfind(f"{{{WSDL_NS}}}portType/{{{WSDL_NS}}}operation"):
        op = ops.get(op_el.get("name"))
        if op is None:
            continue
        for child, action in (
            (op_el.find(f"{{{WSDL_NS}}}input"), op.input_action),
            (op_el.find(f"{{{WSDL_NS}}}output"), op.output_action),
        ):
            if child is not None:
                child.set(f"{{{WSAW}}}Action", action)
    for op_el in doc.iterfind(f"{{{WSDL_NS}}}binding/{{{WSDL_NS}}}operation"):
        op = ops.get(op_el.get("name"))
        soap_op = op_el.find(f"{{{WSDL_SOAP12}}}operation")
        if op is not None and soap_op is not None:
            soap_op.set("soapAction", op.input_action)
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


class _Endpoint:
    def __init__(self, services: SoapServices, metrics: Metrics = NO_METRICS):
        self.soap11 = WsgiApplication(services.soap11)
        self.soap12 = WsgiApplication(services.soap12)
        self.desc = services.desc
        self.namespace = services.desc.namespace
        self.metrics = metrics
        self.soap12.event_manager.add_listener("wsdl", self._complete_wsdl)
        for app in (self.soap11, self.soap12):
            app.event_manager.add_listener("wsgi_exception", self._count_unhandled)
        self._wsdl: dict[bytes, bytes] = {}

    def _count_unhandled(self, ctx) -> None:
        """A fault for a message that never reached the service layer (an envelope that does not fit the WSDL,
        a missing identity header): counted here; the service layer counts every message that reaches it."""
        if (ctx.udc is not None and ctx.udc.counted) or (ctx.transport.req_env or {}).get("REQUEST_METHOD") != "POST":
            return
        operation = getattr(ctx.descriptor, "operation_name", None) if ctx.descriptor is not None else None
        self.metrics.charger_message("soap", operation, fault_outcome(ctx.out_error or ctx.in_error))

    def _complete_wsdl(self, ctx) -> None:
        """Make spyne's WSDL say what the official one says about headers and addressing: the
        ``chargeBoxIdentity`` element, ``soapAction`` and ``wsaw:Action`` of every operation."""
        generated = ctx.transport.wsdl
        if generated not in self._wsdl:
            self._wsdl[generated] = complete_wsdl(generated, self.desc)
        ctx.transport.wsdl = self._wsdl[generated]


class SoapMount:
    """WSGI middleware in front of Flask's ``wsgi_app``; ``services`` maps a path to its SoapServices."""

    def __init__(self, wsgi_app, services: dict[str, SoapServices], metrics: Metrics = NO_METRICS):
        self.wsgi_app = wsgi_app
        self.metrics = metrics
        self.endpoints = {path: _Endpoint(s, metrics) for path, s in services.items()}

    def __call__(self, environ, start_response):
        endpoint = self.endpoints.get(environ.get("PATH_INFO", ""))
        if endpoint is None:
            return self.wsgi_app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            return endpoint.soap12(environ, start_response)  # ?wsdl, or spyne's own refusal
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return self._refuse(
                start_response,
                endpoint,
                "413 Content Too Large",
                "The request body is missing a valid length or is too large",
            )
        stream = environ["wsgi.input"]
        if length:
            body = stream.read(length)
        elif environ.get("wsgi.input_terminated"):
            body = stream.read(MAX_BODY + 1)
        else:
            body = b""
        if len(body) > MAX_BODY:
            return self._refuse(start_response, endpoint, "413 Content Too Large", "The request body is too large")
        try:
            ns, _local = inspect(body)
        except UnsafeXml as e:
            log.warning("refused SOAP request to %s: %s", environ.get("PATH_INFO"), brief(e))
            return self._refuse(start_response, endpoint, "400 Bad Request", str(e))
        try:
            checked = envelope.read(body, endpoint.desc)
        except EnvelopeError as e:
            log.warning("refused SOAP request to %s: %s", environ.get("PATH_INFO"), brief(e.reason))
            soap_ns = SOAP11_ENV if ns == SOAP11_ENV else SOAP12_ENV
            return self._refuse(
                start_response,
                endpoint,
                "500 Internal Server Error" if soap_ns == SOAP11_ENV else "400 Bad Request",
                e.reason,
                soap_ns=soap_ns,
                code=e.code,
                relates_to=e.message_id,
            )
        environ[PARSED_KEY] = checked
        environ[RAW_BODY_KEY] = body
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        if not environ.get("CONTENT_TYPE"):
            environ["CONTENT_TYPE"] = "text/xml" if ns == SOAP11_ENV else "application/soap+xml"
        app = endpoint.soap11 if checked.soap_ns == SOAP11_ENV else endpoint.soap12
        return app(environ, start_response)

    def _refuse(
        self,
        start_response,
        endpoint: _Endpoint,
        status: str,
        reason: str,
        soap_ns: str = SOAP12_ENV,
        code: str = "ProtocolError",
        relates_to: str | None = None,
    ):
        """Refused unread or unparsed: in the SOAP version the request seems to use (else OCPP's SOAP 1.2).
        Counted here: such a message never reaches the service layer, which counts the others."""
        self.metrics.charger_message("soap", None, code)
        body = fault_document(soap_ns, code, brief(reason), endpoint.namespace, relates_to)
        ctype = "text/xml; charset=utf-8" if soap_ns == SOAP11_ENV else "application/soap+xml; charset=utf-8"
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]
