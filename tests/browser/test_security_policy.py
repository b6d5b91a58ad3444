"""The Content-Security-Policy in a real browser: every dashboard page and the API docs page work under it without
a single violation (the ``page`` fixture fails a test on any), and it really refuses what it should."""

from __future__ import annotations

import pytest

from tests.support.server import LiveServer

pytestmark = pytest.mark.browser


def _log_in(page, base: str) -> None:
    page.goto(f"{base}/dashboard/login")
    page.fill("input[name=email]", "owner@example.com")
    page.fill("input[name=password]", "owner-password")
    page.check("input[name=remember]")
    page.click("button.primary")
    page.wait_for_selector("h1:has-text('Overview')")


def test_the_policy_refuses_inline_script_style_outside_images_and_framing(owner, live_server, page, csp_violations):
    """The watcher is live and the policy is enforced: each of these is refused and reported."""
    base = live_server.url
    page.goto(f"{base}/dashboard/login")
    page.evaluate("""() => {
        const s = document.createElement("script");
        s.textContent = "window.__inline_ran = true";
        document.body.appendChild(s);
        document.querySelector("h1").setAttribute("style", "color: red");
        const img = document.createElement("img");
        img.src = "http://198.51.100.7/pixel.png";
        document.body.appendChild(img);
    }""")
    page.wait_for_function("() => document.querySelector('img[src*=pixel]').complete")
    assert page.evaluate("window.__inline_ran") is None
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).color") != "rgb(255, 0, 0)"
    page.wait_for_timeout(200)
    seen = " ".join(csp_violations)
    for directive in ("script-src", "style-src", "img-src"):
        assert directive in seen, (directive, csp_violations)
    csp_violations.clear()

    # Clickjacking: a page of another site (another origin, served by its own server) cannot frame the
    # dashboard. Chromium fetches the page, then refuses to show it.
    framed = []
    page.on("response", lambda r: r.url.endswith("/dashboard/login") and framed.append(r.status))
    other_site = _serve_html(f'<p>win a prize</p><iframe id="f" src="{base}/dashboard/login"></iframe>')
    try:
        page.goto(other_site.url)
        page.wait_for_timeout(1000)
    finally:
        other_site.stop()
    assert framed == [200]
    assert [f.url for f in page.frames][1].startswith("chrome-error://")
    assert page.frame_locator("#f").locator("input[name=password]").count() == 0
    assert any("frame-ancestors" in v for v in csp_violations), csp_violations
    csp_violations.clear()


def _serve_html(html: str) -> LiveServer:
    def site(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [html.encode()]

    return LiveServer(site)


def test_every_dashboard_page_runs_under_the_policy(owner, add_charger, add_tag, live_server, page):
    base = live_server.url
    add_charger("SEC-CP1", station="Harbour")
    add_tag("SEC-TAG", owner=owner)
    _log_in(page, base)
    for path, heading in (
        ("/dashboard/stations", "Stations"),
        ("/dashboard/chargers", "Charge points"),
        ("/dashboard/chargers/SEC-CP1", "SEC-CP1"),
        ("/dashboard/chargers/SEC-CP1/edit", "SEC-CP1"),
        ("/dashboard/chargers/SEC-CP1/log", "SEC-CP1"),
        ("/dashboard/transactions", "Transactions"),
        ("/dashboard/consumption", "Consumption"),
        ("/dashboard/tags", "Id tags"),
        ("/dashboard/reservations", "Reservations"),
        ("/dashboard/tariffs", "Tariffs"),
        ("/dashboard/tokens", "API tokens"),
        ("/dashboard/account", "Your account"),
        ("/dashboard/outbox", "Mail outbox"),
    ):
        page.goto(base + path)
        page.wait_for_load_state("load")
        if heading:
            page.wait_for_selector(f"h1:has-text('{heading}')")

    # A command form loaded by htmx into the charger page.
    page.goto(f"{base}/dashboard/chargers/SEC-CP1")
    page.click("button:text-is('Reset')")
    page.wait_for_selector("select[name=type]")

    # htmx swaps a tag's row in place (the CSRF header comes from hx-headers, parsed without eval).
    page.goto(f"{base}/dashboard/tags")
    row = page.locator("tr:has-text('SEC-TAG')")
    row.locator("button:has-text('Block')").click()
    page.wait_for_selector("tr:has-text('SEC-TAG') >> text=Unblock")

    # Confirmations are asked by app.js (no inline handlers): dismissed, nothing goes; accepted, the tag goes.
    row.locator("a:has-text('Edit')").click()
    page.wait_for_selector("h1:has-text('Id tag SEC-TAG')")
    questions: list[str] = []

    def dismiss(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("button:has-text('Remove id tag')")
    page.wait_for_timeout(300)
    assert questions == ["Remove SEC-TAG?"]
    assert "Id tag SEC-TAG" in page.inner_text("h1")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Remove id tag')")
    page.wait_for_selector("h1:has-text('Id tags')")
    assert page.locator("tr:has-text('SEC-TAG')").count() == 0

    # Log out (a form with its CSRF field) and the public pages.
    page.click("button:has-text('Log out')")
    page.wait_for_selector("text=You are logged out")
    for path in ("/dashboard/signup", "/dashboard/password/forgot", "/dashboard/verify"):
        page.goto(base + path)
        page.wait_for_load_state("load")


def test_api_docs_page_runs_under_its_policy(owner, live_server, page):
    """Swagger UI starts from a static file and works (read an operation, try it out) without a violation."""
    base = live_server.url
    response = page.goto(f"{base}/api/v1/docs")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "img-src 'self' data:" in policy and "unsafe" not in policy
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() > 20
    page.locator(".opblock-summary:has-text('/auth/login')").first.click()
    page.locator("button.try-out__btn").first.click()
    page.locator("textarea.body-param__text").fill('{"email": "owner@example.com", "password": "wrong-password"}')
    page.locator("button.execute").first.click()
    page.wait_for_selector(".live-responses-table >> text=401")
    assert page.locator("text=validator.swagger.io").count() == 0
