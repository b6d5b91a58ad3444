"""Between spyne objects (built from the WSDLs) and plain OCPP payload dicts with the WSDL's camelCase names.

The WSDL field names are the OCPP names, so the conversion is generic: dates become ISO 8601 strings (as in
OCPP-J), absent optional fields are left out, and fields a type does not have are dropped on the way out.
"""

from __future__ import annotations

import decimal
from datetime import UTC, datetime

from spyne.model.complex import ComplexModelBase, XmlModifier
from spyne.model.primitive import Boolean, DateTime, Decimal, Integer

from cms.timeutil import iso, parse_timestamp


def _is_list(cls) -> bool:
    return cls.Attributes.max_occurs > 1


def _unwrap(cls):
    return cls.type if isinstance(cls, type) and issubclass(cls, XmlModifier) else cls


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
        return iso(value)
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
