"""``GET /metrics``: the Prometheus exposition, for allowed addresses or the Bearer token only."""

from __future__ import annotations

from flask import Blueprint, Response, request

from cms.web.context import runtime

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    rt = runtime()
    # request.remote_addr: the client's address, after the proxy rules the app applies (ProxyFix).
    if not rt.metrics_access.allows(request.remote_addr, request.headers.get("Authorization")):
        return Response("Forbidden\n", status=403, mimetype="text/plain")
    body, content_type = rt.metrics.exposition(request.headers.get("Accept"))
    return Response(body, status=200, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
