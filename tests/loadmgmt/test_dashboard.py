"""The station page's load management card: the owner sets and switches off the limit (HTMX form with CSRF), the
live part shows each session's allocation and draw, the plot's data is the site current against the limit."""

from __future__ import annotations

import json
import re

import pytest

from tests.loadmgmt.test_control import currents, online, settle
from tests.web.conftest import Browser


@pytest.fixture
def owner_browser(app, owner):
    b = Browser(app.test_client())
    assert b.login("owner@example.com", "owner-password").status_code == 302
    return b


@pytest.fixture
def other_browser(app, rt):
    from cms.accounts import create_user

    with rt.db.uow() as uow:
        create_user(uow.session, "other@example.com", "other-password", verified=True)
        uow.commit()
    b = Browser(app.test_client())
    assert b.login("other@example.com", "other-password").status_code == 302
    return b


def text(r) -> str:
    return r.get_data(as_text=True)


def test_owner_sets_the_limit_and_sees_the_sessions(
    owner_browser, station, connect, add_charger, add_tag, manager, as_owner
):
    page = text(owner_browser.get(f"/dashboard/stations/{station}"))
    assert "Load management is off" in page and 'id="load-card"' in page
    assert "<script>" not in page  # the page's Content-Security-Policy: scripts from files only
    url = f"/dashboard/stations/{station}/load-limit"
    # Without the CSRF token the form is refused.
    assert owner_browser.client.post(url, data={"max_current_a": "32"}).status_code == 400
    r = owner_browser.post(url, {"max_current_a": "abc"}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and "must be a number" in text(r)
    r = owner_browser.post(url, {"max_current_a": "32", "phases": "2"}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and "phases must be 1 or 3" in text(r)
    r = owner_browser.post(
        url,
        {"max_current_a": "32", "phases": "3", "min_current_a": "6", "voltage_v": "230"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and 'data-testid="load-limit">32.0 A × 3 (22.1 kW)' in text(r)
    assert as_owner.get(f"/stations/{station}/load").get_json()["maxCurrentA"] == 32.0
    assert manager.wait_idle()

    add_charger("CP1", station="Depot")
    add_tag("T1")
    cp1 = online(connect, "CP1")
    tx = cp1.start(1, "T1").transaction_id
    cp1.meter(1, tx, currents(12.5, 12.4, 12.3))
    settle(manager)
    live = text(owner_browser.get(f"/dashboard/stations/{station}/load"))
    assert 'hx-trigger="load delay:3s"' in live and 'hx-swap="outerHTML"' in live
    row = re.search(rf'data-testid="allocation-{tx}">(.*?)</tr>', live, re.S).group(1)
    assert "CP1" in row and "32.0 A" in row and "12.5 A" in row
    assert 'data-testid="load-measured">12.5 A of 32.0 A' in live

    plot = text(owner_browser.get(f"/dashboard/stations/{station}/load/plot"))
    data = json.loads(re.search(r'id="site-current-canvas-data">(.*?)</script>', plot, re.S).group(1))
    assert data["limitA"] == 32.0 and data["siteA"][-1] == 12.5 and len(data["t"]) == len(data["siteA"])

    r = owner_browser.post(url, {"off": "1"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "Load management is off" in text(r)
    assert as_owner.get(f"/stations/{station}/load").get_json()["enabled"] is False


def test_another_owners_station_load_is_404(other_browser, station):
    for r in (
        other_browser.get(f"/dashboard/stations/{station}/load"),
        other_browser.get(f"/dashboard/stations/{station}/load/plot"),
        other_browser.post(f"/dashboard/stations/{station}/load-limit", {"max_current_a": "10"}),
    ):
        assert r.status_code == 404
