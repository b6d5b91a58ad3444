"""Shared pieces of the driver API: request validation against the documented schemas, OpenAPI helpers,
and the JSON errors of driver-specific refusals."""

from __future__ import annotations

import copy
import math
from typing import Literal, overload

import fastjsonschema
from flask import request

from cms.credentials import TooManyAttempts
from cms.driver_sessions import ChargerRefused
from cms.drivers import NotVerified, WrongRole
from cms.payments import WebhookRejected
from cms.wallet import InsufficientBalance
from cms.web.context import runtime as runtime  # re-exported: the views of this package import it from here

from . import bp
from .errors import ApiError, error_response

MAX_ID = 2_147_483_647
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


# ------------------------------------------------------------------------------------------------
# Validation: requests are checked against the very schema the OpenAPI document shows.
# ------------------------------------------------------------------------------------------------


def _json_schema(schema):
    """OpenAPI 3.0 ``nullable`` as JSON Schema (``type: [t, "null"]``), recursively."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _json_schema(v) for k, v in schema.items() if k not in ("nullable", "example", "description")}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


class BodySchema:
    """A request body schema: ``.schema`` for the document, ``.load()`` to validate the current request."""

    def __init__(self, schema: dict):
        self.schema = schema
        self._validate = fastjsonschema.compile(_json_schema(copy.deepcopy(schema)))

    def load(self) -> dict:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(422, "invalid_input", "The body must be a JSON object")
        try:
            self._validate(data)
        except fastjsonschema.JsonSchemaValueException as e:
            raise ApiError(422, "invalid_input", e.message.replace("data.", "").replace("data ", "body ")) from None
        _reject_nul(data)
        return data


def _reject_nul(value) -> None:
    """NUL characters cannot be stored (PostgreSQL refuses them): refuse them up front."""
    if isinstance(value, str) and "\x00" in value:
        raise ApiError(422, "invalid_input", "Text may not contain NUL characters")
    if isinstance(value, dict):
        for v in value.values():
            _reject_nul(v)
    elif isinstance(value, list):
        for v in value:
            _reject_nul(v)


@overload
def query_int(name: str, default: int, lo: int, hi: int) -> int: ...
@overload
def query_int(name: str, default: None, lo: int, hi: int) -> int | None: ...
def query_int(name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_input", f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise ApiError(422, "invalid_input", f"{name} must be from {lo} to {hi}")
    return value


def query_float(name: str, lo: float, hi: float, default: float | None = None) -> float:
    raw = request.args.get(name)
    if raw is None:
        if default is None:
            raise ApiError(422, "invalid_input", f"{name} is required")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(422, "invalid_input", f"{name} must be a number") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ApiError(422, "invalid_input", f"{name} must be from {lo:g} to {hi:g}")
    return value


@overload
def query_str(name: str, max_len: int, *, required: Literal[True], choices: tuple | None = None) -> str: ...
@overload
def query_str(name: str, max_len: int, *, required: bool = False, choices: tuple | None = None) -> str | None: ...
def query_str(name: str, max_len: int, *, required: bool = False, choices: tuple | None = None) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        if required:
            raise ApiError(422, "invalid_input", f"{name} is required")
        return None
    if "\x00" in raw or len(raw) > max_len or (required and not raw.strip()):
        raise ApiError(422, "invalid_input", f"{name} must have 1 to {max_len} characters")
    if choices is not None and raw not in choices:
        raise ApiError(422, "invalid_input", f"{name} is one of {', '.join(choices)}")
    return raw


def path_id(value: str, what: str) -> int:
    """A numeric id from the URL; anything else is a JSON 404 (not the router's HTML one)."""
    if not (value.isascii() and value.isdigit()) or len(value) > 10 or not 1 <= int(value) <= MAX_ID:
        raise ApiError(404, "not_found", f"No such {what}")
    return int(value)


# ------------------------------------------------------------------------------------------------
# OpenAPI helpers
# ------------------------------------------------------------------------------------------------


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def ok(description: str, schema: dict, status: str = "200") -> dict:
    return {status: {"description": description, "content": json_content(schema)}}


def body(schema: BodySchema | dict) -> dict:
    s = schema.schema if isinstance(schema, BodySchema) else schema
    return {"required": True, "content": json_content(s)}


def path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": ID_SCHEMA}


def query_param(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


# ------------------------------------------------------------------------------------------------
# Driver-specific refusals as JSON
# ------------------------------------------------------------------------------------------------


@bp.errorhandler(InsufficientBalance)
def _insufficient(e):
    return error_response(402, "insufficient_balance", str(e))


@bp.errorhandler(ChargerRefused)
def _refused(e: ChargerRefused):
    return error_response(409, "charger_refused", str(e), {"status": e.status})


@bp.errorhandler(NotVerified)
def _not_verified(e):
    return error_response(403, "email_not_verified", str(e))


@bp.errorhandler(WrongRole)
def _wrong_role(e):
    return error_response(403, "forbidden", str(e))


@bp.errorhandler(TooManyAttempts)
def _too_many(e: TooManyAttempts):
    response, status = error_response(429, "too_many_attempts", str(e))
    response.headers["Retry-After"] = str(e.retry_after)
    return response, status


@bp.errorhandler(WebhookRejected)
def _webhook_rejected(e):
    return error_response(401, "bad_signature", str(e))
