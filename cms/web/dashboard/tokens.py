"""Owners' API tokens: create (shown once) and revoke."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required

from cms import queries
from cms.accounts import issue_token, revoke_token_of
from cms.models import User

from . import bp
from .common import owner, rt


@bp.get("/tokens")
@login_required
def tokens():
    with rt().db.uow() as uow:
        rows = queries.api_tokens(uow.session, owner())
    return render_template("dashboard/tokens.html", tokens=rows, new_token=None)


@bp.post("/tokens")
@login_required
def token_create():
    name = (request.form.get("name") or "").strip() or "dashboard"
    with rt().db.uow() as uow:
        token = issue_token(uow.session, uow.session.get_one(User, owner().id), name=name)
        uow.commit()
    with rt().db.uow() as uow:
        rows = queries.api_tokens(uow.session, owner())
    # Shown once: only the hash is stored, so this page is the one chance to copy it.
    return render_template("dashboard/tokens.html", tokens=rows, new_token=token, new_name=name)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def token_revoke(token_id: int):
    with rt().db.uow() as uow:
        revoke_token_of(uow.session, owner(), token_id)
        uow.commit()
    flash("Token revoked.", "success")
    return redirect(url_for("dashboard.tokens"))
