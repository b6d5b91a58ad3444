"""Id tags (add, block, expire, group under a parent) and the reservations list."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from cms import queries
from cms.errors import Conflict, InvalidInput, NotFound
from cms.idtags import add_id_tag, delete_id_tag, update_id_tag
from cms.models import User

from . import bp
from .common import owner, rt


def _expiry(value: str | None) -> datetime | None:
    """The form's date-time (UTC, as the page says) or None for no expiry."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("Expiry must be a date and time like 2025-12-31T23:59") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _list(status: int = 200, form: dict | None = None):
    with rt().db.uow() as uow:
        tags = queries.id_tags(uow.session, owner())
    return render_template("dashboard/tags/list.html", tags=tags, form=form or {}), status


@bp.get("/tags")
@login_required
def tags():
    return _list()


@bp.post("/tags")
@login_required
def tag_create():
    form = {k: request.form.get(k, "") for k in ("tag", "parent", "expiry", "note")}
    try:
        with rt().db.uow() as uow:
            me = uow.session.get(User, owner().id)
            add_id_tag(
                uow.session,
                form["tag"],
                owner=me,
                parent=form["parent"].strip() or None,
                expiry=_expiry(form["expiry"]),
                blocked=bool(request.form.get("blocked")),
                note=form["note"],
            )
            uow.commit()
    except (InvalidInput, Conflict, NotFound) as e:
        flash(str(e), "error")
        return _list(422, form)
    flash(f"Id tag {form['tag'].strip()} added.", "success")
    return redirect(url_for("dashboard.tags"))


@bp.route("/tags/<int:tag_id>", methods=["GET", "POST"])
@login_required
def tag_edit(tag_id: int):
    with rt().db.uow() as uow:
        tag = queries.id_tag(uow.session, owner(), tag_id)
    if request.method == "POST":
        try:
            with rt().db.uow() as uow:
                update_id_tag(
                    uow.session,
                    owner(),
                    tag_id,
                    blocked=bool(request.form.get("blocked")),
                    expiry=_expiry(request.form.get("expiry")),
                    parent=request.form.get("parent"),
                    note=request.form.get("note", ""),
                )
                uow.commit()
        except (InvalidInput, NotFound) as e:
            flash(str(e), "error")
            return render_template("dashboard/tags/edit.html", tag=tag), 422
        flash(f"Id tag {tag['tag']} saved.", "success")
        return redirect(url_for("dashboard.tags"))
    return render_template("dashboard/tags/edit.html", tag=tag)


@bp.post("/tags/<int:tag_id>/block")
@login_required
def tag_block(tag_id: int):
    """Block or unblock in one click (HTMX swaps the row)."""
    with rt().db.uow() as uow:
        tag = queries.id_tag(uow.session, owner(), tag_id)
        update_id_tag(
            uow.session,
            owner(),
            tag_id,
            blocked=not tag["blocked"],
            expiry=tag["expiry_date"],
            parent=tag["parent"],
            note=tag["note"],
        )
        uow.commit()
    with rt().db.uow() as uow:
        tag = queries.id_tag(uow.session, owner(), tag_id)
    if request.headers.get("HX-Request") == "true":
        return render_template("dashboard/tags/_row.html", t=tag)
    return redirect(url_for("dashboard.tags"))


@bp.post("/tags/<int:tag_id>/delete")
@login_required
def tag_delete(tag_id: int):
    with rt().db.uow() as uow:
        delete_id_tag(uow.session, owner(), tag_id)
        uow.commit()
    flash("Id tag removed.", "success")
    return redirect(url_for("dashboard.tags"))


@bp.get("/reservations")
@login_required
def reservations():
    with rt().db.uow() as uow:
        rows = queries.reservations(uow.session, owner())
    return render_template("dashboard/tags/reservations.html", reservations=rows)


# ----- time-of-day tariffs per station (bands and prices per kWh; cms.tariff owns the rules) -----


@bp.get("/tariffs")
@login_required
def tariffs():
    from cms.tariff import bands_by_station

    with rt().db.uow() as uow:
        stations = queries.stations(uow.session, owner())
        bands = bands_by_station(uow.session, [s["id"] for s in stations])
    return render_template(
        "dashboard/tags/tariffs.html",
        stations=stations,
        bands={sid: [b.as_dict() for b in rows] for sid, rows in bands.items()},
        currency=rt().settings.currency,
    )


def _band_rows(form) -> list[dict]:
    """The band rows of the tariff form; rows left blank are skipped."""
    rows = []
    for start, end, price, label in zip(
        form.getlist("start"), form.getlist("end"), form.getlist("price"), form.getlist("label"), strict=False
    ):
        if not (start.strip() or end.strip() or price.strip()):
            continue
        rows.append({"start": start.strip(), "end": end.strip(), "pricePerKwh": price.strip(), "label": label})
    return rows


@bp.route("/stations/<int:station_id>/tariff", methods=["GET", "POST"])
@login_required
def tariff_edit(station_id: int):
    from cms.tariff import set_tariff_bands, tariff_bands

    with rt().db.uow() as uow:
        station = queries.station(uow.session, owner(), station_id)
        bands = [b.as_dict() for b in tariff_bands(uow.session, station_id)]
    status = 200
    if request.method == "POST":
        rows = _band_rows(request.form)
        try:
            with rt().db.uow() as uow:
                set_tariff_bands(uow.session, owner(), station_id, rows)
                uow.commit()
            flash(f"Tariff of {station['name']} saved.", "success")
            return redirect(url_for("dashboard.tariffs"))
        except InvalidInput as e:
            flash(str(e), "error")
            bands = [
                {"start": r["start"], "end": r["end"], "pricePerKwh": r["pricePerKwh"], "label": r["label"]}
                for r in rows
            ]
            status = 422
    return render_template(
        "dashboard/tags/tariff_edit.html", station=station, bands=bands, currency=rt().settings.currency
    ), status
