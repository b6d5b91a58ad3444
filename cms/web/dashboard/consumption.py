"""Consumption: energy per station or charger per day / week / month, plotted from the daily rollup (which the
upkeep rounds keep current: cms/energy_rollup.py; a page view writes nothing)."""

from __future__ import annotations

from flask import flash, render_template, request
from flask_login import login_required

from cms import queries
from cms.errors import InvalidInput

from . import bp
from .common import is_htmx, owner, rt


@bp.get("/consumption")
@login_required
def consumption():
    period = request.args.get("period", "day")
    group = request.args.get("group", "station")
    status = 200
    try:
        f = queries.TransactionFilter.from_args(request.args)
        if period not in queries.PERIODS or group not in queries.GROUPS:
            raise InvalidInput("Choose a period (day, week, month) and a grouping (station, charger)")
    except InvalidInput as e:
        flash(str(e), "error")
        f, period, group, status = queries.TransactionFilter(), "day", "station", 422
    with rt().db.uow() as uow:
        data = queries.consumption(uow.session, owner(), f, period=period, group=group)
        scope = queries.owner_scope(uow.session, owner())
    template = "dashboard/consumption/_chart.html" if is_htmx() else "dashboard/consumption/page.html"
    return render_template(template, data=data, f=f, args=f.as_args(), scope=scope, period=period, group=group), status
