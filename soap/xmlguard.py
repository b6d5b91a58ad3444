"""Refuse dangerous XML before anything parses it into a tree, and tell which SOAP envelope it is.

A document type declaration is the only way to declare entities (billion laughs, external entities), and
it must come before the root element. So a streaming expat pass that stops at the root element's start
tag refuses every DTD while reading only the document's prologue; it also yields the root's namespace.
"""

from __future__ import annotations

import xml.parsers.expat


class UnsafeXml(ValueError):
    """The document declares a DTD (or is not XML at all)."""


class _Stop(Exception):
    pass


def inspect(body: bytes) -> tuple[str, str]:
    """``(namespace, local name)`` of the root element; raises :class:`UnsafeXml` for a DTD or bad XML."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    root: list[str] = []

    def doctype(*_args):
        raise UnsafeXml("XML with a document type declaration (DTD) is not accepted")

    def entity(*_args):
        raise UnsafeXml("XML entity declarations are not accepted")

    def start(name, _attrs):
        root.append(name)
        raise _Stop

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.ExternalEntityRefHandler = entity
    parser.StartElementHandler = start
    try:
        parser.Parse(body, True)
    except _Stop:
        pass
    except xml.parsers.expat.ExpatError as e:
        raise UnsafeXml(f"Malformed XML: {e}") from None
    except LookupError as e:  # an encoding declaration Python does not know
        raise UnsafeXml(f"Unreadable XML: {e}") from None
    if not root:
        raise UnsafeXml("Malformed XML: no root element")
    ns, _, local = root[0].rpartition(" ")
    return ns, local
