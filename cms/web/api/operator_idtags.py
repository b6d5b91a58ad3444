"""Operator API: id tags (list, create, block, expire, group under a parent, delete)."""

from __future__ import annotations

from flask import g, jsonify

from cms import idtags

from . import bp, spec
from .auth import require_user
from .driver_common import BodySchema, body, ok, runtime
from .openapi import error_responses
from .operator_common import OPERATOR_ROLES, page_args, page_params, page_schema, parse_date_time

TAG = ["operator id tags"]
PAGE_DEFAULT = 100

_TAG_VALUE = {"type": "string", "minLength": 1, "maxLength": 20, "description": "OCPP idTag (CiString20)"}
_FIELDS = {
    "idTag": _TAG_VALUE,
    "parentIdTag": {**_TAG_VALUE, "nullable": True, "description": "the group: another id tag of the same owner"},
    "expiryDate": {
        "type": "string",
        "format": "date-time",
        "nullable": True,
        "description": "from then on the tag is Expired; null: never",
    },
    "blocked": {"type": "boolean"},
}
CREATE_BODY = BodySchema(
    {"type": "object", "required": ["idTag"], "additionalProperties": False, "properties": _FIELDS}
)
PATCH_BODY = BodySchema(
    {
        "type": "object",
        "additionalProperties": False,
        "properties": _FIELDS,
        "description": "only the fields given change; idTag, when given, must be the tag's own",
    }
)
ID_TAG = spec.schema(
    "OperatorIdTag",
    {
        "type": "object",
        "required": ["idTag", "parentIdTag", "expiryDate", "blocked"],
        "properties": {
            "idTag": {"type": "string"},
            "parentIdTag": {"type": "string", "nullable": True},
            "expiryDate": {"type": "string", "format": "date-time", "nullable": True},
            "blocked": {"type": "boolean"},
        },
    },
)
ID_TAG_PAGE = page_schema("OperatorIdTagPage", ID_TAG)
TAG_PARAM = {
    "name": "idTag",
    "in": "path",
    "required": True,
    "description": "the id tag",
    "schema": {"type": "string", "minLength": 1, "maxLength": 20},
}


def _changes(data: dict) -> dict:
    """The body as core keywords (``expiry`` parsed)."""
    changes = {}
    if "idTag" in data:
        changes["tag"] = data["idTag"]
    if "parentIdTag" in data:
        changes["parent"] = data["parentIdTag"]
    if "expiryDate" in data:
        raw = data["expiryDate"]
        changes["expiry"] = None if raw is None else parse_date_time(raw, "expiryDate")
    if "blocked" in data:
        changes["blocked"] = data["blocked"]
    return changes


@bp.get("/id-tags")
@require_user(*OPERATOR_ROLES)
def list_id_tags():
    limit, after = page_args(PAGE_DEFAULT, idtags.MAX_PAGE)
    with runtime().db.uow() as uow:
        return jsonify(idtags.list_id_tags(uow.session, g.user, limit=limit, after=after))


@bp.post("/id-tags")
@require_user(*OPERATOR_ROLES)
def create_id_tag():
    changes = _changes(CREATE_BODY.load())
    with runtime().db.uow() as uow:
        row = idtags.create_id_tag(uow.session, g.user, changes.pop("tag"), **changes)
        view = idtags.view_of(uow.session, row)
        uow.commit()
    return jsonify(view), 201


@bp.patch("/id-tags/<path:id_tag>")
@require_user(*OPERATOR_ROLES)
def patch_id_tag(id_tag: str):
    changes = _changes(PATCH_BODY.load())
    with runtime().db.uow() as uow:
        row = idtags.patch_id_tag(uow.session, g.user, id_tag, **changes)
        view = idtags.view_of(uow.session, row)
        uow.commit()
    return jsonify(view)


@bp.delete("/id-tags/<path:id_tag>")
@require_user(*OPERATOR_ROLES)
def delete_id_tag(id_tag: str):
    with runtime().db.uow() as uow:
        idtags.remove_id_tag(uow.session, g.user, id_tag)
        uow.commit()
    return "", 204


spec.operation(
    "/id-tags",
    "get",
    {
        "summary": "The caller's id tags (administrators: all), by tag",
        "tags": TAG,
        "parameters": page_params(PAGE_DEFAULT, idtags.MAX_PAGE),
        "responses": {**ok("A page of id tags", ID_TAG_PAGE), **error_responses(401, 403, 422)},
    },
)
spec.operation(
    "/id-tags",
    "post",
    {
        "summary": "Create an id tag of the caller, optionally blocked, expiring or in a group",
        "tags": TAG,
        "requestBody": body(CREATE_BODY),
        "responses": {**ok("Created", ID_TAG, "201"), **error_responses(401, 403, 409, 422)},
        "description": "409 when the tag exists (id tags are unique system-wide); 422 when the parent is not one of "
        "the caller's tags.",
    },
)
spec.operation(
    "/id-tags/{idTag}",
    "patch",
    {
        "summary": "Block or unblock, set or clear the expiry, group under a parent or ungroup",
        "tags": TAG,
        "parameters": [TAG_PARAM],
        "requestBody": body(PATCH_BODY),
        "responses": {**ok("The id tag as stored", ID_TAG), **error_responses(401, 403, 404, 422)},
        "description": "Only the fields given change. Another owner's tag is 404; a parent of another owner, the tag "
        "itself or one of its members is 422. A tag cannot be renamed.",
    },
)
spec.operation(
    "/id-tags/{idTag}",
    "delete",
    {
        "summary": "Delete an id tag (its members lose their group; sessions keep the value)",
        "tags": TAG,
        "parameters": [TAG_PARAM],
        "responses": {"204": {"description": "Deleted"}, **error_responses(401, 403, 404)},
    },
)
