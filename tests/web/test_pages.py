"""Every dashboard page and partial renders what the owner needs, from data made through the real paths."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from ocpp.v16.call import Authorize


def text(r) -> str:
    return r.get_data(as_text=True)


def test_pages_need_a_login(client):
    for url in (
        "/dashboard/",
        "/dashboard/stations",
        "/dashboard/chargers",
        "/dashboard/transactions",
        "/dashboard/consumption",
        "/dashboard/tags",
        "/dashboard/reservations",
        "/dashboard/tokens",
        "/dashboard/tariffs",
        "/dashboard/chargers/CP-A1",
        "/dashboard/transactions.csv",
    ):
        r = client.get(url)
        assert r.status_code == 302 and "/dashboard/login" in r.headers["Location"], url


def test_overview(owner_browser, history):
    page = text(owner_browser.get("/dashboard/"))
    assert "CP-A1" in page and "charging now" in page
    assert re.search(r"<b>1/1</b><span>chargers online", page)
    assert f">{history['live_tx']}</a>" in page  # the running transaction is listed


def test_stations_add_edit_remove(rt, owner_browser):
    r = owner_browser.post(
        "/dashboard/stations",
        {"name": "Harbour", "address": "Quay 1", "latitude": "53.54", "longitude": "9.98", "timezone": "Europe/Berlin"},
    )
    assert r.status_code == 302
    url = r.headers["Location"]
    page = text(owner_browser.get(url))
    assert "Harbour" in page and "Europe/Berlin" in page and "53.54" in page
    r = owner_browser.post(
        url, {"name": "Harbour North", "address": "Quay 2", "latitude": "", "longitude": "", "timezone": "UTC"}
    )
    assert r.status_code == 302
    assert "Harbour North" in text(owner_browser.get("/dashboard/stations"))
    assert owner_browser.post(url + "/delete").status_code == 302
    assert "Harbour" not in text(owner_browser.get("/dashboard/stations"))


@pytest.mark.parametrize(
    "form,message",
    [
        ({"name": "", "timezone": "UTC"}, "needs a name"),
        ({"name": "X", "timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"name": "X", "timezone": "UTC", "latitude": "95", "longitude": "1"}, "Latitude must be between"),
        ({"name": "X", "timezone": "UTC", "latitude": "1"}, "both latitude and longitude"),
    ],
)
def test_station_form_rejects_bad_input(owner_browser, form, message):
    r = owner_browser.post("/dashboard/stations", form)
    assert r.status_code == 422 and message in text(r)


def test_charger_add_edit_remove(rt, owner_browser, owner):
    owner_browser.post("/dashboard/stations", {"name": "Yard", "timezone": "UTC"})
    station_id = re.search(r'<option value="(\d+)"[^>]*>Yard', text(owner_browser.get("/dashboard/chargers"))).group(1)
    r = owner_browser.post(
        "/dashboard/chargers", {"identity": "NEW-1", "station_id": station_id, "password": "a-secret-of-16-chars"}
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard/chargers/NEW-1")
    page = text(owner_browser.get("/dashboard/chargers/NEW-1"))
    assert "set (Basic auth)" in page and "Yard" in page and "offline" in page
    r = owner_browser.post("/dashboard/chargers", {"identity": "NEW-1"})
    assert r.status_code == 422 and "exists already" in text(r)
    r = owner_browser.post("/dashboard/chargers", {"identity": "bad id!"})
    assert r.status_code == 422 and "must be 1-48" in text(r)
    r = owner_browser.post("/dashboard/chargers/NEW-1/edit", {"station_id": "", "password": "short"})
    assert r.status_code == 422 and "16 to 40" in text(r)
    r = owner_browser.post("/dashboard/chargers/NEW-1/edit", {"station_id": "", "clear_password": "1"})
    assert r.status_code == 302
    assert "none" in text(owner_browser.get("/dashboard/chargers/NEW-1"))
    assert owner_browser.post("/dashboard/chargers/NEW-1/delete").status_code == 302
    assert owner_browser.get("/dashboard/chargers/NEW-1").status_code == 404


def test_charger_page_and_live_partial(owner_browser, history):
    page = text(owner_browser.get("/dashboard/chargers/CP-A1"))
    assert "online" in page and "1.2.3" in page and "SN-1" in page and "JSON (WebSocket)" in page
    assert 'hx-trigger="load delay:2s"' in page and 'hx-swap="outerHTML"' in page
    for action in ("Reset", "RemoteStartTransaction", "TriggerMessage", "SetChargingProfile"):
        assert f">{action}</button>" in page
    part = text(owner_browser.get("/dashboard/chargers/CP-A1/status", headers={"HX-Request": "true"}))
    assert part.startswith('<div id="charger-status"') and "<html" not in part
    assert 'data-testid="connector-2-status"><span class="badge s-charging">Charging' in part
    history["charger"].status(2, "SuspendedEV")
    part = text(owner_browser.get("/dashboard/chargers/CP-A1/status", headers={"HX-Request": "true"}))
    assert "SuspendedEV" in part


def test_charger_rows_partial(owner_browser, history):
    part = text(owner_browser.get("/dashboard/chargers/rows", headers={"HX-Request": "true"}))
    assert part.startswith('<div id="charger-rows"') and "CP-A1" in part


def test_transactions_list_filters_and_pages(owner_browser, history):
    page = text(owner_browser.get("/dashboard/transactions"))
    assert f">{history['tx']}</a>" in page and f">{history['live_tx']}</a>" in page
    assert "8.50 kWh" in page  # 9500 - 1000 Wh
    only = text(owner_browser.get("/dashboard/transactions?id_tag=TAG-A2"))
    assert f">{history['live_tx']}</a>" in only and f">{history['tx']}</a>" not in only
    dated = text(owner_browser.get("/dashboard/transactions?date_from=2024-05-01&date_to=2024-05-01"))
    assert f">{history['tx']}</a>" in dated and f">{history['live_tx']}</a>" not in dated
    none = text(owner_browser.get("/dashboard/transactions?date_from=2020-01-01&date_to=2020-01-02"))
    assert "No transactions." in none
    r = owner_browser.get("/dashboard/transactions?date_from=yesterday")
    assert r.status_code == 422 and "date like" in text(r)
    part = text(
        owner_browser.get(f"/dashboard/transactions?station_id={history['station_id']}", headers={"HX-Request": "true"})
    )
    assert part.startswith('<div id="tx-table"')


def test_transactions_pagination(rt, owner_browser, history):
    from cms import queries

    with rt.db.uow() as uow:
        from cms.accounts import user_by_email

        me = user_by_email(uow.session, "owner@example.com")
        first = queries.transactions(uow.session, me, queries.TransactionFilter(), page=1, per_page=1)
        second = queries.transactions(uow.session, me, queries.TransactionFilter(), page=2, per_page=1)
    assert first["has_next"] and not first["has_prev"] and second["has_prev"] and not second["has_next"]
    assert [r["id"] for r in first["rows"] + second["rows"]] == [history["live_tx"], history["tx"]]


def test_transactions_csv(owner_browser, history):
    r = owner_browser.get("/dashboard/transactions.csv?charger=CP-A1")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text(r))))
    assert [int(x["id"]) for x in rows] == [history["live_tx"], history["tx"]]
    done = rows[1]
    assert done["identity"] == "CP-A1" and done["station"] == "Depot" and done["id_tag"] == "TAG-A"
    assert float(done["energy_wh"]) == 8500 and done["stop_reason"] == "EVDisconnected"
    assert done["start"].startswith("2024-05-01T20:00:00")
    assert owner_browser.get("/dashboard/transactions.csv?date_to=nope").status_code == 422


def test_transaction_page_plots_meter_values(owner_browser, history):
    page = text(owner_browser.get(f"/dashboard/transactions/{history['tx']}"))
    assert "8.50 kWh" in page and "EVDisconnected" in page
    data = json.loads(re.search(r'<script type="application/json" id="tx-chart-data">(.*?)</script>', page).group(1))
    t0 = int(history["t0"].timestamp() * 1000)
    assert data["energy"][0] == [t0, 0.0]
    assert [v for _, v in data["energy"]] == [0.0, 1000.0, 5000.0, 8000.0, 8500.0]
    assert [v for _, v in data["power"]] == [7400.0, 7200.0, 3000.0]


def test_consumption_per_day_week_month(owner_browser, history):
    page = text(owner_browser.get("/dashboard/consumption?date_from=2024-04-30&date_to=2024-05-03&period=day"))
    data = json.loads(re.search(r'id="consumption-canvas-data">(.*?)</script>', page).group(1))
    assert data["labels"] == ["2024-04-30", "2024-05-01", "2024-05-02", "2024-05-03"]
    [depot] = data["series"]
    # 1 May: meterStart 1000 -> 6000 Wh at 23:00; 2 May: from there to meterStop 9500 Wh.
    assert depot["name"] == "Depot" and depot["kwh"] == [0.0, 5.0, 3.5, 0.0]
    page = text(
        owner_browser.get("/dashboard/consumption?date_from=2024-04-29&date_to=2024-05-12&period=week&group=charger")
    )
    data = json.loads(re.search(r'id="consumption-canvas-data">(.*?)</script>', page).group(1))
    assert data["labels"] == ["2024-04-29", "2024-05-06"] and data["series"][0]["kwh"] == [8.5, 0.0]
    assert data["series"][0]["name"] == "CP-A1"
    page = text(owner_browser.get("/dashboard/consumption?date_from=2024-05-01&date_to=2024-06-30&period=month"))
    data = json.loads(re.search(r'id="consumption-canvas-data">(.*?)</script>', page).group(1))
    assert data["labels"] == ["2024-05-01", "2024-06-01"] and data["series"][0]["kwh"] == [8.5, 0.0]
    r = owner_browser.get("/dashboard/consumption?period=year")
    assert r.status_code == 422


def test_message_log(owner_browser, history):
    page = text(owner_browser.get("/dashboard/chargers/CP-A1/log"))
    assert "BootNotification" in page and "StartTransaction" in page and "&#34;firmwareVersion&#34;" in page
    newest = int(re.search(r"<tr class=\"dir-\w+\"><td>(\d+)</td>", page).group(1))
    older = text(owner_browser.get(f"/dashboard/chargers/CP-A1/log?before={newest}", headers={"HX-Request": "true"}))
    assert f"<td>{newest}</td>" not in older and "<html" not in older


def test_id_tags_add_block_expire_group(rt, owner_browser, history):
    r = owner_browser.post(
        "/dashboard/tags", {"tag": "CARD-9", "parent": "TAG-A", "expiry": "2030-01-01T00:00", "note": "fleet"}
    )
    assert r.status_code == 302
    page = text(owner_browser.get("/dashboard/tags"))
    assert "CARD-9" in page and "2030-01-01 00:00:00 UTC" in page
    tag_id = int(re.search(r'<tr id="tag-(\d+)"><td>CARD-9', page).group(1))
    row = text(owner_browser.post(f"/dashboard/tags/{tag_id}/block", headers={"HX-Request": "true"}))
    assert row.startswith(f'<tr id="tag-{tag_id}"') and "Blocked" in row and "Unblock" in row
    r = owner_browser.post(f"/dashboard/tags/{tag_id}", {"parent": "", "expiry": "2020-01-01T00:00", "note": ""})
    assert r.status_code == 302
    tags_page = text(owner_browser.get("/dashboard/tags"))
    assert 'data-testid="tag-status"><span class="badge s-expired">Expired' in tags_page
    # The charger hears it too: the expired tag is refused.
    assert history["charger"].call(Authorize(id_tag="CARD-9")).id_tag_info["status"] == "Expired"
    r = owner_browser.post("/dashboard/tags", {"tag": "TAG-A"})
    assert r.status_code == 422 and "exists already" in text(r)
    r = owner_browser.post("/dashboard/tags", {"tag": "X1", "parent": "NO-SUCH"})
    assert r.status_code == 422 and "No parent" in text(r)
    # A tag cannot become the member of its own member.
    tags_page = text(owner_browser.get("/dashboard/tags"))
    parent_id = int(re.search(r'<tr id="tag-(\d+)"><td>TAG-A</td>', tags_page).group(1))
    r = owner_browser.post(f"/dashboard/tags/{parent_id}", {"parent": "TAG-A2"})
    assert r.status_code == 422
    assert owner_browser.post(f"/dashboard/tags/{tag_id}/delete").status_code == 302
    assert "CARD-9" not in text(owner_browser.get("/dashboard/tags"))


def test_api_tokens_create_use_revoke(owner_browser, client):
    page = text(owner_browser.post("/dashboard/tokens", {"name": "script"}))
    token = re.search(r'data-testid="new-token">([^<]+)</pre>', page).group(1)
    assert "script" in page
    auth = {"Authorization": f"Bearer {token}"}
    assert (
        client.post("/api/v1/charge-points/NOPE/commands/Reset", json={"type": "Soft"}, headers=auth).status_code == 404
    )  # accepted token, unknown charger
    token_id = re.search(r"/dashboard/tokens/(\d+)/revoke", page).group(1)
    assert owner_browser.post(f"/dashboard/tokens/{token_id}/revoke").status_code == 302
    assert (
        client.post("/api/v1/charge-points/NOPE/commands/Reset", json={"type": "Soft"}, headers=auth).status_code == 401
    )
    assert token not in text(owner_browser.get("/dashboard/tokens"))  # shown once only


def test_reservations_list(owner_browser, history):
    r = owner_browser.post(
        "/dashboard/chargers/CP-A1/commands/ReserveNow",
        {"connectorId": "1", "expiryDate": "2030-01-01T10:00", "idTag": "TAG-A", "reservationId": "77"},
    )
    assert r.status_code == 200, text(r)
    page = text(owner_browser.get("/dashboard/reservations"))
    assert "<td>77</td>" in page and "Accepted" in page and "TAG-A" in page


def test_tariffs(owner_browser, history):
    sid = history["station_id"]
    assert "No tariff" in text(owner_browser.get("/dashboard/tariffs"))
    r = owner_browser.post(
        f"/dashboard/stations/{sid}/tariff",
        {
            "start": ["00:00", "07:00", ""],
            "end": ["07:00", "24:00", ""],
            "price": ["0.20", "0.35", ""],
            "label": ["night", "day", ""],
        },
    )
    assert r.status_code == 302, text(r)
    page = text(owner_browser.get("/dashboard/tariffs"))
    assert "0.2 EUR" in page and "0.35 EUR" in page and "night" in page
    r = owner_browser.post(
        f"/dashboard/stations/{sid}/tariff", {"start": ["00:00"], "end": ["07:00"], "price": ["0.2"], "label": [""]}
    )
    assert r.status_code == 422 and "uncovered" in text(r)
    assert "0.35 EUR" in text(owner_browser.get("/dashboard/tariffs"))  # the bad form changed nothing


def test_account_and_outbox_pages(owner_browser):
    assert "Olive Owner" in text(owner_browser.get("/dashboard/account"))
    assert owner_browser.get("/dashboard/outbox").status_code == 200


def test_unknown_pages_are_404_pages(owner_browser):
    r = owner_browser.get("/dashboard/chargers/NOPE")
    assert r.status_code == 404 and "<html" in text(r)
    r = owner_browser.get("/dashboard/chargers/NOPE/status", headers={"HX-Request": "true"})
    assert r.status_code == 404 and "<html" not in text(r)


def test_transaction_closed_without_a_usable_meter_stop(owner_browser, history):
    """A meterStop no meter gives (issue 17) closes the session on its last reading; the page says so."""
    history["charger"].stop(history["live_tx"], 1 << 40, reason="Local")
    page = text(owner_browser.get(f"/dashboard/transactions/{history['live_tx']}"))
    assert "no meter reading" in page and "1.00 kWh" in page and "None" not in page
