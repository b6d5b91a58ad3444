"""Accounts on the dashboard: sign-up, verification by mailed link, log-in limits, password reset, CSRF."""

from __future__ import annotations

import re
import time

import pytest

from cms import mail

from .conftest import Browser

LINK = re.compile(r"(http://\S+)")


def outbox_link(rt, email: str, subject_word: str) -> str:
    """The link in the newest mail to ``email`` whose subject has ``subject_word`` (what the CLI shows)."""
    with rt.db.uow() as uow:
        mails = [m for m in mail.outbox(uow.session, recipient=email) if subject_word in m["subject"].lower()]
    assert mails, f"no {subject_word} mail to {email}"
    return LINK.search(mails[0]["body"]).group(1)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def sign_up(browser, email="new@example.com", password="a-good-password"):
    return browser.post(
        "/dashboard/signup",
        {
            "name": "Nina New",
            "email": email,
            "phone": "+49 30 1234567",
            "password": password,
            "password_confirm": password,
        },
    )


def test_sign_up_verify_and_log_in(rt, browser):
    r = sign_up(browser)
    assert r.status_code == 200 and "Check your mail" in r.get_data(as_text=True)
    # Not verified yet: log-in is refused with a way to get a new link.
    r = browser.login("new@example.com", "a-good-password")
    assert r.status_code == 403 and "confirm your email" in r.get_data(as_text=True)

    link = outbox_link(rt, "new@example.com", "confirm")
    assert link.startswith(rt.settings.public_url)
    r = browser.get(path_of(link))
    assert r.status_code == 302 and "/dashboard/login" in r.headers["Location"]

    r = browser.login("new@example.com", "a-good-password")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"
    page = browser.get("/dashboard/").get_data(as_text=True)
    assert "Overview" in page and "Nina New" in page

    from cms.accounts import user_by_email

    with rt.db.uow() as uow:
        user = user_by_email(uow.session, "new@example.com")
        assert user.phone == "+49 30 1234567" and user.role == "owner" and user.email_verified_at is not None
        assert user.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("email", "not-an-email", "Not an email address"),
        ("password", "short", "at least 8"),
        ("name", "", "your name"),
        ("phone", "call me maybe", "phone number"),
    ],
)
def test_sign_up_rejects_bad_input(rt, browser, field, value, message):
    data = {"name": "Nina", "email": "n@example.com", "phone": "", "password": "a-good-password"}
    data[field] = value
    data["password_confirm"] = data["password"]
    r = browser.post("/dashboard/signup", data)
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    with rt.db.uow() as uow:
        assert mail.outbox(uow.session) == []  # nothing half-created, nothing sent


def test_sign_up_with_a_taken_email_is_refused(owner, browser):
    r = sign_up(browser, email="OWNER@example.com")
    assert r.status_code == 422 and "exists already" in r.get_data(as_text=True)


def test_a_tampered_or_expired_verification_link_is_refused(app, rt, browser):
    sign_up(browser)
    link = outbox_link(rt, "new@example.com", "confirm")
    assert browser.get(path_of(link) + "x").status_code == 400
    rt.settings.email_token_max_age = 0
    time.sleep(1.1)
    r = browser.get(path_of(link))
    assert r.status_code == 400 and "expired" in r.get_data(as_text=True)


def test_wrong_password_and_unknown_account_look_the_same(owner, browser):
    a = browser.login("owner@example.com", "wrong-password")
    b = browser.login("nobody@example.com", "wrong-password")
    assert a.status_code == b.status_code == 401
    assert "Wrong email or password" in a.get_data(as_text=True)


def test_login_is_rate_limited_across_processes(app_config, owner, browser):
    from app import create_app

    for _ in range(5):
        assert browser.login("owner@example.com", "wrong-password").status_code == 401
    # Even the right password is refused now, and by another app (process) on the same database too.
    assert browser.login("owner@example.com", "owner-password").status_code == 429
    other = create_app(app_config)
    try:
        r = Browser(other.test_client()).login("owner@example.com", "owner-password")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    finally:
        other.extensions["cms"].db.dispose()


