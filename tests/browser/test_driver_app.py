"""A driver's day with the web app (/app/) on a phone-sized Chromium, against a live server, a simulated charger
that accepts remote start and stop, and a tile server of our own: register, confirm by the mailed link, log in,
top up, find the station, charge while the figures rise by themselves, stop, see the cost in history. Then every
refusal the API can give, shown where it happened; the app offline; axe-core on every screen; and no request
outside /api/v1, /app/ and the tile server."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cms import mail
from simulator.simulated_ev import SimulatedEV
from tests.browser.conftest import _REPORT_VIOLATIONS, ARTIFACTS, ROOT, is_policy_violation
from tests.support.simulator import SimulatorThread

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TILE = (ROOT / "cms" / "web" / "static" / "app" / "icons" / "icon-192.png").read_bytes()
PASSWORD = "driver-password-1"


class TileServer:
    """Answers every GET with a PNG and remembers the paths: the configured tile server, on loopback."""

    def __init__(self):
        paths = self.paths = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server hook
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(TILE)))
                self.end_headers()
                self.wfile.write(TILE)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()


@pytest.fixture(scope="module")
def tiles():
    server = TileServer()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, tiles):
    return {
        **app_config,
        "map_tiles_url": tiles.url + "/{z}/{x}/{y}.png",
        "map_tiles_attribution": "Test tiles",
        # The charger's answers go through a thread of the test process, which a loaded CI machine may starve
        # for a few seconds; a refusal must still arrive as the charger's, not as a timeout.
        "call_timeout": 10.0,
    }


@pytest.fixture
def phone(chromium, live_server, tiles):
    """A phone-sized page that records every request, page error and console error; ``phone.check(name)`` runs
    axe-core on the screen and keeps a screenshot; ``phone.finish()`` asserts on what was recorded."""
    if not AXE.exists():
        pytest.skip("node_modules/axe-core is missing: run make static-vendor")
    # The app runs under its real Content-Security-Policy; axe-core reaches the page as a script of the CMS's
    # own origin (the browser is handed the npm file for that one URL), which the policy allows.
    context = chromium.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=1, is_mobile=True, has_touch=True, locale="en-GB"
    )
    context.add_init_script(_REPORT_VIOLATIONS)
    axe_url = f"{live_server.url}/app/__axe-core-for-tests__.js"
    context.route(axe_url, lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
    page = context.new_page()
    page.set_default_timeout(15_000)
    requests: list[str] = []
    problems: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: (m.type == "error" or is_policy_violation(m.text)) and problems.append(f"console: {m.text}"),
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def check(name: str) -> None:
        page.wait_for_selector("main h1")
        if not page.evaluate("typeof axe !== 'undefined'"):
            page.add_script_tag(url=axe_url)
        found = page.evaluate("""() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))""")
        page.screenshot(path=str(ARTIFACTS / f"app-{name}.png"), full_page=True)
        assert found == [], f"{name}: {found}"

    def finish(expect_refusals: bool = False) -> None:
        allowed = (f"{live_server.url}/app/", f"{live_server.url}/api/v1/", f"{tiles.url}/")
        outside = [
            u
            for u in requests
            if not u.startswith(allowed) and u != f"{live_server.url}/" and not u.startswith("data:")
        ]
        assert outside == [], outside
        # A refused request is an HTTP 4xx, which Chromium also logs to the console; the app itself logs nothing,
        # and the Content-Security-Policy refuses nothing.
        logged = [p for p in problems if not (expect_refusals and "Failed to load resource" in p)]
        assert logged == [], logged
        assert not any(is_policy_violation(p) for p in problems)

    page.check, page.finish, page.requests = check, finish, requests
    yield page
    context.close()


@pytest.fixture
def site(rt, owner, live_server):
    """An owner's station with a day/evening tariff, and the simulated charger SIM-1 (2 connectors) in it."""
    from cms.chargepoints import add_charge_point
    from cms.stations import create_station
    from cms.tariff import set_tariff_bands

    with rt.db.uow() as uow:
        station = create_station(
            uow.session,
            owner,
            name="Canal Garage",
            address="Prinsengracht 1, Amsterdam",
            latitude=52.3791,
            longitude=4.8846,
            timezone="Europe/Amsterdam",
        )
        set_tariff_bands(
            uow.session,
            owner,
            station.id,
            [
                {"start": "00:00", "end": "12:00", "pricePerKwh": 9.5, "label": "Morning"},
                {"start": "12:00", "end": "00:00", "pricePerKwh": 9.9, "label": "Afternoon"},
            ],
        )
        add_charge_point(uow.session, "SIM-1", owner, station_id=station.id)
        uow.commit()
        station_id = station.id
    # A car that takes 16 A on three phases (11.0 kW) and is far from full, so the figures are known.
    sim = SimulatorThread(
        live_server.ws_url,
        ["SIM-1"],
        session_seconds=600,
        meter_interval=1.0,
        id_tag="NOBODY",
        ev_factory=lambda: SimulatedEV("Test car", max_current_a=16.0, phases=3, capacity_wh=60_000, soc=30.0),
    )
    _wait_until(rt, lambda s: _connector_status(s, "SIM-1", 2) == "Available")
    yield station_id
    sim.stop()


