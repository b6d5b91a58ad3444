"""Charger messages, valid and hostile, for property-based tests and for fault drills against a live server.

OCPP-J payloads are generated from the OCPP 1.6 JSON schemas the ``ocpp`` package ships, SOAP request bodies
from the official WSDLs (``soap.schema``), so every charger-initiated action of both transports and all
versions is covered, and a schema change is followed. Hostile values aim at what broke before: integers past
32 and 64 bits, numbers written as text, strings past their column with NUL characters, date-times whose
offset runs past year 9999, wrong JSON types, missing, repeated and unknown fields; frames and envelopes are
truncated, mangled, put in the wrong namespace.

Every generator takes a source of choices: ``RandomSource(random.Random(seed))`` for a drill against a live
server (``issue 12``'s fault suite), or ``HypothesisSource(data.draw)`` inside a hypothesis test, which then
shrinks a failure to its smallest case. ``json_reply_kind`` and ``soap_reply_kind`` classify what came back.

    src = RandomSource(random.Random(7))
    frame = hostile_frame(src, "StartTransaction")             # text for a WebSocket
    body = hostile_envelope(src, "1.6", "MeterValues", "CP1")  # bytes to POST to /soap/ocpp16
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources

from hypothesis import strategies as st
from lxml import etree
from spyne.model.complex import ComplexModelBase, XmlAttribute, XmlData, XmlModifier
from spyne.model.primitive import Boolean, DateTime, Decimal, Integer

from cms.pipeline import CHARGER_OPERATIONS
from soap.schema import load

# The charger-initiated actions of OCPP 1.5 and 1.6 (tests/unit/test_pipeline.py pins the list).
CHARGER_ACTIONS = CHARGER_OPERATIONS
SOAP_PATHS = {"1.5": "/soap/ocpp15", "1.6": "/soap/ocpp16"}
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"

INT32 = (-(1 << 31), (1 << 31) - 1)
# Printable text that XML can carry too, with a little beyond ASCII (column lengths count characters).
SAFE_TEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:/#äöüéñ中文€"


# ------------------------------------------------------------------------------------------------ sources
class RandomSource:
    """Choices from a ``random.Random`` (reproducible with its seed)."""

    def __init__(self, rng: random.Random | None = None):
        self.rng = rng or random.Random()

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def choice(self, options: Sequence):
        return options[self.rng.randrange(len(options))]

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent

    def text(self, alphabet: str, min_size: int, max_size: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(min_size, max_size)))


class HypothesisSource:
    """Choices drawn by hypothesis (``data.draw`` of ``st.data()``), so failures shrink."""

    def __init__(self, draw):
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def choice(self, options: Sequence):
        return self.draw(st.sampled_from(list(options)))

    def chance(self, percent: int) -> bool:
        return self.draw(st.integers(0, 99)) < percent

    def text(self, alphabet: str, min_size: int, max_size: int) -> str:
        return self.draw(st.text(alphabet=alphabet, min_size=min_size, max_size=max_size))


# ------------------------------------------------------------------------------------------------ values
def valid_timestamp(src) -> str:
    """An ISO 8601 date-time as chargers write them (Z, an offset, none, with or without fractions)."""
    base = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=src.integer(0, 100 * 365 * 86400))
    text = base.strftime("%Y-%m-%dT%H:%M:%S")
    if src.chance(30):
        text += "." + str(src.integer(0, 999)).zfill(3)
    return text + src.choice(["Z", "Z", "+02:00", "-05:00", "", "+00:00"])


HOSTILE_TIMESTAMPS = (
    "yesterday",
    "",
    "0000-00-00T00:00:00Z",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+01:00",
    "2025-13-45T25:61:61Z",
    "2025-02-30T00:00:00Z",
    "2025-01-01T00:00:00+99:99",
    "1" * 40,
    "2025-01-01T00:00:00.123456789012345678901234567890Z",
)
HOSTILE_INTEGER_TEXTS = (
    "2147483648",
    "-2147483649",
    "9223372036854775808",
    "100000000000000000000",
    "1" * 400,
    "abc",
    "1.5",
    "",
    " ",
    "0x10",
    "1e3",
    "١٢٣",
    "NaN",
    "-",
    "+",
)


def hostile_integer(src):
    """An integer field's value the CMS cannot store: past 32 or 64 bits, a float, text, another JSON type."""
    return src.choice(
        [
            1 << 31,
            -(1 << 31) - 1,
            1 << 40,
            1 << 63,
            (1 << 64) - 1,
            -(1 << 63),
            10.0**20,
            1e300,
            1.5,
            -0.5,
            True,
            None,
            "12",
            src.choice(HOSTILE_INTEGER_TEXTS),
            [],
            {},
            [1],
        ]
    )


