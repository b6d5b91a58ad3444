"""Operator API, transactions: filters, keyset pagination over many sessions (no duplicate, no gap, also while
sessions arrive), one transaction, and its meter values as a real OCPP-J charger reported them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.operator import iso

BASE = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)


def _all_pages(api, limit: int, **filters) -> tuple[list[dict], int]:
    items, cursor, pages = [], None, 0
    while True:
        args = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = api.get("/transactions", query_string=args)
        assert r.status_code == 200, r.get_json()
        page = r.get_json()
        assert len(page["items"]) <= limit
        items += page["items"]
        pages += 1
        assert pages <= 200, "the cursor does not advance"
        cursor = page["nextCursor"]
        if cursor is None:
            return items, pages


@pytest.fixture
def fleet(owner, other_owner, add_charger, add_tag, as_owner, sessions):
    """Owner: CP-A at Depot, CP-B at Yard; the other owner: CP-X. 100 sessions, in groups of three starting at
    the same second (ties across page edges), the last two of CP-B still open. Returns {(start, id): charger}."""
    add_charger("CP-A", station="Depot")
    add_charger("CP-B", station="Yard")
    add_charger("CP-X", station="Elsewhere", user=other_owner[0])
    add_tag("TAG-A", owner=owner)
    add_tag("TAG-X", owner=other_owner[0])
    starts = [BASE + timedelta(minutes=5 * (n // 3)) for n in range(100)]
    made = {}
    for identity, tag, chunk, open_ in (
        ("CP-A", "TAG-A", starts[:45], set()),
        ("CP-B", "TAG-A", starts[45:90], {43, 44}),
        ("CP-X", "TAG-X", starts[90:], set()),
    ):
        for start, tx in zip(chunk, sessions(identity, tag, chunk, open_), strict=True):
            made[(start, tx)] = identity
    return made


def _newest_first(made: dict, keep=lambda identity: True) -> list[int]:
    return [tx for (start, tx), identity in sorted(made.items(), reverse=True) if keep(identity)]


def test_cursor_pages_neither_repeat_nor_skip(fleet, as_owner, as_admin):
    mine = _newest_first(fleet, lambda i: i != "CP-X")
    for limit in (1, 7, 30, 90, 500):
        items, pages = _all_pages(as_owner, limit)
        assert [t["id"] for t in items] == mine, limit
        assert pages == -(-len(mine) // limit)  # a full last page says so: no empty page after it
    everything, _ = _all_pages(as_admin, 13)
    assert [t["id"] for t in everything] == _newest_first(fleet)


def test_pages_stay_consistent_while_sessions_arrive(fleet, as_owner, sessions):
    first = as_owner.get("/transactions", query_string={"limit": 10}).get_json()
    # New sessions arrive between the pages: a newer one, and one with an older start (a charger that was
    # offline and delivers late). Neither shows up twice, none of the old ones goes missing.
    sessions("CP-A", "TAG-A", [datetime.now(UTC) - timedelta(minutes=1), BASE + timedelta(minutes=200)])
    rest, _ = _all_pages(as_owner, 10, cursor=first["nextCursor"])
    ids = [t["id"] for t in first["items"] + rest]
    assert len(ids) == len(set(ids))
    assert set(_newest_first(fleet, lambda i: i != "CP-X")) <= set(ids)


def test_filters(fleet, as_owner, rt):
    from cms.models import Station

    with rt.db.uow() as uow:
        yard = uow.session.query(Station.id).filter(Station.name == "Yard").scalar()
    by_cp, _ = _all_pages(as_owner, 20, chargePointId="CP-B")
    assert [t["id"] for t in by_cp] == _newest_first(fleet, lambda i: i == "CP-B")
    by_station, _ = _all_pages(as_owner, 20, stationId=yard)
    assert by_station == by_cp
    open_, _ = _all_pages(as_owner, 20, status="open")
    assert [t["chargePointId"] for t in open_] == ["CP-B", "CP-B"]
    assert all(t["stopTimestamp"] is None and t["meterStop"] is None and t["cost"] is None for t in open_)
    closed, _ = _all_pages(as_owner, 20, status="closed")
    assert len(closed) == 88 and all(t["stopTimestamp"] for t in closed)
    # from inclusive, to exclusive, on the start time: groups of three per 5 minutes.
    window, _ = _all_pages(
        as_owner, 4, **{"from": iso(BASE + timedelta(minutes=10)), "to": iso(BASE + timedelta(minutes=25))}
    )
    assert len(window) == 9
    assert {t["startTimestamp"] for t in window} == {iso(BASE + timedelta(minutes=m)) for m in (10, 15, 20)}
    # Combined, and with an offset instead of Z.
    later, _ = _all_pages(
        as_owner,
        50,
        chargePointId="CP-B",
        status="closed",
        **{"from": (BASE + timedelta(minutes=100)).astimezone().isoformat()},
    )
    assert later and all(t["chargePointId"] == "CP-B" and t["stopTimestamp"] for t in later)
    assert all(t["startTimestamp"] >= iso(BASE + timedelta(minutes=100)) for t in later)
    # Something the caller cannot see matches nothing.
    assert as_owner.get("/transactions", query_string={"chargePointId": "CP-X"}).get_json() == {
        "items": [],
        "nextCursor": None,
    }


def test_one_transaction_has_every_field(owner, add_charger, add_tag, station, set_tariff, as_owner, sessions):
    sid = station("Depot")
    set_tariff(sid, [{"start": "00:00", "end": "24:00", "pricePerKwh": 0.3, "label": "flat"}])
    add_charger("CP-A", station="Depot")
    add_tag("TAG-A", owner=owner)
    closed, running = sessions("CP-A", "TAG-A", [BASE, BASE + timedelta(hours=2)], open_={1})
    r = as_owner.get(f"/transactions/{closed}")
    assert r.status_code == 200
    assert r.get_json() == {
        "id": closed,
        "chargePointId": "CP-A",
        "connectorId": 1,
        "idTag": "TAG-A",
        "startTimestamp": iso(BASE),
        "stopTimestamp": iso(BASE + timedelta(minutes=30)),
        "meterStart": 0,
        "meterStop": 1000,
        "energyWh": 1000.0,
        "cost": 0.3,
        "currency": "EUR",
        "stopReason": "Local",
    }
    live = as_owner.get(f"/transactions/{running}").get_json()
    assert (live["stopTimestamp"], live["energyWh"], live["cost"], live["connectorId"]) == (None, 0.0, None, 2)
    assert as_owner.get("/transactions").get_json()["items"] == [live, r.get_json()]


def test_meter_values_of_a_real_ocpp_j_session(owner, add_charger, add_tag, connect, as_owner, as_other, other_owner):
    add_charger("CP-A", station="Depot")
    add_charger("CP-X", station="Elsewhere", user=other_owner[0])
    add_tag("TAG-A", owner=owner)
    charger = connect("CP-A")
    charger.boot()
    tx = charger.start(1, "TAG-A", meter_start=1000, timestamp=iso(BASE)).transaction_id
    times = [BASE + timedelta(minutes=m) for m in (1, 2, 3)]
    charger.meter(
        1,
        tx,
        [
            {"value": "1.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
            {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
        ],
        iso(times[0]),
    )
    charger.meter(
        1,
        tx,
        [
            {"value": "2000", "unit": "Wh", "context": "Sample.Clock"},
            {"value": "16.1", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        ],
        iso(times[1]),
    )
    charger.meter(1, tx, [{"value": "2500"}], iso(times[2]))
    # Live energy while open comes from the latest register.
    assert as_owner.get(f"/transactions/{tx}").get_json()["energyWh"] == 1500.0
    # Another charger naming this transaction id adds nothing to it.
    intruder = connect("CP-X")
    intruder.boot()
    intruder.meter(1, tx, [{"value": "999999"}], iso(times[2]))
    charger.stop(tx, 2600, timestamp=iso(times[2] + timedelta(seconds=30)))

    r = as_owner.get(f"/transactions/{tx}/meter-values")
    assert r.status_code == 200
    body = r.get_json()
    reg, per = "Energy.Active.Import.Register", "Sample.Periodic"
    assert body == {
        "nextCursor": None,
        "items": [
            {
                "timestamp": iso(times[0]),
                "measurand": reg,
                "phase": None,
                "unit": "Wh",
                "value": 1500.0,
                "context": per,
                "location": "Outlet",
            },
            {
                "timestamp": iso(times[0]),
                "measurand": "Power.Active.Import",
                "phase": None,
                "unit": "W",
                "value": 7200.0,
                "context": per,
                "location": "Outlet",
            },
            {
                "timestamp": iso(times[1]),
                "measurand": reg,
                "phase": None,
                "unit": "Wh",
                "value": 2000.0,
                "context": "Sample.Clock",
                "location": "Outlet",
            },
            {
                "timestamp": iso(times[1]),
                "measurand": "Current.Import",
                "phase": "L1",
                "unit": "A",
                "value": 16.1,
                "context": per,
                "location": "Outlet",
            },
            {
                "timestamp": iso(times[2]),
                "measurand": reg,
                "phase": None,
                "unit": "Wh",
                "value": 2500.0,
                "context": per,
                "location": "Outlet",
            },
        ],
    }
    # Paged two at a time: the same values in the same order.
    paged, cursor = [], None
    while True:
        page = as_owner.get(
            f"/transactions/{tx}/meter-values", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).get_json()
        paged += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert paged == body["items"]
    assert as_owner.get(f"/transactions/{tx}").get_json()["energyWh"] == 1600.0
    # The other owner sees neither the transaction nor its values.
    assert as_other.get(f"/transactions/{tx}").status_code == 404
    assert as_other.get(f"/transactions/{tx}/meter-values").status_code == 404


def test_another_owners_transactions_are_404(fleet, as_owner, as_other, as_admin):
    theirs = next(tx for (_, tx), identity in fleet.items() if identity == "CP-X")
    mine = next(tx for (_, tx), identity in fleet.items() if identity == "CP-A")
    for path in (f"/transactions/{theirs}", f"/transactions/{theirs}/meter-values"):
        r = as_owner.get(path)
        assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert as_other.get(f"/transactions/{mine}").status_code == 404
    assert [t["chargePointId"] for t in as_other.get("/transactions").get_json()["items"]] == ["CP-X"] * 10
    assert as_admin.get(f"/transactions/{theirs}").get_json()["chargePointId"] == "CP-X"
    assert as_owner.get("/transactions/99999999").status_code == 404
    assert as_owner.get("/transactions/abc").status_code == 404


@pytest.mark.parametrize(
    "args",
    [
        {"status": "running"},
        {"status": ""},
        {"from": "yesterday"},
        {"from": "2026-01-01"},
        {"to": "2026-01-01T00:00:00"},
        {"from": "2026-13-01T00:00:00Z"},
        {"from": "9999-12-31T23:59:59-23:00"},
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"stationId": "abc"},
        {"stationId": 0},
        {"chargePointId": ""},
        {"chargePointId": "X" * 49},
        {"cursor": "garbage"},
        {"cursor": ""},
        {"cursor": "WzEsMV0"},
    ],
)
def test_bad_queries_are_422(as_owner, args):
    r = as_owner.get("/transactions", query_string=args)
    assert r.status_code == 422, (args, r.get_json())
    assert r.get_json()["error"] == "invalid_input"


def test_a_cursor_of_another_list_is_refused(fleet, as_owner):
    for tag in ("T1", "T2"):
        assert as_owner.post("/id-tags", {"idTag": tag}).status_code == 201
    for name in ("S1", "S2"):
        assert as_owner.post("/stations", {"name": name}).status_code == 201
    tag_cursor = as_owner.get("/id-tags", query_string={"limit": 1}).get_json()["nextCursor"]
    station_cursor = as_owner.get("/stations", query_string={"limit": 1}).get_json()["nextCursor"]
    tx_cursor = as_owner.get("/transactions", query_string={"limit": 1}).get_json()["nextCursor"]
    assert None not in (tag_cursor, station_cursor, tx_cursor)
    for wrong in (tag_cursor, station_cursor):
        r = as_owner.get("/transactions", query_string={"cursor": wrong})
        assert r.status_code == 422 and "cursor" in r.get_json()["message"]
    assert as_owner.get("/stations", query_string={"cursor": tx_cursor}).status_code == 422
    assert as_owner.get("/id-tags", query_string={"cursor": station_cursor}).status_code == 422


def test_tokens_and_roles(as_nobody, as_driver):
    for api, status in ((as_nobody, 401), (as_driver, 403)):
        for path in ("/transactions", "/transactions/1", "/transactions/1/meter-values"):
            assert api.get(path).status_code == status, path
