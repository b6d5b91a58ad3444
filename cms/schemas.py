"""OCPP 1.6 payload validation with the JSON schemas the ``ocpp`` package ships, compiled once.

Compiled validators (fastjsonschema) are about twenty times faster than ``jsonschema``; this is on the
hot path of every message. Failures map to the OCPP-J 1.6 error codes (section 4.2.3).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cache
from importlib import resources

import fastjsonschema

from .errors import OcppError
from .timeutil import is_timestamp

# fastjsonschema rule -> OCPP 1.6-J error code
_RULE_CODES = {
    "type": "TypeConstraintViolation",
    "required": "OccurenceConstraintViolation",
    "minItems": "OccurenceConstraintViolation",
    "maxItems": "OccurenceConstraintViolation",
    "additionalProperties": "FormationViolation",
    "enum": "PropertyConstraintViolation",
    "maxLength": "PropertyConstraintViolation",
    "minLength": "PropertyConstraintViolation",
    "pattern": "PropertyConstraintViolation",
    "format": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
}


def _strip_multiple_of(node):
    """``multipleOf: 0.1`` on charging rates fails on binary floats (21.4 / 0.1); the rate is still checked
    for type and the charger rounds it anyway."""
    if isinstance(node, dict):
        node.pop("multipleOf", None)
        for v in node.values():
            _strip_multiple_of(v)
    elif isinstance(node, list):
        for v in node:
            _strip_multiple_of(v)
    return node


@cache
def ocpp_actions() -> frozenset[str]:
    """Every OCPP 1.6 action, both directions and the security extension: the names of the request schemas."""
    names = (p.name for p in (resources.files("ocpp") / "v16" / "schemas").iterdir())
    return frozenset(n[:-5] for n in names if n.endswith(".json") and not n.endswith("Response.json"))


class PayloadValidator:
    """Validates OCPP 1.6 request and response payloads by action. Thread-safe; compiled lazily."""

    def __init__(self) -> None:
        self._compiled: dict[str, Callable[[dict], object]] = {}
        self._lock = threading.Lock()
        self._dir = resources.files("ocpp") / "v16" / "schemas"

    def knows(self, action: str) -> bool:
        return (self._dir / f"{action}.json").is_file()

    def _validator(self, name: str) -> Callable[[dict], object]:
        fn = self._compiled.get(name)
        if fn is None:
            with self._lock:
                fn = self._compiled.get(name)
                if fn is None:
                    path = self._dir / f"{name}.json"
                    if not path.is_file():
                        raise OcppError("NotImplemented", f"No schema for {name}")
                    schema = _strip_multiple_of(json.loads(path.read_text(encoding="utf-8-sig")))
                    schema.pop("$schema", None)
                    fn = fastjsonschema.compile(
                        schema, formats={"date-time": is_timestamp, "uri": lambda v: isinstance(v, str)}
                    )
                    self._compiled[name] = fn
        return fn

    def validate(self, action: str, payload, *, response: bool = False) -> None:
        """Raise :class:`OcppError` with the 1.6 code when ``payload`` does not fit the action's schema."""
        if not isinstance(payload, dict):
            raise OcppError("TypeConstraintViolation", "payload must be a JSON object")
        try:
            self._validator(action + ("Response" if response else ""))(payload)
        except fastjsonschema.JsonSchemaValueException as e:
            code = _RULE_CODES.get(e.rule or "", "FormationViolation")
            raise OcppError(code, e.message.replace("data.", "", 1), {"field": e.name, "rule": e.rule}) from None
