"""Operations: a form for every CMS-initiated command of the charger's OCPP version, and the raw message log."""

from __future__ import annotations

from flask import render_template, request
from flask_login import login_required

from cms import queries
from cms.commands import commands_for, send_command, sync_local_list
from cms.errors import Conflict, InvalidInput
from cms.gateway import ChargerCallError, ChargerNotConnected, ChargerTimeout

from . import bp
from .command_forms import fields_for, parse
from .common import int_arg, is_htmx, owner, rt


def _charger(identity: str) -> dict:
    with rt().db.uow() as uow:
        return queries.charge_point(uow.session, owner(), identity, default_heartbeat=rt().settings.heartbeat_interval)


def _result(
    cp: dict,
    action: str,
    *,
    status: int,
    payload=None,
    response=None,
    error: str | None = None,
    detail: dict | None = None,
):
    context = {
        "cp": cp,
        "action": action,
        "payload": payload,
        "response": response,
        "error": error,
        "detail": detail,
        "fields": fields_for(action),
        "values": request.form,
    }
    template = "dashboard/operations/_result.html" if is_htmx() else "dashboard/operations/command.html"
    return render_template(template, **context), status


@bp.get("/chargers/<identity>/commands/<action>")
@login_required
def command_form(identity: str, action: str):
    cp = _charger(identity)
    if action not in commands_for(cp["ocpp_version"]):
        raise InvalidInput(f"{action} is not a command of OCPP {cp['ocpp_version']}")
    template = "dashboard/operations/_form.html" if is_htmx() else "dashboard/operations/command.html"
    return render_template(
        template, cp=cp, action=action, fields=fields_for(action), values={}, payload=None, response=None, error=None
    )


@bp.post("/chargers/<identity>/commands/<action>")
@login_required
def command_send(identity: str, action: str):
    """Send the command and show the charger's answer (or why there is none) with the matching HTTP status."""
    cp = _charger(identity)
    if action not in commands_for(cp["ocpp_version"]):
        return _result(cp, action, status=422, error=f"{action} is not a command of OCPP {cp['ocpp_version']}")
    payload = None
    try:
        if action == "SendLocalList" and request.form.get("from_tags"):
            out = sync_local_list(rt(), owner(), identity, request.form.get("updateType") or "Differential")
            payload, response = out["request"], out["response"]
        else:
            payload = parse(action, request.form)
            response = send_command(rt(), owner(), identity, action, payload)
    except InvalidInput as e:
        return _result(cp, action, status=422, payload=payload, error=f"Invalid request: {e}")
    except Conflict as e:
        return _result(cp, action, status=409, payload=payload, error=str(e))
    except ChargerNotConnected:
        return _result(cp, action, status=409, payload=payload, error=f"{identity} is not connected.")
    except ChargerCallError as e:
        return _result(
            cp,
            action,
            status=502,
            payload=payload,
            error=f"The charger answered with an error: {e.code}",
            detail={"description": e.description, "details": e.details},
        )
    except ChargerTimeout:
        return _result(cp, action, status=504, payload=payload, error="The charger did not answer in time.")
    return _result(cp, action, status=200, payload=payload, response=response)


@bp.get("/chargers/<identity>/log")
@login_required
def message_log(identity: str):
    before = request.args.get("before")
    with rt().db.uow() as uow:
        cp = queries.charge_point(uow.session, owner(), identity, default_heartbeat=rt().settings.heartbeat_interval)
        rows = queries.message_log(
            uow.session,
            owner(),
            identity,
            limit=int_arg("limit", 100),
            before_id=int(before) if before and before.isdigit() else None,
        )
    template = "dashboard/operations/_log_rows.html" if is_htmx() else "dashboard/operations/log.html"
    return render_template(template, cp=cp, rows=rows)
