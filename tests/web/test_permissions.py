"""Owner B cannot read or change anything of owner A's, by guessing ids either: 404, and nothing changes."""

from __future__ import annotations

import re

from sqlalchemy import select

from cms.models import ApiToken, ChargePoint, IdTag, Station


def _ids(rt, owner, history, owner_browser):
    owner_browser.post("/dashboard/tokens", {"name": "a-token"})
    with rt.db.uow() as uow:
        s = uow.session
        return {
            "station": history["station_id"],
            "tag": s.scalar(select(IdTag.id).where(IdTag.tag == "TAG-A")),
            "token": s.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.id)),
            "tx": history["tx"],
        }


def test_other_owner_gets_404_everywhere(rt, owner, history, owner_browser, other_browser):
    ids = _ids(rt, owner, history, owner_browser)
    gets = [
        f"/dashboard/stations/{ids['station']}",
        f"/dashboard/stations/{ids['station']}/tariff",
        "/dashboard/chargers/CP-A1",
        "/dashboard/chargers/CP-A1/status",
        "/dashboard/chargers/CP-A1/edit",
        "/dashboard/chargers/CP-A1/log",
        "/dashboard/chargers/CP-A1/commands/Reset",
        f"/dashboard/transactions/{ids['tx']}",
        f"/dashboard/transactions/{history['live_tx']}",
        f"/dashboard/tags/{ids['tag']}",
    ]
    for url in gets:
        for headers in ({}, {"HX-Request": "true"}):
            r = other_browser.get(url, headers=headers)
            assert r.status_code == 404, (url, r.status_code)
            body = r.get_data(as_text=True)
            # The same answer as for an id that does not exist: nothing of A's (firmware, tags, station) shows.
            assert "1.2.3" not in body and "TAG-A" not in body and "Depot" not in body, url

    posts = [
        (f"/dashboard/stations/{ids['station']}", {"name": "Stolen", "timezone": "UTC"}),
        (f"/dashboard/stations/{ids['station']}/delete", {}),
        (f"/dashboard/stations/{ids['station']}/tariff", {"start": "00:00", "end": "24:00", "price": "9", "label": ""}),
        ("/dashboard/chargers/CP-A1/edit", {"station_id": "", "clear_password": "1"}),
        ("/dashboard/chargers/CP-A1/delete", {}),
        ("/dashboard/chargers/CP-A1/commands/Reset", {"type": "Hard"}),
        ("/dashboard/chargers/CP-A1/commands/SendLocalList", {"from_tags": "1", "updateType": "Full"}),
        (f"/dashboard/tags/{ids['tag']}", {"blocked": "1", "parent": "", "expiry": ""}),
        (f"/dashboard/tags/{ids['tag']}/block", {}),
        (f"/dashboard/tags/{ids['tag']}/delete", {}),
        (f"/dashboard/tokens/{ids['token']}/revoke", {}),
    ]
    for url, data in posts:
        r = other_browser.post(url, data)
        assert r.status_code == 404, (url, r.status_code)

    # Nothing changed, and the charger never heard a command from B.
    assert history["charger"].cp.received == []
    with rt.db.uow() as uow:
        s = uow.session
        assert s.get(Station, ids["station"]).name == "Depot"
        cp = s.scalar(select(ChargePoint).where(ChargePoint.identity == "CP-A1"))
        assert cp.station_id == ids["station"]
        tag = s.get(IdTag, ids["tag"])
        assert tag is not None and not tag.blocked
        assert s.get(ApiToken, ids["token"]).revoked_at is None
    assert "No tariff" in owner_browser.get("/dashboard/tariffs").get_data(as_text=True)


def test_other_owner_lists_and_filters_show_nothing_of_a(rt, owner, history, other_browser):
    sid = history["station_id"]
    for url in (
        "/dashboard/",
        "/dashboard/stations",
        "/dashboard/chargers",
        "/dashboard/chargers/rows",
        "/dashboard/transactions",
        f"/dashboard/transactions?station_id={sid}",
        "/dashboard/transactions?charger=CP-A1",
        "/dashboard/transactions?id_tag=TAG-A",
        "/dashboard/tags",
        "/dashboard/reservations",
        "/dashboard/tariffs",
        "/dashboard/tokens",
        "/dashboard/outbox",
        f"/dashboard/consumption?station_id={sid}&date_from=2024-05-01",
        "/dashboard/consumption?charger=CP-A1&group=charger&date_from=2024-05-01",
    ):
        r = other_browser.get(url)
        assert r.status_code == 200, url
        body = r.get_data(as_text=True)
        # Filter values B typed are echoed back in links; A's things never appear as content.
        assert ">CP-A1<" not in body and ">TAG-A<" not in body and "Depot" not in body, url
        assert "kWh</td>" not in body and "8.50" not in body, url
    csv_text = other_browser.get("/dashboard/transactions.csv").get_data(as_text=True)
    assert csv_text.strip().count("\n") == 0  # the header only


def test_other_owner_cannot_use_a_station_or_parent_tag_of_a(rt, owner, history, other_browser):
    sid = history["station_id"]
    r = other_browser.post("/dashboard/chargers", {"identity": "B-1", "station_id": str(sid)})
    assert r.status_code == 404
    r = other_browser.post("/dashboard/tags", {"tag": "B-TAG", "parent": "TAG-A"})
    assert r.status_code == 422 and "No parent" in r.get_data(as_text=True)
    # B's own charger cannot be moved into A's station either.
    assert other_browser.post("/dashboard/chargers", {"identity": "B-2"}).status_code == 302
    r = other_browser.post("/dashboard/chargers/B-2/edit", {"station_id": str(sid)})
    assert r.status_code == 404
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(ChargePoint.station_id).where(ChargePoint.identity == "B-2")) is None
        assert uow.session.scalar(select(IdTag).where(IdTag.tag == "B-TAG")) is None


def test_ids_of_a_are_not_guessable_from_b_pages(history, other_browser):
    page = other_browser.get("/dashboard/chargers").get_data(as_text=True)
    assert not re.search(r"/dashboard/chargers/CP-A1", page)