def _connector_status(session, identity: str, connector: int):
    from sqlalchemy import select

    from cms.models import ChargePoint, Connector

    return session.scalar(
        select(Connector.status)
        .join(ChargePoint, ChargePoint.id == Connector.charge_point_id)
        .where(ChargePoint.identity == identity, Connector.connector_id == connector)
    )


def _wait_until(rt, predicate, timeout: float = 20.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with rt.db.uow() as uow:
            if predicate(uow.session):
                return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _mailed_link(rt, email: str, subject_word: str) -> str:
    with rt.db.uow() as uow:
        mails = [m for m in mail.outbox(uow.session, recipient=email) if subject_word in m["subject"]]
    return re.search(r"(http://\S+)", mails[0]["body"]).group(1)


def _text(page, selector: str) -> str:
    return page.inner_text(selector).strip()


def _shown_error(page, scope: str) -> tuple[str, str]:
    """The refusal the app shows in ``scope``: its code and its text, so that a failing check says what was shown.
    It may wait for a charger's answer, which comes within the call timeout (``app_config``) on a busy machine."""
    box = page.wait_for_selector(f"{scope} [data-error]", timeout=30_000)
    return box.get_attribute("data-error"), box.inner_text().strip()


def _log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/app/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("h1:has-text('Find a charger')")


def test_driver_journey(rt, live_server, site, tiles, phone):
    page, base = phone, live_server.url

    # The landing page leads drivers to the app.
    page.goto(f"{base}/")
    page.check("00-landing")
    page.click("[data-testid=to-app]")
    page.wait_for_selector("h1:has-text('Find a charger')")

    # Register; confirm by the link in the mail (it opens an app screen); log in.
    page.click("nav.tabs >> text=Profile")
    page.wait_for_selector("[data-error=login_required]")
    page.goto(f"{base}/app/register")
    page.check("01-register")
    page.fill("#r-name", "Dana Driver")
    page.fill("#r-email", "dana@example.com")
    page.fill("#r-password", PASSWORD)
    page.click("#register button[type=submit]")
    page.wait_for_selector("h1:has-text('Check your mail')")
    page.check("02-check-mail")
    link = _mailed_link(rt, "dana@example.com", "Confirm")
    assert link.startswith(f"{base}/app/verify?token=")
    page.goto(link)
    page.wait_for_selector("text=Your email address is confirmed")
    assert page.input_value("#email") == "dana@example.com"
    page.check("03-login")
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("h1:has-text('Find a charger')")

    # Top up through the (sandbox) payment provider.
    page.click("nav.tabs >> text=Wallet")
    page.wait_for_selector("[data-testid=balance]:has-text('€0.00')")
    page.click("[data-amount='20']")
    page.click("#topup button[type=submit]")
    page.wait_for_selector("text=Topped up €20.00.")
    assert _text(page, "[data-testid=balance]") == "€20.00"
    page.check("04-wallet")

    # Find the station from a typed place (no location permission here): on the list and on the map.
    page.click("nav.tabs >> text=Find")
    page.fill("#place", "Amsterdam")
    page.click("#place-form button[type=submit]")
    card = page.wait_for_selector(f"[data-testid=station-{site}]")
    assert "Canal Garage" in card.inner_text() and "0.0 km" in card.inner_text()
    assert "2 of 2 available" in card.inner_text() and "/kWh now" in card.inner_text()
    page.wait_for_selector("#map .leaflet-tile-loaded")
    assert tiles.paths, "the map asked the configured tile server for tiles"
    page.check("05-find")

    # The station: connectors and the time-of-day tariff; reserve a connector and cancel.
    page.click(f"[data-testid=station-{site}] h2 a")
    page.wait_for_selector("h1:has-text('Canal Garage')")
    connector = "[data-testid=connector-SIM-1-2]"
    assert _text(page, f"{connector} [data-testid=availability]") == "Available"
    assert "Morning" in _text(page, "table.tariff") and "€9.90" in _text(page, "table.tariff")
    page.check("06-station")
    page.select_option(f"{connector} select[name=minutes]", "15")
    page.click(f"{connector} form.reserve button[type=submit]")
    page.wait_for_selector("text=is held for you until")
    page.wait_for_selector(f"{connector} [data-testid=availability]:has-text('Reserved')")
    page.check("07-reserved")
    page.click("button:has-text('Cancel reservation')")
    page.wait_for_selector("text=Your reservation is cancelled.")
    _wait_until(rt, lambda s: _connector_status(s, "SIM-1", 2) == "Available")

    # Start from the station's link (what its QR code holds), watch the figures rise without a reload, stop.
    page.click(f"{connector} >> text=Charge here")
    page.wait_for_url(f"{base}/app/c/SIM-1/2")
    page.wait_for_selector("#charge-info >> text=Available")
    page.check("08-start")
    page.evaluate("window.__samePage = true")
    page.click("#start-form button[type=submit]")
    page.wait_for_selector("h1:text-is('Charging')", timeout=30_000)
    assert re.fullmatch(rf"{re.escape(base)}/app/sessions/\d+", page.url)
    first = _text(page, "[data-testid=energy]")
    page.wait_for_function(
        "(first) => document.querySelector('[data-testid=energy]').textContent !== first "
        "&& document.querySelector('[data-testid=power]').textContent === '11.0 kW'",
        arg=first,
    )
    page.wait_for_function("() => document.querySelector('[data-testid=cost]').textContent !== '€0.00'")
    assert page.evaluate("window.__samePage") is True
    page.check("09-charging")
    page.click("#stop")
    page.wait_for_selector("text=Charging has stopped.", timeout=20_000)
    assert page.evaluate("window.__samePage") is True
    cost = _text(page, "[data-testid=cost]")
    assert cost != "€0.00"
    page.wait_for_selector("[data-testid=breakdown] >> text=/Morning|Afternoon/")
    page.check("10-stopped")

    # History: the session with kWh, duration and its cost; the wallet was debited by as much.
    page.click("nav.tabs >> text=History")
    session_card = page.wait_for_selector("li.session")
    assert cost in session_card.inner_text() and "kWh" in session_card.inner_text()
    page.check("11-history")
    page.click("nav.tabs >> text=Wallet")
    page.wait_for_selector("[data-testid=ledger] >> text=-" + cost)
    amount = float(cost.lstrip("€"))
    assert _text(page, "[data-testid=balance]") == f"€{20 - amount:.2f}"

    # Profile and vehicles, help, log out.
    page.click("nav.tabs >> text=Profile")
    page.wait_for_selector("h1:has-text('Profile')")
    page.fill("#v-name", "Family car")
    page.fill("#v-make", "Renault")
    page.select_option("#v-type", "Type2")
    page.click("#vehicle button[type=submit]")
    page.wait_for_selector("[data-testid=vehicles] >> text=Family car")
    page.check("12-profile")
    page.click("text=Help and questions")
    page.wait_for_selector("h1:has-text('Help')")
    page.check("13-help")
    page.click("nav.tabs >> text=Profile")
    page.click("#logout")
    page.wait_for_selector("text=You are logged out.")
    page.click("nav.tabs >> text=Wallet")
    page.wait_for_selector("[data-error=login_required]")
    page.finish()


@pytest.fixture
def verified_driver(client, rt):
    """A driver signed up and verified through the API (the same calls the app makes)."""
    from tests.api.conftest import verification_token

    email = "rae@example.com"
    assert client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
    assert client.post("/api/v1/auth/verify", json={"token": verification_token(rt, email)}).status_code == 200
    return email


def test_every_refusal_is_shown_where_it_happened(
    rt, client, live_server, site, connect, add_charger, phone, verified_driver
):
    page, base = phone, live_server.url
    # A charger that went offline, and one whose connector is busy and that refuses to start or reserve.
    add_charger("OFF-1", station="Canal Garage")
    add_charger("BUSY-1", station="Canal Garage")
    gone = connect("OFF-1")
    gone.boot()
    gone.status(1, "Available")
    gone.close()
    busy = connect("BUSY-1")
    busy.boot()
    busy.status(1, "Charging")
    busy.cp.answers["RemoteStartTransaction"] = {"status": "Rejected"}
    busy.cp.answers["ReserveNow"] = {"status": "Occupied"}
    _wait_until(rt, lambda s: _connector_status(s, "BUSY-1", 1) == "Charging")

    # Wrong password, then in.
    page.goto(f"{base}/app/login")
    page.fill("#email", verified_driver)
    page.fill("#password", "not-the-password")
    page.click("#login button[type=submit]")
    page.wait_for_selector("[data-error=unauthorized] >> text=Wrong email or password")
    page.check("20-login-refused")
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_selector("h1:has-text('Find a charger')")

    # Balance too low: said on the start screen, with the way to top up.
    page.goto(f"{base}/app/c/SIM-1/2")
    page.click("#start-form button[type=submit]")
    page.wait_for_selector("#start-msg [data-error=insufficient_balance] >> text=Top up your wallet")
    page.check("21-balance-too-low")
    page.click("#start-msg >> text=Top up your wallet")
    page.fill("#amount", "30")
    page.click("#topup button[type=submit]")
    page.wait_for_selector("text=Topped up €30.00.")

    # The charger is offline (its number typed on the Charge screen; search shows it out of order).
    page.goto(f"{base}/app/search?q=OFF-1")
    page.wait_for_selector(f"[data-testid=station-{site}] >> text=Canal Garage")
    page.check("26-search")
    page.click("nav.tabs >> text=Charge")
    page.fill("#cp", "OFF-1")
    page.fill("#connector", "1")
    page.click("#start-form button[type=submit]")
    code, text = _shown_error(page, "#start-msg")
    assert code == "charger_not_connected" and "This charger is offline." in text, (code, text)
    page.check("22-charger-offline")

    # The connector is busy: shown on the station page, and the charger refuses to start there.
    page.goto(f"{base}/app/stations/{site}")
    assert _text(page, "[data-testid=connector-BUSY-1-1] [data-testid=availability]") == "In use"
    page.goto(f"{base}/app/c/BUSY-1/1")
    page.click("#start-form button[type=submit]")
    code, text = _shown_error(page, "#start-msg")
    assert code == "charger_refused" and "Rejected" in text, (code, text)
    page.check("23-connector-busy")

    # The reservation is refused: the message sits under the connector it was for.
    page.goto(f"{base}/app/stations/{site}")
    page.click("[data-testid=connector-BUSY-1-1] form.reserve button[type=submit]")
    code, text = _shown_error(page, "[data-testid=connector-BUSY-1-1]")
    assert code == "charger_refused" and "Occupied" in text, (code, text)
    page.check("24-reservation-refused")

    # A place the CMS does not know, and a screen that does not exist.
    page.goto(f"{base}/app/?q=Atlantis")
    page.wait_for_selector("#find-msg >> text=We know no place called")
    page.goto(f"{base}/app/nowhere")
    page.wait_for_selector("h1:has-text('Page not found')")

    # An access token that no longer works is renewed with the refresh token, unnoticed.
    page.goto(f"{base}/app/wallet")
    page.wait_for_selector("[data-testid=balance]:has-text('€30.00')")
    stale = page.evaluate("localStorage.getItem('cms.driver.access')")
    assert (
        client.post(
            "/api/v1/auth/revoke", json={"token": stale}, headers={"Authorization": f"Bearer {stale}"}
        ).status_code
        == 200
    )
    page.click("nav.tabs >> text=Profile")
    page.wait_for_selector("h1:has-text('Profile')")
    page.wait_for_selector(f"text={verified_driver}")
    assert page.evaluate("localStorage.getItem('cms.driver.access')") != stale

    # The session expired (both tokens revoked, as after a password reset elsewhere): said on the screen, with
    # the way back in that returns to it.
    page.goto(f"{base}/app/wallet")
    page.wait_for_selector("[data-testid=balance]")
    access, refresh = page.evaluate(
        "[localStorage.getItem('cms.driver.access'), localStorage.getItem('cms.driver.refresh')]"
    )
    for token in (refresh, access):
        assert (
            client.post(
                "/api/v1/auth/revoke", json={"token": token}, headers={"Authorization": f"Bearer {access}"}
            ).status_code
            == 200
        )
    page.click("nav.tabs >> text=History")
    page.wait_for_selector("h1:has-text('History')")
    page.wait_for_selector("[data-error=session_expired] >> text=Your session has expired.")
    page.check("25-session-expired")
    page.click("[data-error=session_expired] >> text=Log in")
    page.fill("#email", verified_driver)
    page.fill("#password", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_url(f"{base}/app/history")
    page.wait_for_selector("text=No sessions yet.")
    page.finish(expect_refusals=True)


def test_forgotten_password_through_the_app(rt, live_server, phone, verified_driver):
    page, base = phone, live_server.url
    page.goto(f"{base}/app/login")
    page.click("text=Forgot your password?")
    page.fill("#f-email", verified_driver)
    page.click("#forgot button[type=submit]")
    page.wait_for_selector("text=a link to choose a new password is on its way")
    page.check("30-forgot")
    link = _mailed_link(rt, verified_driver, "Reset")
    assert link.startswith(f"{base}/app/reset?token=")
    page.goto(link)
    page.fill("#n-password", "a-brand-new-one")
    page.fill("#n-again", "a-different-one")
    page.click("#reset button[type=submit]")
    page.wait_for_selector("[data-error=invalid_input] >> text=The two passwords differ.")
    page.check("31-reset")
    page.fill("#n-again", "a-brand-new-one")
    page.click("#reset button[type=submit]")
    page.wait_for_selector("text=Your password is changed.")
    page.fill("#email", verified_driver)
    page.fill("#password", "a-brand-new-one")
    page.click("#login button[type=submit]")
    page.wait_for_selector("h1:has-text('Find a charger')")
    page.finish()


def test_offline_the_shell_still_opens_and_says_so(live_server, phone, site):
    page, base = phone, live_server.url
    page.goto(f"{base}/app/")
    page.wait_for_function("() => navigator.serviceWorker.ready.then(r => Boolean(r.active))")
    page.wait_for_function("() => caches.keys().then(k => k.some(n => n.startsWith('driver-app-')))")
    page.context.set_offline(True)
    try:
        page.goto(f"{base}/app/stations/{site}")
        page.wait_for_selector("#offline >> text=You are offline")
        page.wait_for_selector("[data-error=offline]")
        page.check("40-offline")
    finally:
        page.context.set_offline(False)
    page.reload()
    page.wait_for_selector("h1:has-text('Canal Garage')")
    assert page.is_hidden("#offline")
    page.finish(expect_refusals=True)
