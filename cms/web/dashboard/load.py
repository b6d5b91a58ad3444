"""The station page's load management card: the limit form, the live load (polled) and the site current plot."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template, request
from flask_login import login_required

from cms import visibility
from cms.errors import InvalidInput
from cms.loadmgmt import site_limits
from cms.loadmgmt.state import station_snapshot
from cms.loadmgmt.view import load_view, site_current
from cms.models import utcnow

from . import bp
from .common import owner, rt

PLOT_WINDOW = timedelta(minutes=30)
PLOT_STEP = timedelta(seconds=15)


def _number(name: str, default: float | None = None) -> float:
    raw = (request.form.get(name) or "").strip()
    if not raw and default is not None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"{name.replace('_', ' ').capitalize()} must be a number") from None


def _live(station_id: int) -> dict:
    with rt().db.uow() as uow:
        visibility.station(uow.session, owner(), station_id)
        return load_view(station_snapshot(uow.session, station_id, utcnow()))


@bp.get("/stations/<int:station_id>/load")
@login_required
def station_load(station_id: int):
    """The live part: limit, total against it, each session's allocation and draw (replaces itself)."""
    return render_template("dashboard/stations/_load_live.html", station_id=station_id, load=_live(station_id))


@bp.get("/stations/<int:station_id>/load/plot")
@login_required
def station_load_plot(station_id: int):
    """The site's drawn current over the last half hour against the limit."""
    now = utcnow()
    with rt().db.uow() as uow:
        visibility.station(uow.session, owner(), station_id)
        series = site_current(uow.session, station_id, now - PLOT_WINDOW, now, PLOT_STEP)
    load = _live(station_id)
    return render_template(
        "dashboard/stations/_load_plot.html",
        station_id=station_id,
        plot={**series, "limitA": load["maxCurrentA"] if load["enabled"] else None},
    )


@bp.post("/stations/<int:station_id>/load-limit")
@login_required
def station_load_limit(station_id: int):
    """Set the limit (or switch it off with ``off``); answers the card again, with the error when refused."""
    error, status = None, 200
    manager = rt().load_manager
    try:
        with rt().db.uow() as uow:
            if request.form.get("off"):
                changed = site_limits.switch_off(uow.session, owner(), station_id)
                enabled = False
            else:
                phases = _number("phases", 3)
                site_limits.set_limit(
                    uow.session,
                    owner(),
                    station_id,
                    max_current_a=_number("max_current_a"),
                    phases=int(phases) if phases in (1, 3) else phases,
                    min_current_a=_number("min_current_a", site_limits.DEFAULT_MIN_CURRENT_A),
                    voltage_v=_number("voltage_v", site_limits.DEFAULT_VOLTAGE_V),
                )
                changed, enabled = True, True
            uow.commit()
        if changed and manager is not None:
            manager.limit_changed(station_id, enabled=enabled)
    except InvalidInput as e:
        error, status = str(e), 422
    return render_template(
        "dashboard/stations/_load_card.html",
        station_id=station_id,
        load=_live(station_id),
        error=error,
        form=request.form,
    ), status
