"""Read an official OCPP WSDL (unmodified, schemas inline) into spyne types and a list of operations.

The OCPP WSDLs use a small part of XML Schema: named simple types restricting ``string`` (enumerations,
``maxLength``) or ``decimal`` (``fractionDigits``), complex types that are a plain ``sequence`` of elements,
and in 1.5 one anonymous element with simple content and attributes (the meter ``value``). Building the
spyne models from the files keeps every message, field name, order and occurrence exactly as published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias

from lxml import etree
from spyne.model.complex import ComplexModel, XmlAttribute, XmlData
from spyne.model.primitive import AnyUri, Boolean, DateTime, Decimal, Integer32, Unicode

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"

# A spyne model class. spyne ships no type information, so its classes are type[Any] here: `_type_info`,
# `customize()` and the rest are spyne's own.
SpyneModel: TypeAlias = type[Any]

WSDL_DIR = Path(__file__).resolve().parent / "wsdl"
# The official files, by (version, service). Kept unmodified (see soap/wsdl/README.md).
WSDL_FILES = {
    ("1.5", "CentralSystemService"): WSDL_DIR / "ocpp15" / "ocpp_centralsystemservice_1.5_final.wsdl",
    ("1.5", "ChargePointService"): WSDL_DIR / "ocpp15" / "ocpp_chargepointservice_1.5_final.wsdl",
    ("1.6", "CentralSystemService"): WSDL_DIR / "ocpp16" / "OCPP_CentralSystemService_1.6.wsdl",
    ("1.6", "ChargePointService"): WSDL_DIR / "ocpp16" / "OCPP_ChargePointService_1.6.wsdl",
}

_PRIMITIVES = {
    "string": Unicode,
    "int": Integer32,
    "dateTime": DateTime,
    "anyURI": AnyUri,
    "boolean": Boolean,
    "decimal": Decimal,
}


@dataclass
class Operation:
    """One WSDL operation: its request/response body types and element names, and WS-Addressing actions."""

    name: str
    request_element: str
    response_element: str
    request_type: SpyneModel
    response_type: SpyneModel
    input_action: str
    output_action: str

    @property
    def request_is_empty(self) -> bool:
        return not self.request_type._type_info

    @property
    def response_is_empty(self) -> bool:
        return not self.response_type._type_info


@dataclass
class ServiceDescription:
    """What an OCPP WSDL describes, as spyne types."""

    version: str
    service: str  # CentralSystemService | ChargePointService
    namespace: str
    header_element: str  # chargeBoxIdentity
    path: Path
    operations: dict[str, Operation] = field(default_factory=dict)
    types: dict[str, SpyneModel] = field(default_factory=dict)

    def operation_for_element(self, element: str) -> Operation | None:
        for op in self.operations.values():
            if op.request_element == element:
                return op
        return None


def _local(qname: str) -> tuple[str, str]:
    prefix, _, name = qname.rpartition(":")
    return prefix, name


class _SchemaReader:
    def __init__(self, schema: etree._Element, namespace: str):
        self.schema = schema
        self.ns = namespace
        self.simple = {e.get("name"): e for e in schema.findall(f"{{{XS}}}simpleType")}
        self.complex = {e.get("name"): e for e in schema.findall(f"{{{XS}}}complexType")}
        self.built: dict[str, SpyneModel] = {}

    def type_for(self, qname: str, context: etree._Element) -> SpyneModel:
        prefix, name = _local(qname)
        if context.nsmap.get(prefix or None) == XS:
            return _PRIMITIVES[name]
        if name not in self.built:
            if name in self.simple:
                self.built[name] = self._simple(name, self.simple[name])
            elif name in self.complex:
                self.built[name] = self._complex(name, self.complex[name])
            else:
                raise ValueError(f"type {qname} is not defined in the WSDL")
        return self.built[name]

    def _simple(self, name: str, node: etree._Element) -> SpyneModel:
        restriction = node.find(f"{{{XS}}}restriction")
        base = self.type_for(restriction.get("base"), restriction)
        values = [e.get("value") for e in restriction.findall(f"{{{XS}}}enumeration")]
        kw: dict = {}
        if values:
            kw["values"] = values
        max_len = restriction.find(f"{{{XS}}}maxLength")
        if max_len is not None:
            kw["max_len"] = int(max_len.get("value"))
        digits = restriction.find(f"{{{XS}}}fractionDigits")
        if digits is not None:
            kw["fraction_digits"] = int(digits.get("value"))
        # A named subclass, so the generated WSDL keeps the type's name and namespace.
        return type(name, (base.customize(**kw),), {"__type_name__": name, "__namespace__": self.ns})

    def _complex(self, name: str, node: etree._Element) -> SpyneModel:
        members: list[tuple[str, SpyneModel]] = []
        simple_content = node.find(f"{{{XS}}}simpleContent")
        if simple_content is not None:
            extension = simple_content.find(f"{{{XS}}}extension")
            members.append(("text", XmlData(self.type_for(extension.get("base"), extension))))
            for attr in extension.findall(f"{{{XS}}}attribute"):
                members.append((attr.get("name"), XmlAttribute(self.type_for(attr.get("type"), attr))))
        sequence = node.find(f"{{{XS}}}sequence")
        for el in sequence if sequence is not None else ():
            if el.tag != f"{{{XS}}}element":
                continue
            el_name = el.get("name")
            if el.get("type"):
                el_type = self.type_for(el.get("type"), el)
            else:  # an anonymous type: named after its owner so the generated WSDL stays readable
                el_type = self._complex(name + el_name[:1].upper() + el_name[1:], el.find(f"{{{XS}}}complexType"))
            max_occurs = el.get("maxOccurs", "1")
            members.append(
                (
                    el_name,
                    el_type.customize(
                        min_occurs=int(el.get("minOccurs", "1")),
                        max_occurs="unbounded" if max_occurs == "unbounded" else int(max_occurs),
                        nillable=False,
                    ),
                )
            )
        return type(name, (ComplexModel,), {"__namespace__": self.ns, "__type_name__": name, "_type_info": members})


@cache
def load(version: str, service: str) -> ServiceDescription:
    """The description of ``service`` (CentralSystemService | ChargePointService) of OCPP ``version``."""
    path = WSDL_FILES[(version, service)]
    doc = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    namespace = doc.get("targetNamespace")
    schema = doc.find(f"{{{WSDL}}}types/{{{XS}}}schema")
    reader = _SchemaReader(schema, namespace)
    elements = {e.get("name"): e for e in schema.findall(f"{{{XS}}}element")}
    messages = {m.get("name"): m.find(f"{{{WSDL}}}part") for m in doc.findall(f"{{{WSDL}}}message")}
    header_element = _local(messages["Header"].get("element"))[1]

    desc = ServiceDescription(version, service, namespace, header_element, path)
    port_type = doc.find(f"{{{WSDL}}}portType")
    for op in port_type.findall(f"{{{WSDL}}}operation"):
        inp, out = op.find(f"{{{WSDL}}}input"), op.find(f"{{{WSDL}}}output")
        req_el = _local(messages[_local(inp.get("message"))[1]].get("element"))[1]
        res_el = _local(messages[_local(out.get("message"))[1]].get("element"))[1]
        desc.operations[op.get("name")] = Operation(
            name=op.get("name"),
            request_element=req_el,
            response_element=res_el,
            request_type=reader.type_for(elements[req_el].get("type"), elements[req_el]),
            response_type=reader.type_for(elements[res_el].get("type"), elements[res_el]),
            input_action=inp.get(f"{{{WSAW}}}Action") or f"/{op.get('name')}",
            output_action=out.get(f"{{{WSAW}}}Action") or f"/{op.get('name')}Response",
        )
    desc.types = dict(reader.built)
    return desc
