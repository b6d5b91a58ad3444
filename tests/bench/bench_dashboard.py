"""Dashboard page and consumption query times on a year of 15-minute meter values for 200 chargers (PostgreSQL).

Builds a database with one owner, 10 stations, 200 charge points (through the CSV-import use case), a year of
15-minute energy register readings per charger (about 7 million meter_values rows, bulk-loaded with COPY) and
two sessions a day per charger (about 146,000 transactions, COPY too). Then times each dashboard page through
the app (logged in, CSRF and all), several times, and prints one JSON line with p50/p95 per page.

    python -m tests.bench.bench_dashboard     # BENCH_DASH_CHARGERS=200 BENCH_DASH_DAYS=365 BENCH_DASH_RUNS=30

Needs PostgreSQL (CMS_TEST_PG_ADMIN_URL, default postgres@127.0.0.1:5432); keeps the database
``cms_bench_dashboard`` for a re-run with BENCH_DASH_REUSE=1 (skips the load when it is already there).
"""

from __future__ import annotations

import io
import json
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.support import databases

CHARGERS = int(os.environ.get("BENCH_DASH_CHARGERS", "200"))
DAYS = int(os.environ.get("BENCH_DASH_DAYS", "365"))
RUNS = int(os.environ.get("BENCH_DASH_RUNS", "30"))
REUSE = os.environ.get("BENCH_DASH_REUSE") == "1"
DB_NAME = "cms_bench_dashboard"
TARGET_P95_MS = 200.0
EMAIL, PASSWORD = "bench-owner@example.com", "bench-password"
NULL = "\\N"  # COPY's text format for NULL
SLOTS_PER_DAY = 96  # 15-minute readings
# Two sessions a day per charger, (first slot, slots long): 07:00-09:00 and 18:00-21:00, 7.2 kW.
SESSIONS = ((28, 8), (72, 12))
WH_PER_SLOT = 1800


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(url: str) -> None:
    """Owner, stations, chargers through the use cases; meter values and transactions by COPY."""
    from cms.accounts import create_user
    from cms.chargepoints import import_charge_points
    from cms.db import Database
    from cms.idtags import add_id_tag

    db = Database(url)
    with db.uow() as uow:
        owner = create_user(uow.session, EMAIL, PASSWORD, name="Bench Owner", verified=True)
        add_id_tag(uow.session, "BENCH-TAG", owner=owner)
        rows = [{"id": f"BENCH-{n:04d}", "owner": EMAIL, "station": f"Station {n % 10:02d}"} for n in range(CHARGERS)]
        import_charge_points(uow.session, rows, {EMAIL: owner})
        uow.commit()
    engine = db.engine
    with engine.connect() as c:
        cps = c.execute(sa.text("SELECT id FROM charge_points ORDER BY id")).scalars().all()
    start = (datetime.now(UTC) - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        t0 = time.perf_counter()
        tx_id = 0
        for n, cp_id in enumerate(cps):
            mv, txs = io.StringIO(), io.StringIO()
            register = 0
            for day in range(DAYS):
                day_start = start + timedelta(days=day)
                session_of = {}
                for first, length in SESSIONS:
                    tx_id += 1
                    begin = day_start + timedelta(minutes=15 * first)
                    end = begin + timedelta(minutes=15 * length)
                    # meter_start/stop are set from the readings after the load (one UPDATE)
                    txs.write(
                        f"{tx_id}\t{cp_id}\t1\tBENCH-TAG\tbench-{tx_id}\t0\t"
                        f"{begin}\t{begin}\t0\t{end}\t{end}\tEVDisconnected\tAccepted\n"
                    )
                    for s in range(first, first + length):
                        session_of[s] = tx_id
                for slot in range(SLOTS_PER_DAY):
                    tx = session_of.get(slot)
                    if tx is not None:
                        register += WH_PER_SLOT
                    ts = day_start + timedelta(minutes=15 * slot)
                    mv.write(
                        f"{cp_id}\t1\t{tx or NULL}\t{ts}\t{ts}\t{register}\t{register}\t"
                        f"Energy.Active.Import.Register\t{NULL}\tWh\tSample.Periodic\tOutlet\tRaw\n"
                    )
            with cur.copy(
                "COPY meter_values (charge_point_id, connector_id, transaction_id, timestamp, received_at,"
                " raw_value, value, measurand, phase, unit, context, location, format) FROM STDIN"
            ) as cp:
                cp.write(mv.getvalue())
            with cur.copy(
                "COPY transactions (id, charge_point_id, connector_id, id_tag, start_key, meter_start,"
                " start_timestamp, start_received_at, meter_stop, stop_timestamp, stop_received_at,"
                " stop_reason, start_status) FROM STDIN"
            ) as cp:
                cp.write(txs.getvalue())
            if n % 20 == 19:
                raw.commit()
                log(f"  loaded {n + 1}/{len(cps)} chargers ({time.perf_counter() - t0:.0f} s)")
        # Sessions' meter_start/stop from the readings just loaded (one statement, not per row).
        cur.execute(
            """
            UPDATE transactions t SET meter_start = m.lo - %s, meter_stop = m.hi, last_meter_wh = m.hi
            FROM (SELECT transaction_id, min(value) AS lo, max(value) AS hi FROM meter_values
                  WHERE transaction_id IS NOT NULL GROUP BY transaction_id) m
            WHERE m.transaction_id = t.id""",
            (WH_PER_SLOT,),
        )
        cur.execute("SELECT setval(pg_get_serial_sequence('transactions', 'id'), %s)", (tx_id,))
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
        log(f"  loaded in {time.perf_counter() - t0:.0f} s")
    finally:
        raw.close()
    db.dispose()


def timed(fn, runs: int) -> dict:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1), "max_ms": round(times[-1], 1)}