def hostile_string(src, max_length: int | None):
    """A string field's value the CMS cannot store as sent: too long, with NUL, or not a string."""
    over = (max_length or 255) + 1
    return src.choice(
        [
            "x" * over,
            "x" * 70,
            "x" * 600,
            "é" * over,
            "a\x00b",
            "\x00",
            "\x00" * 3,
            5,
            1.5,
            None,
            True,
            [],
            {"a": 1},
            ["x"],
            "x" * 70000,
        ]
    )


# ------------------------------------------------------------------------------------------------ OCPP-J
@cache
def json_schema(action: str) -> dict:
    """The OCPP 1.6 JSON schema of an action's request (the ``ocpp`` package's)."""
    path = resources.files("ocpp") / "v16" / "schemas" / f"{action}.json"
    return json.loads(path.read_text(encoding="utf-8-sig"))


def valid_value(src, schema: dict):
    """A value that fits ``schema`` (the subset of JSON schema OCPP 1.6 uses) and what the CMS can store."""
    kind = schema.get("type")
    if "enum" in schema:
        return src.choice(schema["enum"])
    if kind == "object":
        out = {}
        required = set(schema.get("required", ()))
        for name, sub in schema.get("properties", {}).items():
            if name in required or src.chance(50):
                out[name] = valid_value(src, sub)
        return out
    if kind == "array":
        return [valid_value(src, schema["items"]) for _ in range(src.integer(schema.get("minItems", 0), 3))]
    if kind == "string":
        if schema.get("format") == "date-time":
            return valid_timestamp(src)
        return src.text(SAFE_TEXT, 0, min(schema.get("maxLength", 30), 30))
    if kind == "integer":
        return src.integer(*INT32) if src.chance(30) else src.integer(0, 100)
    if kind == "number":
        return src.integer(0, 10_000) / 10
    if kind == "boolean":
        return src.chance(50)
    raise ValueError(f"no generator for {schema}")


def valid_payload(src, action: str) -> dict:
    """A request payload of ``action`` that any OCPP 1.6 central system must accept."""
    return valid_value(src, json_schema(action))


def _paths(value, prefix=()):
    """Every (path, value) in a JSON value, containers included (the root is the empty path)."""
    yield prefix, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _schema_at(schema: dict, path) -> dict:
    for step in path:
        schema = schema.get("items", {}) if isinstance(step, int) else schema.get("properties", {}).get(step, {})
    return schema


def hostile_value(src, schema: dict):
    """A value ``schema`` or the CMS's columns do not allow."""
    kind = schema.get("type")
    if "enum" in schema:
        return src.choice(["Dancing", "", "x" * 100, "a\x00", 7, None, schema["enum"][0].lower()])
    if kind == "integer":
        return hostile_integer(src)
    if kind == "string" and schema.get("format") == "date-time":
        return src.choice([*HOSTILE_TIMESTAMPS, 20250101, None, ["2025-01-01T00:00:00Z"]])
    if kind == "string":
        return hostile_string(src, schema.get("maxLength"))
    if kind == "array":
        return src.choice(["not a list", {}, [], [1, "x", None], [[{}]], 7])
    if kind == "object":
        return src.choice(["not an object", [], 7, None, {"unknown": {"deep": [1, 2, {"x": None}]}}])
    return src.choice([None, "x", 1e300])


