"""A spyne SOAP service for any OCPP WSDL (CentralSystemService or ChargePointService, 1.5 or 1.6).

Every operation of the description becomes a document/literal method whose body elements, header and
WS-Addressing actions are the WSDL's. The operations all call one ``handler(request_context, operation,
request_object)`` that returns the response object (or None for the empty responses). One spyne
Application is made per SOAP version, so each request is answered in the version it came in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree
from spyne import Application, ServiceBase, rpc
from spyne.model.primitive import Unicode
from spyne.protocol.soap import Soap11, Soap12

from .schema import Operation, ServiceDescription

WSA = "http://www.w3.org/2005/08/addressing"
WSA_ANONYMOUS = WSA + "/anonymous"
WSA_FAULT_ACTION = WSA + "/soap/fault"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
RAW_BODY_KEY = "cms.soap.raw_body"  # WSGI environ key under which the mount keeps the request body


@dataclass
class RequestContext:
    """What a handler knows about the message beyond its body."""

    identity: str | None  # the chargeBoxIdentity header
    message_id: str | None  # WS-Addressing MessageID
    from_address: str | None  # WS-Addressing From/Address, unless anonymous
    action: str | None  # WS-Addressing Action
    raw: str | None  # the envelope as received, for the message log
    counted: bool = False  # handed to the service layer, which counts it in the metrics (else soap.wsgi does)


Handler = Callable[[RequestContext, Operation, object], object]


def _header_text(header_doc, ns: str, name: str) -> str | None:
    for el in header_doc or ():
        if el.tag == f"{{{ns}}}{name}":
            return (el.text or "").strip() or None
    return None


def request_context(ctx, desc: ServiceDescription) -> RequestContext:
    """Read identity and WS-Addressing headers of a spyne method context."""
    headers = ctx.in_header_doc
    from_address = None
    for el in headers or ():
        if el.tag == f"{{{WSA}}}From":
            addr = el.find(f"{{{WSA}}}Address")
            if addr is not None and addr.text and addr.text.strip() != WSA_ANONYMOUS:
                from_address = addr.text.strip()
    # the body as received, kept by the WSGI mount (spyne has consumed its own copy by now)
    env = getattr(ctx.transport, "req_env", None) or {}
    body = env.get(RAW_BODY_KEY)
    raw = body.decode("utf-8", "replace") if body else None
    return RequestContext(
        identity=_header_text(headers, desc.namespace, desc.header_element),
        message_id=_header_text(headers, WSA, "MessageID"),
        from_address=from_address,
        action=_header_text(headers, WSA, "Action"),
        raw=raw,
    )


def _make_method(desc: ServiceDescription, op: Operation, handler: Handler, header_type):
    """The spyne method for ``op``: bare body elements exactly as in the WSDL (spyne needs a wrapped
    input for an empty request type, which yields the same empty element)."""
    common = dict(
        _operation_name=op.name,
        _in_message_name=f"{{{desc.namespace}}}{op.request_element}",
        _out_message_name=f"{{{desc.namespace}}}{op.response_element}",
        _in_header=(header_type,),
    )
    if op.request_is_empty:
        def method(ctx):
            return _call(ctx, desc, op, handler, None)
        args: tuple = ()
        common["_body_style"] = "out_bare"
    else:
        def method(ctx, request):
            return _call(ctx, desc, op, handler, request)
        args = (op.request_type,)
        common["_body_style"] = "bare"
    if not op.response_is_empty:
        common["_returns"] = op.response_type
    method.__name__ = op.name
    return rpc(*args, **common)(method)


def _call(ctx, desc: ServiceDescription, op: Operation, handler: Handler, request):
    ctx.udc = rc = request_context(ctx, desc)
    result = handler(rc, op, request)
    # An empty response is an instance of the (empty) out message, so it is written <xResponse/>, not nil.
    return ctx.descriptor.out_message() if op.response_is_empty else result


def _add_addressing(ctx) -> None:
    """Answer with WS-Addressing: Action (the operation's output action, or the fault action), a fresh
    MessageID and RelatesTo the request's MessageID; responses carry no chargeBoxIdentity."""
    doc = ctx.out_document
    if doc is None:
        return
    env_ns = etree.QName(doc).namespace
    header = doc.find(f"{{{env_ns}}}Header")
    if header is None:
        header = etree.Element(f"{{{env_ns}}}Header")
        doc.insert(0, header)
    op = getattr(ctx.descriptor, "ocpp_operation", None) if ctx.descriptor is not None else None
    if ctx.out_error is not None or op is None:
        action = WSA_FAULT_ACTION
    else:
        action = op.output_action
    etree.SubElement(header, f"{{{WSA}}}Action", nsmap={"wsa": WSA}).text = action
    if ctx.out_error is not None and env_ns == SOAP12_ENV:
        _qualify_subcodes(doc, ctx.app.interface.get_tns())
    etree.SubElement(header, f"{{{WSA}}}MessageID", nsmap={"wsa": WSA}).text = f"urn:uuid:{uuid.uuid4()}"
    rc = ctx.udc if isinstance(ctx.udc, RequestContext) else None
    message_id = rc.message_id if rc else None
    if message_id is None and ctx.in_header_doc:
        message_id = _header_text(ctx.in_header_doc, WSA, "MessageID")
    if message_id:
        etree.SubElement(header, f"{{{WSA}}}RelatesTo", nsmap={"wsa": WSA}).text = message_id


def _qualify_subcodes(doc, namespace: str) -> None:
    """SOAP 1.2 fault Subcode values are QNames: put the OCPP error codes in the service's namespace."""
    for value in doc.iter(f"{{{SOAP12_ENV}}}Value"):
        parent = value.getparent()
        if parent.tag != f"{{{SOAP12_ENV}}}Subcode" or not value.text or ":" in value.text:
            continue
        qualified = etree.Element(f"{{{SOAP12_ENV}}}Value", nsmap={"ocpp": namespace})
        qualified.text = f"ocpp:{value.text}"
        qualified.tail = value.tail
        parent.replace(value, qualified)


class SoapServices:
    """The spyne Applications (SOAP 1.1 and SOAP 1.2) of one WSDL, all operations going to ``handler``."""

    def __init__(self, desc: ServiceDescription, handler: Handler):
        self.desc = desc
        header_type = type(desc.header_element, (Unicode,), {"__type_name__": desc.header_element,
                                                             "__namespace__": desc.namespace})
        methods = {op.name: _make_method(desc, op, handler, header_type) for op in desc.operations.values()}
        service = type(desc.service, (ServiceBase,), {"__service_name__": desc.service, **methods})
        self.soap12 = self._application(service, Soap12)
        self.soap11 = self._application(service, Soap11)

    def _application(self, service, protocol) -> Application:
        app = Application([service], tns=self.desc.namespace, name=self.desc.service,
                          in_protocol=protocol(), out_protocol=protocol(cleanup_namespaces=True))
        for method in app.interface.method_id_map.values():
            method.ocpp_operation = self.desc.operations.get(method.operation_name)
        app.event_manager.add_listener("method_return_document", _add_addressing)
        app.event_manager.add_listener("method_exception_document", _add_addressing)
        return app

