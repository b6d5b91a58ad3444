"""Nearby search over 50,000 stations: latency of ``GET /api/v1/stations/nearby`` (target p95 < 50 ms).

Stations are spread uniformly over Germany's bounding box and inserted
in bulk; one station in twenty gets a charger (``add_charge_point``) that boots and reports two connectors
through the service layer, and a time-of-day tariff (``set_tariff_bands``). Queries come from
random points with radii of 2, 5, 10 and 25 km (limit 50), through the Flask app (routing, auth-less JSON
endpoint, serialisation included). Prints one JSON line.

    python -m tests.bench.bench_search      # BENCH_SEARCH_STATIONS=50000 BENCH_SEARCH_QUERIES=1000
    BENCH_SEARCH_DATABASE_URL=postgresql://postgres@127.0.0.1/bench_search python -m tests.bench.bench_search
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time

from sqlalchemy import insert, select, text

from cms.models import Station

STATIONS = int(os.environ.get("BENCH_SEARCH_STATIONS", "50000"))
QUERIES = int(os.environ.get("BENCH_SEARCH_QUERIES", "1000"))
CHARGER_EVERY = 20
LAT = (47.3, 55.0)
LON = (5.9, 15.0)
RADII = (2, 5, 10, 25)
BANDS = [
    {"start": "06:00", "end": "22:00", "pricePerKwh": 0.45, "label": "day"},
    {"start": "22:00", "end": "06:00", "pricePerKwh": 0.29, "label": "night"},
]


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def populate(rt, rng: random.Random) -> dict:
    """Create the stations, chargers, connectors and tariffs; returns timings."""
    from cms.accounts import create_user
    from cms.chargepoints import add_charge_point
    from cms.handlers import Charger
    from cms.tariff import set_tariff_bands

    t0 = time.perf_counter()
    with rt.db.uow() as uow:
        s = uow.session
        owner = create_user(s, "bench-owner@example.com", "bench-password", verified=True)
        # Plain stations in bulk (the dashboard's create_station checks name uniqueness one by one);
        # chargers and tariffs of every CHARGER_EVERY-th station go through the owners' use cases.
        s.execute(
            insert(Station),
            [
                {
                    "owner_id": owner.id,
                    "name": f"Station {i:05d}",
                    "address": f"Street {i}",
                    "latitude": rng.uniform(*LAT),
                    "longitude": rng.uniform(*LON),
                    "timezone": "Europe/Berlin",
                }
                for i in range(STATIONS)
            ],
        )
        ids = s.scalars(select(Station.id).order_by(Station.id)).all()[::CHARGER_EVERY]
        identities = []
        for n, station_id in enumerate(ids):
            identities.append(add_charge_point(s, f"BENCH-{n:05d}", owner, station_id=station_id).identity)
            set_tariff_bands(s, owner, station_id, BANDS)
        uow.commit()
    t1 = time.perf_counter()
    statuses = ("Available", "Charging", "Faulted", "Available")
    for identity in identities:
        charger = Charger(identity)
        rt.pipeline.handle(charger, "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "B1"})
        for connector in (1, 2):
            rt.pipeline.handle(
                charger,
                "StatusNotification",
                {"connectorId": connector, "errorCode": "NoError", "status": rng.choice(statuses)},
            )
    # The chargers have no socket open, so their connectors show inoperative; the work per result is the same.
    return {
        "populate_stations_s": round(t1 - t0, 1),
        "populate_chargers_s": round(time.perf_counter() - t1, 1),
        "chargers": len(identities),
    }


def main() -> None:
    from app import create_app
    from cms.migrate import upgrade

    url = os.environ.get("BENCH_SEARCH_DATABASE_URL")
    tmp = None
    if not url:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/bench.sqlite3"
    upgrade(url)
    app = create_app({"database_url": url, "message_log_limit": 0})
    rt = app.extensions["cms"]
    rng = random.Random(6)
    setup = populate(rt, rng)
    client = app.test_client()
    plan = None
    if url.startswith("sqlite"):
        with rt.db.engine.connect() as c:
            plan = " | ".join(
                r[-1]
                for r in c.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT id FROM stations WHERE latitude BETWEEN 52 AND 52.1 "
                        "AND longitude BETWEEN 13 AND 13.1"
                    )
                )
            )
    for _ in range(50):  # warm-up
        client.get("/api/v1/stations/nearby", query_string={"lat": 52.5, "lon": 13.4, "radiusKm": 5})
    timings, found = [], []
    for _ in range(QUERIES):
        q = {"lat": rng.uniform(*LAT), "lon": rng.uniform(*LON), "radiusKm": rng.choice(RADII), "limit": 50}
        start = time.perf_counter()
        r = client.get("/api/v1/stations/nearby", query_string=q)
        timings.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, r.get_json()
        found.append(len(r.get_json()))
    result = {
        "bench": "nearby_search",
        "backend": url.split(":", 1)[0],
        "stations": STATIONS,
        "queries": QUERIES,
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(_percentile(timings, 95), 2),
        "p99_ms": round(_percentile(timings, 99), 2),
        "max_ms": round(max(timings), 2),
        "mean_results": round(statistics.mean(found), 1),
        "target_p95_ms": 50,
        "meets_target": _percentile(timings, 95) < 50,
        "query_plan": plan,
        **setup,
    }
    print(json.dumps(result))
    rt.db.dispose()
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