def mutate_payload(src, action: str, payload: dict, mutations: int = 3) -> dict:
    """``payload`` with one to ``mutations`` of: a value replaced by a hostile one, a field dropped, an unknown
    field added (at any depth)."""
    payload = json.loads(json.dumps(payload))
    schema = json_schema(action)
    for _ in range(src.integer(1, mutations)):
        spots = list(_paths(payload))
        path, _value = src.choice(spots)
        how = src.choice(["replace", "replace", "replace", "drop", "add"])
        if how == "add" or not path:
            target = _container(payload, path) if isinstance(_container(payload, path), dict) else payload
            target[src.choice(["vendorX", "connectorId2", "x" * 300, ""])] = src.choice([1, "x", None, {"a": []}])
            continue
        parent = _container(payload, path[:-1])
        if how == "drop":
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list) and path[-1] < len(parent):
                parent.pop(path[-1])
        else:
            parent[path[-1]] = hostile_value(src, _schema_at(schema, path))
    return payload


def _container(payload, path):
    node = payload
    for step in path:
        node = node[step]
    return node


def hostile_payload(src, action: str) -> dict:
    """A payload of ``action`` with hostile values, missing and unknown fields."""
    return mutate_payload(src, action, valid_payload(src, action))


def frame(unique_id: str, action: str, payload) -> str:
    """An OCPP-J CALL as text (any payload: NaN and huge numbers go out as JSON would spell them)."""
    return json.dumps([2, unique_id, action, payload], ensure_ascii=False, allow_nan=True)


def hostile_frame(src, action: str | None = None, unique_id: str = "fuzz-1") -> str | bytes:
    """A CALL frame with a hostile payload of ``action`` (any charger action if None), or a broken frame
    (bytes: to be sent as a binary WebSocket message)."""
    action = action or src.choice(CHARGER_ACTIONS)
    if src.chance(80):
        return frame(unique_id, action, hostile_payload(src, action))
    good = frame(unique_id, action, valid_payload(src, action))
    return src.choice(
        [
            good[: src.integer(0, max(0, len(good) - 1))],  # truncated
            good.replace("[2,", "[7,", 1),  # unknown message type
            f'[2, "{unique_id}", "{action}"]',  # no payload
            f'[2, {src.choice(["5", "null", "[]"])}, "{action}", {{}}]',  # unique id not a string
            f'[2, "{"u" * 37}", "{action}", {{}}]',  # unique id too long
            f'[2, "{unique_id}", 5, {{}}]',  # action not a string
            f'[2, "{unique_id}", "{action}", "payload"]',
            f'[2, "{unique_id}", "{action}", {{"a": 1, "a": 2}}]',  # repeated key
            f'[2, "{unique_id}", "{action}", {{"x": 1e400}}]',  # a number past double
            f'[2, "{unique_id}", "{action}", {{"x": NaN}}]',
            f'[2, "{unique_id}", "{action}", ' + "[" * 2000 + "]" * 2000 + "]",  # deep nesting
            f'[2, "{unique_id}", "{src.choice(["MakeCoffee", "Reset", "", "x" * 500])}", {{}}]',
            '{"not": "an array"}',
            "",
            "null",
            "[]",
            "[2]",
            "\x00",
            '[3, "nobody", {}]',
            good.encode(),
            good.encode("utf-16"),
            b"\xff\xfe\x00",  # binary frames
        ]
    )


def json_reply_kind(reply: str | None) -> tuple[str, str | None]:
    """``("result", None)``, ``("error", code)`` or ``("none", None)`` for what the CMS answered a frame."""
    if reply is None:
        return "none", None
    msg = json.loads(reply)
    if msg[0] == 3:
        return "result", None
    assert msg[0] == 4, reply
    return "error", msg[2]


# ------------------------------------------------------------------------------------------------ SOAP
def _unwrap(cls):
    return cls.type if isinstance(cls, type) and issubclass(cls, XmlModifier) else cls


def _values(cls) -> list:
    return sorted(getattr(cls.Attributes, "values", None) or ())


def _max_len(cls) -> int:
    length = getattr(cls.Attributes, "max_len", None)
    return 30 if length is None or length == float("inf") else min(int(length), 30)


def _simple_text(src, cls) -> str:
    if _values(cls):
        return src.choice(_values(cls))
    if issubclass(cls, Integer):
        return str(src.integer(*INT32) if src.chance(30) else src.integer(0, 100))
    if issubclass(cls, DateTime):
        return valid_timestamp(src)
    if issubclass(cls, Decimal):
        return f"{src.integer(0, 100000) / 10:.1f}"
    if issubclass(cls, Boolean):
        return src.choice(["true", "false"])
    return src.text(SAFE_TEXT, 0, _max_len(cls))


