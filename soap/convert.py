"""Between SOAP (spyne objects and request elements, typed by the WSDLs) and plain OCPP payload dicts with
the WSDL's camelCase names.

The WSDL field names are the OCPP names, so the conversion is generic: dates become ISO 8601 strings (as in
OCPP-J), absent optional fields are left out, and fields a type does not have are dropped on the way out.
A request coming in is read by :func:`from_element` as faithfully as an OCPP-J payload is by JSON, so the
service layer checks both the same way.
"""

from __future__ import annotations

import decimal
import math
import re
from datetime import UTC, datetime
from functools import cache

from lxml import etree
from spyne.model.complex import ComplexModelBase, XmlAttribute, XmlData, XmlModifier
from spyne.model.primitive import Boolean, DateTime, Decimal, Integer

from cms.timeutil import iso, parse_timestamp

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
# xs:int and xs:decimal as XML Schema writes them (ASCII digits only; Python's int() would take more).
_INTEGER = re.compile(r"[+-]?[0-9]{1,20}", re.ASCII)
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", re.ASCII)


def _derives(cls, base) -> bool:
    """``cls`` is a class derived from ``base`` (a spyne type info may hold other things, too)."""
    return isinstance(cls, type) and issubclass(cls, base)


def _is_list(cls) -> bool:
    return cls.Attributes.max_occurs > 1


def _unwrap(cls):
    return cls.type if _derives(cls, XmlModifier) else cls


def to_dict(cls, obj) -> dict:
    """A spyne complex object as an OCPP payload dict."""
    out: dict = {}
    if obj is None:
        return out
    for name, member in cls.get_flat_type_info(cls).items():
        value = getattr(obj, name, None)
        if value is None:
            continue
        member = _unwrap(member)
        if _is_list(member):
            items = [_value(member, v) for v in value if v is not None]
            if items:
                out[name] = items
        else:
            out[name] = _value(member, value)
    return out


def _value(cls, value):
    if issubclass(cls, ComplexModelBase):
        return to_dict(cls, value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            return iso(value)
        except OverflowError:  # 9999-12-31T23:00:00-05:00 has no UTC datetime: the core refuses it as sent
            return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def from_dict(cls, data: dict | None):
    """An OCPP payload dict as an instance of spyne complex type ``cls``; unknown keys are dropped."""
    kwargs = {}
    for name, member in cls.get_flat_type_info(cls).items():
        value = (data or {}).get(name)
        if value is None:
            continue
        member = _unwrap(member)
        if _is_list(member):
            kwargs[name] = [_native(member, v) for v in (value if isinstance(value, list) else [value])]
        else:
            kwargs[name] = _native(member, value)
    # customised copies (min/max occurs) are not meant to be instantiated: make the original type
    return (getattr(cls, "__orig__", None) or cls)(**kwargs)


def _native(cls, value):
    if issubclass(cls, ComplexModelBase):
        return from_dict(cls, value)
    if issubclass(cls, DateTime):
        if isinstance(value, datetime):
            return value
        parsed = parse_timestamp(value)
        if parsed is None:
            raise ValueError(f"not a date-time: {value!r}")
        return parsed
    if issubclass(cls, Boolean):
        return bool(value)
    if issubclass(cls, Integer):
        return int(value)
    if issubclass(cls, Decimal):
        return decimal.Decimal(str(value))
    return str(value)


def from_element(cls, element) -> dict:
    """A request element (``<startTransactionRequest>``) as an OCPP payload dict, typed by the WSDL's ``cls``.

    Nothing is refused here: a value that does not read as its type (``<meterStart>abc</meterStart>``) stays
    text, an element the type does not have is kept under its name, a structure where a value belongs is kept
    as a dict; repeated single elements keep the last, as JSON does with repeated keys. The service layer then
    answers them with the OCPP-J codes, exactly as for an OCPP-J payload."""
    if element is None:
        return {}
    value = _read(_layout(cls), element)
    return value if isinstance(value, dict) else {}


class _Layout:
    """How to read an element of one WSDL type, worked out once per type: its text member (simple content),
    attributes and child elements, each with its reader (a layout, or a simple kind) and whether it repeats."""

    __slots__ = ("kind", "text", "attributes", "children")

    def __init__(self, kind: str):
        self.kind = kind  # complex | int | decimal | bool | time | text
        self.text: tuple[str, str] | None = None
        self.attributes: dict[str, str] = {}
        self.children: dict[str, tuple[_Layout, bool]] = {}


@cache
def _layout(cls) -> _Layout:
    cls = _unwrap(cls)
    if not issubclass(cls, ComplexModelBase):
        for base, kind in ((Integer, "int"), (Decimal, "decimal"), (Boolean, "bool"), (DateTime, "time")):
            if issubclass(cls, base):
                return _Layout(kind)
        return _Layout("text")
    layout = _Layout("complex")
    for name, member in cls.get_flat_type_info(cls).items():
        if _derives(member, XmlData):
            layout.text = (name, _layout(member.type).kind)
        elif _derives(member, XmlAttribute):
            layout.attributes[name] = _layout(member.type).kind
        else:
            layout.children[name] = (_layout(member), _is_list(_unwrap(member)))
    return layout


def _read(layout: _Layout, element):
    children = [c for c in element if isinstance(c.tag, str)]
    if layout.kind != "complex":
        return _read_unknown(element) if children else _read_simple(layout.kind, element.text)
    if not children and layout.text is None and (element.text or "").strip():
        return element.text  # text where elements belong
    out: dict = {}
    if layout.text is not None and ((element.text or "").strip() or not children):
        out[layout.text[0]] = _read_simple(layout.text[1], element.text)
    for name, kind in layout.attributes.items():
        raw = element.get(name)
        if raw is not None:
            out[name] = _read_simple(kind, raw)
    for child in children:
        tag = child.tag
        name = tag[tag.index("}") + 1 :] if tag[0] == "{" else tag
        known = layout.children.get(name)
        if known is None:
            out[name] = _read_unknown(child)
        elif child.get(XSI_NIL) not in ("true", "1"):
            value = _read(known[0], child)
            if known[1]:
                out.setdefault(name, []).append(value)
            else:
                out[name] = value
    return out


def _read_unknown(element):
    """An element the WSDL does not give a type: its text, or its children by name."""
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return element.text or ""
    return {etree.QName(c).localname: _read_unknown(c) for c in children}


def _read_simple(kind: str, text: str | None):
    text = text or ""
    if kind == "text":
        return text
    if kind == "time":
        return text.strip()  # read by the service layer, which tells a bad date-time from a good one
    digits = text.strip()
    if kind == "int":
        return int(digits) if _INTEGER.fullmatch(digits) else text
    if kind == "decimal":
        if _DECIMAL.fullmatch(digits):
            number = float(digits)
            return number if math.isfinite(number) else text
        return text
    return {"true": True, "1": True, "false": False, "0": False}.get(digits, text)
