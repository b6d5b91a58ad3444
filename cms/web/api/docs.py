"""The OpenAPI document and an interactive viewer."""

from __future__ import annotations

from flask import jsonify, render_template_string, url_for

from . import bp, spec

_VIEWER = """<!doctype html><html><head><meta charset="utf-8"><title>EV CMS API</title>
<link rel="stylesheet" href="{{ css }}"></head><body><div id="ui"></div>
<script src="{{ js }}"></script>
<script>SwaggerUIBundle({url: "{{ doc }}", dom_id: "#ui"});</script></body></html>"""


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(spec.document(url_for("api.openapi_document").rsplit("/", 1)[0]))


@bp.get("/docs")
def openapi_viewer():
    return render_template_string(
        _VIEWER,
        css=url_for("static", filename="vendor/swagger-ui/swagger-ui.css"),
        js=url_for("static", filename="vendor/swagger-ui/swagger-ui-bundle.js"),
        doc=url_for("api.openapi_document"),
    )


spec.operation("/openapi.json", "get", {
    "summary": "This OpenAPI document", "security": [], "tags": ["meta"],
    "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {
        "type": "object"}}}}},
})