def _hostile_text(src, cls) -> str:
    if issubclass(cls, Integer):
        return src.choice(HOSTILE_INTEGER_TEXTS)
    if issubclass(cls, DateTime):
        return src.choice(HOSTILE_TIMESTAMPS)
    if _values(cls):
        return src.choice(["Dancing", "", "x" * 100, _values(cls)[0].upper()])
    return src.choice(["x" * 21, "x" * 65, "x" * 600, "é" * 300, "x" * 70000, ""])


def soap_body(src, version: str, action: str, hostile: bool = False) -> etree._Element:
    """The request element of ``action`` in OCPP ``version`` (1.5 or 1.6), as the WSDL types it; with
    ``hostile``, some leaves hold values their type or the CMS cannot take."""
    desc = load(version, "CentralSystemService")
    op = desc.operations[action]
    root = etree.Element(f"{{{desc.namespace}}}{op.request_element}")
    _fill(src, root, op.request_type, desc.namespace, hostile)
    return root


def _fill(src, element, cls, ns: str, hostile: bool) -> None:
    for name, member in cls.get_flat_type_info(cls).items():
        if isinstance(member, type) and issubclass(member, XmlData):
            element.text = _leaf(src, member.type, hostile)
            continue
        if isinstance(member, type) and issubclass(member, XmlAttribute):
            if src.chance(60):
                element.set(name, _leaf(src, member.type, hostile))
            continue
        member = _unwrap(member)
        attrs = member.Attributes
        count = attrs.min_occurs if not src.chance(50) else min(attrs.min_occurs + 1, attrs.max_occurs)
        if attrs.max_occurs > 1 and src.chance(20):
            count = min(3, attrs.max_occurs)
        for _ in range(int(count)):
            child = etree.SubElement(element, f"{{{ns}}}{name}")
            if issubclass(member, ComplexModelBase):
                _fill(src, child, member, ns, hostile)
            else:
                child.text = _leaf(src, member, hostile)


def _leaf(src, cls, hostile: bool) -> str:
    return _hostile_text(src, cls) if hostile and src.chance(30) else _simple_text(src, cls)


def envelope(
    version: str,
    body: etree._Element,
    identity: str | None,
    soap_ns: str = SOAP12,
    message_id: str = "urn:uuid:fuzz-1",
    from_address: str | None = "http://10.9.9.9:8080/cp",
) -> bytes:
    """A SOAP envelope around ``body`` with the OCPP header and WS-Addressing, as a charger sends it."""
    desc = load(version, "CentralSystemService")
    op = desc.operation_for_element(etree.QName(body).localname)
    env = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"s": soap_ns, "a": WSA, "o": desc.namespace})
    header = etree.SubElement(env, f"{{{soap_ns}}}Header")
    if identity is not None:
        etree.SubElement(header, f"{{{desc.namespace}}}{desc.header_element}").text = identity
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = message_id
    etree.SubElement(header, f"{{{WSA}}}Action").text = op.input_action if op else "/Unknown"
    if from_address is not None:
        etree.SubElement(etree.SubElement(header, f"{{{WSA}}}From"), f"{{{WSA}}}Address").text = from_address
    etree.SubElement(header, f"{{{WSA}}}To").text = "http://cms/"
    etree.SubElement(env, f"{{{soap_ns}}}Body").append(body)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def valid_envelope(src, version: str, action: str, identity: str, soap_ns: str = SOAP12) -> bytes:
    return envelope(version, soap_body(src, version, action), identity, soap_ns)


