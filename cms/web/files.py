"""HTTP file exchange with chargers: firmware downloads and diagnostics uploads (PUT or POST)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request, send_file

from cms.errors import InvalidInput, NotFound
from cms.web.context import runtime

bp = Blueprint("files", __name__, url_prefix="/files")


def _store():
    return runtime().files


@bp.get("/firmware/<name>")
def firmware(name: str):
    try:
        return send_file(
            _store().firmware_path(name), mimetype="application/octet-stream", as_attachment=True, download_name=name
        )
    except NotFound:
        abort(404)


@bp.route("/diagnostics/<token>/", methods=["POST", "PUT"])
@bp.route("/diagnostics/<token>/<filename>", methods=["POST", "PUT"])
def diagnostics_upload(token: str, filename: str | None = None):
    store = _store()
    try:
        identity = store.identity_for_upload(token)
        if request.files:
            upload = next(iter(request.files.values()))
            path = store.save_diagnostics(identity, filename or upload.filename or "diagnostics", upload.stream)
        else:
            path = store.save_diagnostics(
                identity, filename or request.headers.get("X-Filename", "diagnostics"), request.stream
            )
    except NotFound:
        return jsonify(error="not_found", message="Unknown upload location"), 404
    except InvalidInput as e:
        return jsonify(error="invalid_input", message=str(e)), 422
    return jsonify(status="stored", file=path.rsplit("/", 1)[-1]), 201
