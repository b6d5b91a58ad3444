"""``/healthz`` (process up) and ``/readyz`` (database and, when configured, Redis reachable)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from cms.web.context import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    rt = runtime()
    checks: dict[str, str] = {}
    try:
        with rt.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:  # report, do not raise: this is a probe
        checks["database"] = f"error: {e.__class__.__name__}"
    if rt.redis is not None:
        try:
            rt.redis.ping()
            # Reachable is not enough: commands from other processes arrive through the subscription.
            subscribed = rt.router is None or rt.router.subscribed
            checks["redis"] = "ok" if subscribed else "error: not subscribed yet"
        except Exception as e:
            checks["redis"] = f"error: {e.__class__.__name__}"
    if rt.stopping:  # draining for a restart: a load balancer sends new clients elsewhere
        checks["process"] = "stopping"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), (200 if ok else 503)
