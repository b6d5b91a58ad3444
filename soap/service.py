"""A spyne SOAP service for any OCPP WSDL (CentralSystemService or ChargePointService, 1.5 or 1.6).

Every operation of the description becomes a document/literal method whose body elements, header and
WS-Addressing actions are the WSDL's. The operations all call one ``handler(request_context, operation,
payload)`` with the request as an OCPP payload dict (:func:`soap.convert.from_element`: spyne does not decode
request bodies, whose odd values must reach the service layer, not fail inside spyne); it returns the response
object (or None for the empty responses), or raises a spyne ``Fault``. One spyne Application is made per SOAP
version, so each request is answered in the version it came in; a Sender fault is HTTP 400 in SOAP 1.2.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree
from spyne import BODY_STYLE_BARE, Application, ServiceBase, rpc
from spyne.const.http import HTTP_400
from spyne.model.fault import Fault
from spyne.model.primitive import Unicode
from spyne.protocol.soap import Soap11, Soap12

from .convert import from_element
from .envelope import SOAP12_ENV, WSA
from .schema import Operation, ServiceDescription

WSA_ANONYMOUS = WSA + "/anonymous"
WSA_FAULT_ACTION = WSA + "/soap/fault"
RAW_BODY_KEY = "cms.soap.raw_body"  # WSGI environ key under which the mount keeps the request body
PARSED_KEY = "cms.soap.envelope"  # ... and the envelope it parsed and checked (soap.envelope.Envelope)


@dataclass
class RequestContext:
    """What a handler knows about the message beyond its body."""

    identity: str | None  # the chargeBoxIdentity header
    message_id: str | None  # WS-Addressing MessageID
    from_address: str | None  # WS-Addressing From/Address, unless anonymous
    action: str | None  # WS-Addressing Action
    raw: str | None  # the envelope as received, for the message log
    counted: bool = False  # handed to the service layer, which counts it in the metrics (else soap.wsgi does)


Handler = Callable[[RequestContext, Operation, dict], object]


if TYPE_CHECKING:  # spyne is untyped (Any): the mixin may call and override its protocol's methods
    from spyne.protocol.soap import Soap11 as _SpyneSoap
else:
    _SpyneSoap = object


class _OcppSoapMixin(_SpyneSoap):
    """spyne's SOAP protocol, but reading the envelope the mount parsed and checked already (no second parse),
    and leaving the request body to :func:`soap.convert.from_element`."""

    def create_in_document(self, ctx, charset=None):
        env = getattr(ctx.transport, "req_env", None) or {}
        checked = env.get(PARSED_KEY)
        if checked is None:  # served without the mount (a test charge point): spyne parses
            return super().create_in_document(ctx, charset)
        ctx.in_document = (checked.root, {})  # as spyne's parser returns it: (root, xml ids)

    def deserialize(self, ctx, message):
        if (
            message is not self.REQUEST
            or ctx.descriptor is None
            or ctx.in_body_doc is None
            or ctx.in_body_doc.tag == f"{{{self.ns_soap_env}}}Fault"
        ):
            return super().deserialize(ctx, message)
        self.event_manager.fire_event("before_deserialize", ctx)
        ctx.in_header = None  # the handler reads the header elements itself (request_context)
        body_class = ctx.descriptor.in_message
        bare = ctx.descriptor.body_style is BODY_STYLE_BARE
        ctx.in_object = None if bare else [None] * len(body_class._type_info)
        self.event_manager.fire_event("after_deserialize", ctx)


class OcppSoap11(_OcppSoapMixin, Soap11):
    """SOAP 1.1: every fault is HTTP 500, as its HTTP binding says."""


class OcppSoap12(_OcppSoapMixin, Soap12):
    """SOAP 1.2: a Sender fault is HTTP 400 (its HTTP binding, part 2 section 7.5.2), a Receiver fault 500."""

    def fault_to_http_response_code(self, fault):
        if isinstance(fault, Fault) and (fault.faultcode == "Client" or fault.faultcode.startswith("Client.")):
            return HTTP_400
        return super().fault_to_http_response_code(fault)


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
    # the body as received, kept by the WSGI mount (spyne has consumed its own copy by now), in the encoding
    # the document declares (a UTF-16 envelope read as UTF-8 would be full of NUL characters)
    env = getattr(ctx.transport, "req_env", None) or {}
    body = env.get(RAW_BODY_KEY)
    checked = env.get(PARSED_KEY)
    encoding = (checked.root.getroottree().docinfo.encoding if checked is not None else None) or "utf-8"
    raw = body.decode(encoding, "replace") if body else None
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
    common: dict[str, Any] = dict(
        _operation_name=op.name,
        _in_message_name=f"{{{desc.namespace}}}{op.request_element}",
        _out_message_name=f"{{{desc.namespace}}}{op.response_element}",
        _in_header=(header_type,),
    )
    method: Callable[..., object]
    args: tuple
    if op.request_is_empty:

        def without_body(ctx):
            return _call(ctx, desc, op, handler, None)

        method, args = without_body, ()
        common["_body_style"] = "out_bare"
    else:

        def with_body(ctx, request):
            return _call(ctx, desc, op, handler, request)

        method, args = with_body, (op.request_type,)
        common["_body_style"] = "bare"
    if not op.response_is_empty:
        common["_returns"] = op.response_type
    method.__name__ = op.name
    return rpc(*args, **common)(method)


def _call(ctx, desc: ServiceDescription, op: Operation, handler: Handler, _request):
    ctx.udc = rc = request_context(ctx, desc)
    try:
        result = handler(rc, op, from_element(op.request_type, ctx.in_body_doc))
    except Fault as fault:
        # Answered as the fault it is. Set rather than raised: spyne logs a stack trace for every fault raised
        # in a method, and the handler has logged what each deserves (one line for a charger's mistake).
        ctx.out_error = fault
        return None
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
        header_type = type(
            desc.header_element, (Unicode,), {"__type_name__": desc.header_element, "__namespace__": desc.namespace}
        )
        methods = {op.name: _make_method(desc, op, handler, header_type) for op in desc.operations.values()}
        service = type(desc.service, (ServiceBase,), {"__service_name__": desc.service, **methods})
        self.soap12 = self._application(service, OcppSoap12)
        self.soap11 = self._application(service, OcppSoap11)

    def _application(self, service, protocol) -> Application:
        app = Application(
            [service],
            tns=self.desc.namespace,
            name=self.desc.service,
            in_protocol=protocol(),
            out_protocol=protocol(cleanup_namespaces=True),
        )
        for method in app.interface.method_id_map.values():
            method.ocpp_operation = self.desc.operations.get(method.operation_name)
        app.event_manager.add_listener("method_return_document", _add_addressing)
        app.event_manager.add_listener("method_exception_document", _add_addressing)
        return app
