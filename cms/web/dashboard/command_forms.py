"""Forms for CMS-initiated commands, derived from the OCPP 1.6 request schemas the ``ocpp`` package ships.

Simple properties become inputs (text, number, choice, date-time, yes/no); nested objects and lists of objects
(charging profiles, local lists) become JSON text areas. Parsing turns the submitted form into the OCPP 1.6
request payload; the dispatcher validates it against the same schema before anything is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources

from cms.errors import InvalidInput


@dataclass(frozen=True)
class CommandField:
    name: str
    kind: str  # text | integer | number | choice | datetime | bool | list | json
    required: bool
    options: tuple[str, ...] = field(default=())
    max_length: int | None = None

    @property
    def label(self) -> str:
        out = "".join(" " + c.lower() if c.isupper() else c for c in self.name).strip()
        return out[0].upper() + out[1:]


def _kind(spec: dict) -> str:
    t = spec.get("type")
    if "enum" in spec:
        return "choice"
    if t == "string":
        return "datetime" if spec.get("format") == "date-time" else "text"
    if t == "integer":
        return "integer"
    if t == "number":
        return "number"
    if t == "boolean":
        return "bool"
    if t == "array" and spec.get("items", {}).get("type") == "string":
        return "list"
    return "json"


@lru_cache(maxsize=64)
def fields_for(action: str) -> tuple[CommandField, ...]:
    """The form fields of ``action``'s request, in schema order."""
    path = resources.files("ocpp") / "v16" / "schemas" / f"{action}.json"
    if not path.is_file():
        raise InvalidInput(f"Unknown OCPP action {action}")
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    required = set(schema.get("required", []))
    return tuple(
        CommandField(name, _kind(spec), name in required, tuple(spec.get("enum", ())), spec.get("maxLength"))
        for name, spec in schema.get("properties", {}).items()
    )


def parse(action: str, form) -> dict:
    """The request payload from submitted form values; blank optional fields are left out."""
    payload: dict = {}
    for f in fields_for(action):
        raw = (form.get(f.name) or "").strip()
        if f.kind == "bool":
            if raw:
                payload[f.name] = raw in ("true", "on", "1", "yes")
            continue
        if not raw:
            if f.required:
                raise InvalidInput(f"{f.label} is required")
            continue
        try:
            payload[f.name] = _convert(f, raw)
        except (ValueError, json.JSONDecodeError) as e:
            raise InvalidInput(f"{f.label}: {e}") from None
    return payload


def _convert(f: CommandField, raw: str):
    if f.kind == "integer":
        return int(raw)
    if f.kind == "number":
        return float(raw)
    if f.kind == "list":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if f.kind == "json":
        return json.loads(raw)
    if f.kind == "datetime":
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if dt.tzinfo is None:  # the form's datetime-local input is in UTC, as the page says
            dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return raw