def test_a_success_clears_earlier_failures(owner, browser):
    for _ in range(4):
        browser.login("owner@example.com", "wrong-password")
    assert browser.login("owner@example.com", "owner-password").status_code == 302
    browser.post("/dashboard/logout")
    for _ in range(4):
        assert browser.login("owner@example.com", "wrong-password").status_code == 401


def test_forms_without_csrf_token_are_refused(owner, client):
    r = client.post("/dashboard/login", data={"email": "owner@example.com", "password": "owner-password"})
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)


def test_api_and_ocpp_routes_need_no_csrf(client, owner_token):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    # A JSON API POST with a Bearer token is not a form: no CSRF involved (404: unknown charger).
    r = client.post(
        "/api/v1/charge-points/NOPE/commands/Reset",
        json={"type": "Soft"},
        headers={"Authorization": f"Bearer {owner_token}"},
    )
    assert r.status_code == 404


def test_password_reset_works_once(rt, owner, browser):
    r = browser.post("/dashboard/password/forgot", {"email": "owner@example.com"})
    assert r.status_code == 302
    link = path_of(outbox_link(rt, "owner@example.com", "reset"))
    assert browser.get(link).status_code == 200
    r = browser.post(link, {"password": "brand-new-password", "password_confirm": "brand-new-password"})
    assert r.status_code == 302
    assert browser.login("owner@example.com", "owner-password").status_code == 401
    assert browser.login("owner@example.com", "brand-new-password").status_code == 302
    # The same link cannot be used again.
    r = browser.get(link)
    assert r.status_code == 400 and "used already" in r.get_data(as_text=True)


def test_password_reset_for_unknown_email_sends_nothing(rt, browser):
    r = browser.post("/dashboard/password/forgot", {"email": "ghost@example.com"})
    assert r.status_code == 302
    with rt.db.uow() as uow:
        assert mail.outbox(uow.session) == []


def test_logout_ends_the_session(owner_browser):
    assert owner_browser.get("/dashboard/").status_code == 200
    assert owner_browser.post("/dashboard/logout").status_code == 302
    assert owner_browser.get("/dashboard/").status_code == 302


def test_login_redirects_only_to_local_pages(owner, browser):
    r = browser.post(
        "/dashboard/login?next=https://evil.example/x", {"email": "owner@example.com", "password": "owner-password"}
    )
    assert r.headers["Location"] == "/dashboard/"


def test_change_password(owner_browser):
    r = owner_browser.post(
        "/dashboard/account",
        {"current_password": "nope-nope", "password": "another-pass-1", "password_confirm": "another-pass-1"},
    )
    assert r.status_code == 422
    r = owner_browser.post(
        "/dashboard/account",
        {"current_password": "owner-password", "password": "another-pass-1", "password_confirm": "another-pass-1"},
    )
    assert r.status_code == 302


def test_outbox_shows_an_owner_only_their_own_mail(rt, owner_browser, browser):
    sign_up(browser, email="someone@example.com")
    page = owner_browser.get("/dashboard/outbox").get_data(as_text=True)
    assert "someone@example.com" not in page
    assert browser.get("/dashboard/outbox").status_code == 302  # not public


def test_smtp_is_used_when_configured(rt, browser):
    from .smtp_server import SmtpServer

    with SmtpServer() as server:
        rt.settings.smtp_host, rt.settings.smtp_port = "127.0.0.1", server.port
        sign_up(browser)
    assert len(server.messages) == 1
    sender, recipients, body = server.messages[0]
    assert recipients == ["new@example.com"] and sender == rt.settings.smtp_from
    assert "Subject: Confirm your email address" in body and "/dashboard/verify/" in body
    with rt.db.uow() as uow:
        assert mail.outbox(uow.session)[0]["delivery"] == "smtp"


def test_smtp_refusal_is_recorded_and_sign_up_still_works(rt, browser):
    rt.settings.smtp_host, rt.settings.smtp_port = "127.0.0.1", 1  # nothing listens there
    assert sign_up(browser).status_code == 200
    with rt.db.uow() as uow:
        row = mail.outbox(uow.session)[0]
    assert row["delivery"] == "failed" and row["error"]
