"""Transactions: filtered, paginated list, CSV export, and a transaction page with its meter plot."""

from __future__ import annotations

import csv
import io

from flask import Response, flash, render_template, request, stream_with_context
from flask_login import login_required

from cms import queries
from cms.errors import InvalidInput

from . import bp
from .common import int_arg, is_htmx, owner, rt

CSV_COLUMNS = [
    "id",
    "station",
    "identity",
    "connector_id",
    "id_tag",
    "start",
    "stop",
    "energy_wh",
    "stop_reason",
    "cost",
]


def _filter() -> tuple[queries.TransactionFilter, str | None]:
    try:
        return queries.TransactionFilter.from_args(request.args), None
    except InvalidInput as e:
        return queries.TransactionFilter(), str(e)


@bp.get("/transactions")
@login_required
def transactions():
    f, error = _filter()
    if error:
        flash(error, "error")
    with rt().db.uow() as uow:
        page = queries.transactions(uow.session, owner(), f, page=int_arg("page"))
        scope = queries.owner_scope(uow.session, owner())
    template = "dashboard/transactions/_table.html" if is_htmx() else "dashboard/transactions/list.html"
    return render_template(template, page=page, f=f, args=f.as_args(), scope=scope), (422 if error else 200)


@bp.get("/transactions.csv")
@login_required
def transactions_csv():
    f, error = _filter()
    if error:
        return Response(error + "\n", status=422, mimetype="text/plain")
    me = owner()
    app_rt = rt()

    def generate():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        with app_rt.db.uow() as uow:
            for n, row in enumerate(queries.iter_transactions(uow.session, me, f), start=1):
                writer.writerow([_csv_value(row[c]) for c in CSV_COLUMNS])
                if n % 500 == 0:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
        yield buf.getvalue()

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=transactions.csv"},
    )


def _csv_value(value):
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@bp.get("/transactions/<int:tx_id>")
@login_required
def transaction_page(tx_id: int):
    with rt().db.uow() as uow:
        tx = queries.transaction(uow.session, owner(), tx_id)
    return render_template("dashboard/transactions/page.html", tx=tx)
