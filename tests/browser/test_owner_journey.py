"""An owner's first day in a real browser: sign up, confirm by the mailed link, log in, add a charger, watch it
come online and change status live, see its transaction and the energy/power plot."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from cms import mail
from cms.maintenance import Maintenance

pytestmark = pytest.mark.browser


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _energy(wh, **kw):
    return {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh", **kw}


def _power(w, **kw):
    return {"value": str(w), "measurand": "Power.Active.Import", "unit": "W", **kw}


def test_owner_journey(rt, live_server, connect, page, screenshot):
    base = live_server.url
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Sign up.
    page.goto(f"{base}/dashboard/signup")
    page.fill("input[name=name]", "Bea Browser")
    page.fill("input[name=email]", "bea@example.com")
    page.fill("input[name=phone]", "+31 20 555 0101")
    page.fill("input[name=password]", "bea-password-1")
    page.fill("input[name=password_confirm]", "bea-password-1")
    screenshot("01-signup")
    page.click("button.primary")
    page.wait_for_selector("text=Check your mail")

    # The verification link, from the outbox (no SMTP configured), as an administrator or the CLI sees it.
    with rt.db.uow() as uow:
        [message] = mail.outbox(uow.session, recipient="bea@example.com")
    link = re.search(r"(http://\S+)", message["body"]).group(1)
    assert link.startswith(base)
    page.goto(link)
    page.wait_for_selector("text=is confirmed")

    # Log in.
    page.fill("input[name=password]", "bea-password-1")
    page.click("button.primary")
    page.wait_for_selector("h1:has-text('Overview')")
    screenshot("02-overview-empty")

    # A station, then a charger in it.
    page.goto(f"{base}/dashboard/stations")
    page.fill("input[name=name]", "Canal Garage")
    page.fill("input[name=address]", "Prinsengracht 1, Amsterdam")
    page.fill("input[name=latitude]", "52.3791")
    page.fill("input[name=longitude]", "4.8846")
    page.fill("input[name=timezone]", "Europe/Amsterdam")
    page.click("button.primary")
    page.wait_for_selector("h1:has-text('Canal Garage')")
    page.goto(f"{base}/dashboard/chargers")
    page.fill("input[name=identity]", "BEA-CP1")
    page.select_option("select[name=station_id]", label="Canal Garage")
    page.click("button.primary")
    page.wait_for_selector("h1:has-text('BEA-CP1')")
    assert page.inner_text("[data-testid=online]").strip() == "offline"

    # The charger connects and reports; the open page follows without a reload.
    page.evaluate("window.__marker = 'same page'")
    charger = connect("BEA-CP1")
    charger.boot(vendor="Alfen", model="Eve", firmware_version="4.2.0")
    charger.status(1, "Available")
    page.wait_for_selector("[data-testid=online] >> text=online")
    page.wait_for_selector("dd:has-text('4.2.0')")  # boot details too
    page.wait_for_selector("[data-testid=connector-1-status] >> text=Available")
    screenshot("03-charger-available")

    tag = "BEA-TAG"
    from cms.accounts import user_by_email
    from cms.idtags import add_id_tag

    with rt.db.uow() as uow:
        add_id_tag(uow.session, tag, owner=user_by_email(uow.session, "bea@example.com"))
        uow.commit()
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=40)
    tx = charger.start(1, tag, meter_start=10_000, timestamp=_iso(start)).transaction_id
    charger.status(1, "Charging")
    page.wait_for_selector("[data-testid=connector-1-status] >> text=Charging")
    for minutes, wh, w in ((10, 11_800, 11_000), (20, 13_700, 11_200), (30, 15_100, 7_000)):
        charger.meter(1, tx, [_energy(wh), _power(w)], timestamp=_iso(start + timedelta(minutes=minutes)))
    page.wait_for_selector("text=5.10 kWh")  # energy so far, live on the connector row
    screenshot("04-charger-charging")
    assert page.evaluate("window.__marker") == "same page"  # all of it without a page load

    # A command from the charger page, answered by the charger.
    page.click("button:has-text('TriggerMessage')")
    page.select_option("select[name=requestedMessage]", "Heartbeat")
    page.click("button:has-text('Send TriggerMessage')")
    page.wait_for_selector("[data-testid=command-result] >> text=Accepted")
    assert ("TriggerMessage", {"requested_message": "Heartbeat"}) in charger.cp.received
    screenshot("05-command")

    charger.stop(tx, 16_000, timestamp=_iso(start + timedelta(minutes=38)), reason="Local")
    charger.status(1, "Available")
    page.wait_for_selector("[data-testid=connector-1-status] >> text=Available")

    # The transaction with its plot.
    page.goto(f"{base}/dashboard/transactions")
    page.click(f"a:text-is('{tx}')")
    page.wait_for_selector("[data-testid=energy] >> text=6.00 kWh")
    page.wait_for_selector("canvas[data-drawn=true]")
    points = page.evaluate("Chart.getChart('tx-chart').data.datasets.map(d => d.data.length)")
    assert points == [5, 3]  # energy: start, three samples, stop; power: three samples
    screenshot("06-transaction-plot")

    # The next upkeep round (every CMS_MAINTENANCE_INTERVAL seconds; off in tests) folds the session into the
    # consumption rollup the page reads.
    Maintenance(rt.db, rt.settings.heartbeat_interval, 60).roll_up_energy()
    page.goto(f"{base}/dashboard/consumption?period=day&group=charger")
    page.wait_for_selector("canvas[data-drawn=true]")
    screenshot("07-consumption")
    page.goto(f"{base}/dashboard/chargers/BEA-CP1/log")
    page.wait_for_selector("td:has-text('StopTransaction')")
    screenshot("08-message-log")
    page.goto(f"{base}/dashboard/")
    screenshot("09-overview")
    assert errors == []
