"""The OpenAPI document and an interactive viewer."""

from __future__ import annotations

from flask import jsonify, render_template_string, url_for

from cms.web.security import DATA, page_policy

from . import bp, spec

# No inline script: static/swagger-init.js starts Swagger UI with the document URL from data-openapi-url, so the
# page runs under the same Content-Security-Policy as the rest of the CMS.
_VIEWER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>EV CMS API</title>
<link rel="stylesheet" href="{{ css }}"></head><body><div id="ui" data-openapi-url="{{ doc }}"></div>
<script src="{{ js }}"></script><script src="{{ init }}"></script></body></html>"""


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(spec.document(url_for("api.openapi_document").rsplit("/", 1)[0]))


@bp.get("/docs")
@page_policy(img_src=[DATA])  # Swagger UI's stylesheet draws its icons as data: SVG images
def openapi_viewer():
    return render_template_string(
        _VIEWER,
        css=url_for("static", filename="vendor/swagger-ui/swagger-ui.css"),
        js=url_for("static", filename="vendor/swagger-ui/swagger-ui-bundle.js"),
        init=url_for("static", filename="swagger-init.js"),
        doc=url_for("api.openapi_document"),
    )


spec.operation(
    "/openapi.json",
    "get",
    {
        "summary": "This OpenAPI document",
        "security": [],
        "tags": ["meta"],
        "responses": {
            "200": {
                "description": "OpenAPI 3 document",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    },
)