def main() -> int:
    reason = databases.postgres_available()
    if reason:
        print(json.dumps({"bench": "dashboard", "skipped": reason}))
        return 0
    admin = sa.create_engine(databases.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME}).first()
    admin.dispose()
    url = databases.PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
    if not (REUSE and exists):
        log(f"building {DB_NAME}: {CHARGERS} chargers x {DAYS} days of 15-minute readings")
        databases.create_postgres_database(DB_NAME)
        build(url)
    else:
        from cms.migrate import upgrade

        upgrade(url)

    from app import create_app
    from cms import queries
    from cms.accounts import user_by_email
    from tests.web.conftest import Browser

    app = create_app({"database_url": url, "secret_key": "bench", "ws_ping_interval": 0})
    rt = app.extensions["cms"]
    with rt.db.engine.connect() as c:
        meter_rows = c.execute(sa.text("SELECT count(*) FROM meter_values")).scalar_one()
        tx_rows = c.execute(sa.text("SELECT count(*) FROM transactions")).scalar_one()
        some_tx = c.execute(sa.text("SELECT max(id) FROM transactions")).scalar_one()
        station_id = c.execute(sa.text("SELECT min(id) FROM stations")).scalar_one()

    # The rollup catches up once (here: the whole year at once); afterwards each view reads only new rows.
    t = time.perf_counter()
    with rt.db.uow() as uow:
        queries.refresh_energy_rollup(uow.session)
        uow.commit()
    catch_up_s = round(time.perf_counter() - t, 1)
    with rt.db.engine.connect() as c:  # what autovacuum does soon after a bulk change
        c.execute(sa.text("ANALYZE energy_daily"))
        c.commit()
    log(f"rollup catch-up over {meter_rows} rows: {catch_up_s} s")

    browser = Browser(app.test_client())
    assert browser.login(EMAIL, PASSWORD).status_code == 302
    today = datetime.now(UTC).date()
    year_ago = today - timedelta(days=DAYS)
    one, other = f"BENCH-{min(7, CHARGERS - 1):04d}", f"BENCH-{min(42, CHARGERS - 1):04d}"
    pages = {
        "overview": "/dashboard/",
        "chargers": "/dashboard/chargers",
        "charger": f"/dashboard/chargers/{one}",
        "charger_status_partial": f"/dashboard/chargers/{one}/status",
        "station": f"/dashboard/stations/{station_id}",
        "transactions": "/dashboard/transactions",
        "transactions_page_50": "/dashboard/transactions?page=50",
        "transactions_by_charger": f"/dashboard/transactions?charger={other}",
        "transactions_by_station_month": f"/dashboard/transactions?station_id={station_id}"
        f"&date_from={today - timedelta(days=30)}&date_to={today}",
        "transaction": f"/dashboard/transactions/{some_tx}",
        "consumption_day_30d": "/dashboard/consumption?period=day",
        "consumption_week_12w": "/dashboard/consumption?period=week&group=charger",
        "consumption_month_year": f"/dashboard/consumption?period=month&date_from={year_ago}",
        "consumption_day_year_by_charger": f"/dashboard/consumption?period=day&group=charger&date_from={year_ago}",
        "message_log": f"/dashboard/chargers/{one}/log",
        "tags": "/dashboard/tags",
    }
    results: dict = {}
    for name, path in pages.items():
        r = browser.get(path)
        assert r.status_code == 200, (name, r.status_code)
        if name.startswith("consumption"):
            assert re.search(r'data-testid="total">([\d.]+) kWh', r.get_data(as_text=True)), name
        results[name] = timed(lambda p=path: browser.get(p), RUNS)
        log(f"  {name}: {results[name]}")

    with rt.db.uow() as uow:
        owner = user_by_email(uow.session, EMAIL)
        f = queries.TransactionFilter(date_from=year_ago, date_to=today)
        results["query_consumption_month_year"] = timed(
            lambda: queries.consumption(uow.session, owner, f, period="month", group="station"), RUNS
        )
        year = queries.consumption(uow.session, owner, f, period="month", group="station")
    expected_kwh = CHARGERS * DAYS * sum(n for _, n in SESSIONS) * WH_PER_SLOT / 1000

    # New readings arriving between two views: one per charger, then the consumption page.
    def arrive_and_view():
        with rt.db.engine.begin() as c:
            c.execute(
                sa.text("""
                INSERT INTO meter_values (charge_point_id, connector_id, timestamp, received_at, raw_value, value,
                                          measurand, unit, context, location, format)
                SELECT cp.id, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', '0',
                       (SELECT max_wh FROM energy_daily e WHERE e.charge_point_id = cp.id ORDER BY day DESC LIMIT 1),
                       'Energy.Active.Import.Register', 'Wh', 'Sample.Periodic', 'Outlet', 'Raw'
                FROM charge_points cp""")
            )
        browser.get("/dashboard/consumption?period=day")

    results["consumption_after_200_new_readings"] = timed(arrive_and_view, max(5, RUNS // 3))
    page_p95 = [v["p95_ms"] for k, v in results.items() if not k.startswith("query_")]
    out = {
        "bench": "dashboard",
        "database": "postgresql",
        "chargers": CHARGERS,
        "days": DAYS,
        "meter_values": meter_rows,
        "transactions": tx_rows,
        "runs": RUNS,
        "rollup_catch_up_s": catch_up_s,
        "year_total_kwh": year["total_kwh"],
        "expected_year_kwh_approx": expected_kwh,
        "worst_page_p95_ms": max(page_p95),
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": max(page_p95) < TARGET_P95_MS,
        "pages": results,
    }
    print(json.dumps(out))
    rt.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
