"""A SOAP request read before spyne sees it: parsed once, safely, and checked for the envelope OCPP's WSDLs
describe, so that anything unreadable is answered with a Sender fault and a reason (spyne, given a truncated
body or an empty ``Body``, fails with an AttributeError and a bare HTTP 500).

What is checked here is the frame of the message (as :mod:`json_ws.framing` checks ``[2, id, action, payload]``):
well-formed XML, a SOAP 1.1 or 1.2 ``Envelope`` holding an optional ``Header`` and a ``Body``, and in the body
exactly one request element of this service's namespace naming one of its operations. The values inside are
the service layer's business (:func:`soap.convert.from_element`, then ``cms``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from .schema import Operation, ServiceDescription

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"


class EnvelopeError(ValueError):
    """The request is no SOAP message of this service; ``code`` is the OCPP error code to answer with."""

    def __init__(self, code: str, reason: str, message_id: str | None = None):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.message_id = message_id  # the request's WS-Addressing MessageID, when it could be read


@dataclass(frozen=True, slots=True)
class Envelope:
    """A request that has the shape of one of the service's messages."""

    soap_ns: str
    root: etree._Element
    header: etree._Element | None
    request: etree._Element
    operation: Operation

    def header_text(self, ns: str, name: str) -> str | None:
        """The text of a header element (``chargeBoxIdentity``, ``MessageID``), stripped; None if absent."""
        for el in self.header if self.header is not None else ():
            if el.tag == f"{{{ns}}}{name}":
                return (el.text or "").strip() or None
        return None


def _parser() -> etree.XMLParser:
    # A parser per request: lxml parsers are not to be shared between threads. DTDs were refused before
    # (soap.xmlguard); entities are never resolved, nothing is fetched.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True
    )


def read(body: bytes, desc: ServiceDescription) -> Envelope:
    """Parse ``body`` and check its envelope; raises :class:`EnvelopeError` with the reason."""
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as e:
        raise EnvelopeError("FormationViolation", f"Malformed XML: {e}") from None
    except (ValueError, LookupError) as e:  # e.g. an encoding declaration lxml does not take
        raise EnvelopeError("FormationViolation", f"Unreadable XML: {e}") from None
    soap_ns = etree.QName(root).namespace
    if soap_ns not in (SOAP11_ENV, SOAP12_ENV) or etree.QName(root).localname != "Envelope":
        raise EnvelopeError("FormationViolation", f"{root.tag} is not a SOAP 1.1 or 1.2 Envelope")
    try:
        return _check(root, soap_ns, desc)
    except EnvelopeError as e:
        message_id = root.find(f"{{{soap_ns}}}Header/{{{WSA}}}MessageID")
        if message_id is not None and (message_id.text or "").strip():
            e.message_id = message_id.text.strip()
        raise


def _check(root, soap_ns: str, desc: ServiceDescription) -> Envelope:
    header = body_el = None
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag == f"{{{soap_ns}}}Header" and header is None and body_el is None:
            header = child
        elif child.tag == f"{{{soap_ns}}}Body" and body_el is None:
            body_el = child
        else:
            raise EnvelopeError("FormationViolation", f"{child.tag} does not belong in a SOAP Envelope")
    if body_el is None:
        raise EnvelopeError("FormationViolation", "The SOAP Envelope has no Body")
    requests = [c for c in body_el if isinstance(c.tag, str)]
    if len(requests) != 1:
        raise EnvelopeError(
            "FormationViolation", f"The SOAP Body holds {len(requests)} elements; a request is exactly one"
        )
    request = requests[0]
    if (body_el.text or "").strip() or (request.tail or "").strip():
        raise EnvelopeError("FormationViolation", "The SOAP Body holds text beside its request element")
    name = etree.QName(request)
    if name.namespace != desc.namespace:
        raise EnvelopeError(
            "FormationViolation", f"{request.tag} is not in the namespace of OCPP {desc.version} ({desc.namespace})"
        )
    operation = desc.operation_for_element(name.localname)
    if operation is None:
        raise EnvelopeError(
            "NotImplemented", f"{name.localname} is no request of the OCPP {desc.version} {desc.service}"
        )
    return Envelope(soap_ns, root, header, request, operation)
