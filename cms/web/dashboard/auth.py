"""Sign-up, email verification, log-in / log-out, password reset, the account page and the mail outbox."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user

from cms import mail, visibility
from cms.credentials import TooManyAttempts
from cms.errors import Conflict, InvalidInput
from cms.models import User

from . import bp
from .common import SessionUser, credentials, owner, rt


def _link(endpoint: str):
    """token -> absolute link on the public URL (mails leave the request, so no relative URLs)."""
    base = rt().settings.public_url.rstrip("/")
    return lambda token: base + url_for(endpoint, token=token)


def _safe_next(target: str | None) -> str:
    """Only local paths: an open redirect after log-in would help phishing."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.home")


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    form = {"name": "", "email": "", "phone": ""}
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in form}
        password = request.form.get("password", "")
        if password != request.form.get("password_confirm", ""):
            flash("The two passwords differ.", "error")
            return render_template("dashboard/auth/signup.html", form=form), 422
        try:
            with rt().db.uow() as uow:
                credentials().sign_up(
                    uow.session,
                    name=form["name"],
                    email=form["email"],
                    phone=form["phone"],
                    password=password,
                    link_for=_link("dashboard.verify_email"),
                )
                uow.commit()
        except (InvalidInput, Conflict) as e:
            flash(str(e), "error")
            return render_template("dashboard/auth/signup.html", form=form), 422
        return render_template(
            "dashboard/auth/check_mail.html",
            email=form["email"].strip().lower(),
            outbox=not rt().mailer.uses_smtp,
        )
    return render_template("dashboard/auth/signup.html", form=form)


@bp.get("/verify/<token>")
def verify_email(token: str):
    try:
        with rt().db.uow() as uow:
            user = credentials().verify_email(uow.session, token)
            uow.commit()
    except InvalidInput as e:
        flash(str(e), "error")
        return render_template("dashboard/auth/resend.html"), 400
    flash(f"Thank you, {user.email} is confirmed. You can log in now.", "success")
    return redirect(url_for("dashboard.login", email=user.email))


@bp.route("/verify", methods=["GET", "POST"])
def resend_verification():
    """Send the verification mail again (says the same whether or not the account exists)."""
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()
        with rt().db.uow() as uow:
            credentials().resend_verification(uow.session, email, _link("dashboard.verify_email"))
            uow.commit()
        flash("If that account waits for confirmation, a new link is on its way.", "success")
        return redirect(url_for("dashboard.login"))
    return render_template("dashboard/auth/resend.html")


@bp.route("/login", methods=["GET", "POST"])
def login():
    email = request.values.get("email", "")
    if request.method == "POST":
        try:
            with rt().db.uow() as uow:
                user = credentials().authenticate(
                    uow.session, email, request.form.get("password", ""), request.remote_addr or ""
                )
                uow.commit()
        except TooManyAttempts as e:
            flash(str(e), "error")
            return render_template("dashboard/auth/login.html", email=email), 429, {"Retry-After": str(e.retry_after)}
        if user is None or user.role not in ("owner", "admin"):
            flash("Wrong email or password.", "error")
            return render_template("dashboard/auth/login.html", email=email), 401
        if user.email_verified_at is None:
            flash("Please confirm your email address first: follow the link we mailed you.", "error")
            return render_template("dashboard/auth/login.html", email=email, unverified=True), 403
        login_user(SessionUser.of(user), remember=bool(request.form.get("remember")))
        return redirect(_safe_next(request.args.get("next")))
    return render_template("dashboard/auth/login.html", email=email)


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are logged out.", "success")
    return redirect(url_for("dashboard.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    if request.method == "POST":
        with rt().db.uow() as uow:
            credentials().request_password_reset(
                uow.session, request.form.get("email", ""), _link("dashboard.reset_password")
            )
            uow.commit()
        flash("If an account has that address, a link to reset its password is on its way.", "success")
        return redirect(url_for("dashboard.login"))
    return render_template("dashboard/auth/forgot.html")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        with rt().db.uow() as uow:
            credentials().check_reset_token(uow.session, token)
    except InvalidInput as e:
        flash(str(e), "error")
        return render_template("dashboard/auth/forgot.html"), 400
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("password_confirm", ""):
            flash("The two passwords differ.", "error")
            return render_template("dashboard/auth/reset.html", token=token), 422
        try:
            with rt().db.uow() as uow:
                credentials().reset_password(uow.session, token, password)
                uow.commit()
        except InvalidInput as e:
            flash(str(e), "error")
            return render_template("dashboard/auth/reset.html", token=token), 422
        flash("Your password is changed. Log in with the new one.", "success")
        return redirect(url_for("dashboard.login"))
    return render_template("dashboard/auth/reset.html", token=token)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    if request.method == "POST":
        if request.form.get("password") != request.form.get("password_confirm"):
            flash("The two new passwords differ.", "error")
        else:
            try:
                with rt().db.uow() as uow:
                    user = uow.session.get(User, owner().id)
                    credentials().change_password(
                        uow.session, user, request.form.get("current_password", ""), request.form.get("password", "")
                    )
                    uow.commit()
                flash("Password changed.", "success")
                return redirect(url_for("dashboard.account"))
            except InvalidInput as e:
                flash(str(e), "error")
        return render_template("dashboard/auth/account.html"), 422
    return render_template("dashboard/auth/account.html")


@bp.get("/outbox")
@login_required
def outbox():
    """Mails the CMS sent: an administrator sees all (the way to hand out links without SMTP, besides the
    ``cms`` CLI), an owner their own. Never public: a reset link in it is a key to the account."""
    me = owner()
    with rt().db.uow() as uow:
        mails = mail.outbox(uow.session, recipient=None if visibility.sees_everything(me) else me.email, limit=100)
    return render_template("dashboard/auth/outbox.html", mails=mails, smtp=rt().mailer.uses_smtp)