def mutate_envelope(src, data: bytes, version: str) -> bytes:
    """An envelope changed as a broken or hostile charger would: its tree (elements dropped, repeated, added,
    moved to another namespace, text where elements belong, a header too long) or its bytes (truncated,
    garbage, a character XML cannot hold)."""
    if src.chance(25):
        return src.choice(
            [
                data[: src.integer(0, max(0, len(data) - 1))],
                data.replace(b"<", b"<<", 1),
                data.replace(b"</s:Body>", b"</s:Body><s:Body/>"),
                data.replace(b"encoding='UTF-8'", b"encoding='EBCDIC-US'"),
                data[: -len(b"</s:Envelope>")] + b"\xff\xfe</s:Envelope>",
                data.decode().replace("encoding='UTF-8'", "encoding='UTF-16'").encode("utf-16"),  # valid, UTF-16
                data.replace(b"</s:Header>", b"<x>&#0;</x></s:Header>"),
                data.replace(b"<s:Body>", b"<s:Body>text before"),
                b"<x/>",
                b"",
                b"\x00" * 10,
                b"<s:Envelope xmlns:s='" + SOAP12.encode() + b"'/>",
            ]
        )
    doc = etree.fromstring(data)
    desc = load(version, "CentralSystemService")
    body = doc.find(f"{{{etree.QName(doc).namespace}}}Body")
    request_parts = [e for e in body.iter() if e is not body] if body is not None and len(body) else []
    # Mostly the request's own elements (where the service layer's reading is tested), else anything.
    elements = request_parts if request_parts and src.chance(75) else [e for e in doc.iter() if e is not doc]
    target = src.choice(elements)
    how = src.choice(["drop", "repeat", "add", "namespace", "text", "nest", "header", "body"])
    parent = target.getparent()
    if how == "drop":
        parent.remove(target)
    elif how == "repeat":
        parent.insert(parent.index(target), etree.fromstring(etree.tostring(target)))
    elif how == "add":
        etree.SubElement(target, f"{{{desc.namespace}}}{src.choice(['zzz', 'connectorId', 'value'])}").text = "1"
    elif how == "namespace":
        target.tag = f"{{urn://elsewhere/}}{etree.QName(target).localname}"
    elif how == "text":
        for child in list(target):
            target.remove(child)
        target.text = src.choice(["", "hello", "1" * 30, "2025-01-01T00:00:00Z"])
    elif how == "nest":
        target.text = None
        etree.SubElement(target, f"{{{desc.namespace}}}inner").text = "x"
    elif how == "header":
        header = doc.find(f"{{{etree.QName(doc).namespace}}}Header")
        if header is not None:
            for el in header:
                if el.tag.endswith(("chargeBoxIdentity", "MessageID", "Address")) or el.tag.endswith("From"):
                    (el.find(f"{{{WSA}}}Address") if el.tag.endswith("From") else el).text = src.choice(
                        ["x" * 65, "x" * 600, "", "   ", "x" * 5000]
                    )
    elif body is not None:
        other = src.choice([a for a in CHARGER_ACTIONS if a in desc.operations])
        body.append(soap_body(src, version, other))
    return etree.tostring(doc)


def hostile_envelope(src, version: str, action: str, identity: str, soap_ns: str = SOAP12) -> bytes:
    """An envelope of ``action`` with hostile values, mutated as :func:`mutate_envelope` does, or both."""
    data = envelope(version, soap_body(src, version, action, hostile=True), identity, soap_ns)
    return mutate_envelope(src, data, version) if src.chance(60) else data


def soap_reply_kind(status: int, body: bytes) -> tuple[str, str | None]:
    """``("ok", None)``, ``("sender", code)``, ``("receiver", code)`` or ``("no fault", None)`` for an HTTP
    answer of a SOAP endpoint (``code``: the OCPP code of the fault, its innermost subcode)."""
    try:
        doc = etree.fromstring(body)
    except etree.XMLSyntaxError:
        return "no fault", None
    ns = etree.QName(doc).namespace
    fault = doc.find(f"{{{ns}}}Body/{{{ns}}}Fault")
    if fault is None:
        return ("ok", None) if status == 200 else ("no fault", None)
    if ns == SOAP12:
        values = [v.text or "" for v in fault.iter(f"{{{SOAP12}}}Value")]
        side, code = values[0], values[-1]
    else:
        side = fault.findtext("faultcode") or ""
        code = side
    side = side.rpartition(":")[2]
    code = code.rpartition(":")[2].rpartition(".")[2]
    return ("sender" if side.startswith(("Sender", "Client")) else "receiver"), code
