"""Overview, stations and charge points: lists, forms, and the live charger page with its polling partials."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from cms import queries
from cms.chargepoints import add_charge_point, remove_charge_point, update_charge_point
from cms.errors import Conflict, InvalidInput
from cms.loadmgmt.state import station_snapshot
from cms.loadmgmt.view import load_view
from cms.models import utcnow
from cms.stations import create_station, delete_station, update_station

from . import bp
from .common import owner, rt


def _heartbeat() -> int:
    return rt().settings.heartbeat_interval


def _station_id(value: str | None) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput("Choose a station from the list") from None


def _station_form() -> dict:
    f = request.form
    return {
        "name": f.get("name", ""),
        "address": f.get("address", ""),
        "latitude": f.get("latitude", ""),
        "longitude": f.get("longitude", ""),
        "timezone": f.get("timezone", "UTC") or "UTC",
    }


@bp.get("/")
@login_required
def home():
    with rt().db.uow() as uow:
        data = queries.overview(uow.session, owner(), default_heartbeat=_heartbeat())
    return render_template("dashboard/home.html", o=data)


# ----- stations -----


@bp.get("/stations")
@login_required
def stations():
    with rt().db.uow() as uow:
        rows = queries.stations(uow.session, owner())
    return render_template("dashboard/stations/list.html", stations=rows, form={"timezone": "UTC"})


@bp.post("/stations")
@login_required
def station_create():
    form = _station_form()
    try:
        with rt().db.uow() as uow:
            s = create_station(uow.session, owner(), **form)
            uow.commit()
            station_id = s.id
    except (InvalidInput, Conflict) as e:
        flash(str(e), "error")
        with rt().db.uow() as uow:
            rows = queries.stations(uow.session, owner())
        return render_template("dashboard/stations/list.html", stations=rows, form=form), 422
    flash(f"Station {form['name'].strip()} added.", "success")
    return redirect(url_for("dashboard.station_page", station_id=station_id))


@bp.get("/stations/<int:station_id>")
@login_required
def station_page(station_id: int):
    with rt().db.uow() as uow:
        s = queries.station(uow.session, owner(), station_id)
        cps = queries.charge_points(uow.session, owner(), default_heartbeat=_heartbeat(), station_id=station_id)
        load = load_view(station_snapshot(uow.session, station_id, utcnow()))
    return render_template("dashboard/stations/page.html", station=s, form=s, chargers=cps, load=load)


@bp.post("/stations/<int:station_id>")
@login_required
def station_update(station_id: int):
    form = _station_form()
    try:
        with rt().db.uow() as uow:
            update_station(uow.session, owner(), station_id, **form)
            uow.commit()
    except (InvalidInput, Conflict) as e:
        flash(str(e), "error")
        with rt().db.uow() as uow:
            s = queries.station(uow.session, owner(), station_id)
            cps = queries.charge_points(uow.session, owner(), default_heartbeat=_heartbeat(), station_id=station_id)
            load = load_view(station_snapshot(uow.session, station_id, utcnow()))
        return render_template("dashboard/stations/page.html", station=s, form=form, chargers=cps, load=load), 422
    flash("Station saved.", "success")
    return redirect(url_for("dashboard.station_page", station_id=station_id))


@bp.post("/stations/<int:station_id>/delete")
@login_required
def station_delete(station_id: int):
    with rt().db.uow() as uow:
        delete_station(uow.session, owner(), station_id)
        uow.commit()
    flash("Station removed; its charge points are kept without a station.", "success")
    return redirect(url_for("dashboard.stations"))


# ----- charge points -----


@bp.get("/chargers")
@login_required
def chargers():
    with rt().db.uow() as uow:
        rows = queries.charge_points(uow.session, owner(), default_heartbeat=_heartbeat())
        scope = queries.owner_scope(uow.session, owner())
    return render_template("dashboard/chargers/list.html", chargers=rows, scope=scope, form={})


@bp.get("/chargers/rows")
@login_required
def charger_rows():
    """The live part of the charger list (HTMX polling)."""
    with rt().db.uow() as uow:
        rows = queries.charge_points(uow.session, owner(), default_heartbeat=_heartbeat())
    return render_template("dashboard/chargers/_rows.html", chargers=rows)


@bp.post("/chargers")
@login_required
def charger_create():
    form = {"identity": request.form.get("identity", ""), "station_id": request.form.get("station_id", "")}
    try:
        with rt().db.uow() as uow:
            cp = add_charge_point(
                uow.session,
                form["identity"],
                owner(),
                password=request.form.get("password") or None,
                station_id=_station_id(form["station_id"]),
            )
            uow.commit()
            identity = cp.identity
    except (InvalidInput, Conflict) as e:
        flash(str(e), "error")
        with rt().db.uow() as uow:
            rows = queries.charge_points(uow.session, owner(), default_heartbeat=_heartbeat())
            scope = queries.owner_scope(uow.session, owner())
        return render_template("dashboard/chargers/list.html", chargers=rows, scope=scope, form=form), 422
    flash(
        f"Charge point {identity} added. Point it at {rt().settings.public_url.replace('http', 'ws', 1)}"
        f"/ocpp/{identity}",
        "success",
    )
    return redirect(url_for("dashboard.charger_page", identity=identity))


@bp.get("/chargers/<identity>")
@login_required
def charger_page(identity: str):
    from cms.commands import commands_for

    with rt().db.uow() as uow:
        cp = queries.charge_point(uow.session, owner(), identity, default_heartbeat=_heartbeat())
        recent = queries.transactions(uow.session, owner(), queries.TransactionFilter(identity=identity), per_page=10)
    return render_template(
        "dashboard/chargers/page.html", cp=cp, recent=recent["rows"], commands=sorted(commands_for(cp["ocpp_version"]))
    )


@bp.get("/chargers/<identity>/status")
@login_required
def charger_status(identity: str):
    """The live part of the charger page: online state, heartbeat and connectors (HTMX polling)."""
    with rt().db.uow() as uow:
        cp = queries.charge_point(uow.session, owner(), identity, default_heartbeat=_heartbeat())
    return render_template("dashboard/chargers/_status.html", cp=cp)


@bp.route("/chargers/<identity>/edit", methods=["GET", "POST"])
@login_required
def charger_edit(identity: str):
    with rt().db.uow() as uow:
        cp = queries.charge_point(uow.session, owner(), identity, default_heartbeat=_heartbeat())
        scope = queries.owner_scope(uow.session, owner())
    if request.method == "POST":
        try:
            with rt().db.uow() as uow:
                update_charge_point(
                    uow.session,
                    owner(),
                    identity,
                    station_id=_station_id(request.form.get("station_id")),
                    password=request.form.get("password") or None,
                    clear_password=bool(request.form.get("clear_password")),
                )
                uow.commit()
        except (InvalidInput, Conflict) as e:
            flash(str(e), "error")
            return render_template("dashboard/chargers/edit.html", cp=cp, scope=scope), 422
        flash("Charge point saved.", "success")
        return redirect(url_for("dashboard.charger_page", identity=identity))
    return render_template("dashboard/chargers/edit.html", cp=cp, scope=scope)


@bp.post("/chargers/<identity>/delete")
@login_required
def charger_delete(identity: str):
    with rt().db.uow() as uow:
        remove_charge_point(uow.session, owner(), identity)
        uow.commit()
    flash(f"Charge point {identity} removed.", "success")
    return redirect(url_for("dashboard.chargers"))
