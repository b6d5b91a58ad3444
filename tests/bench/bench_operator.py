"""Operator API read times on PostgreSQL: transaction pages (first, deep, filtered), a full cursor walk over one
owner's transactions, and a transaction's meter values.

Builds a database with two owners of BENCH_OP_CHARGERS charge points each (through the CSV-import use case),
BENCH_OP_SESSIONS closed sessions per charge point (COPY) and BENCH_OP_METER_VALUES readings of one session
(COPY), then times requests through the app with an owner's and an administrator's Bearer token and prints one
JSON line. A keyset page costs the same at the end of the list as at its start: ``deep_page`` against
``first_page`` shows it.

    python -m tests.bench.bench_operator   # BENCH_OP_CHARGERS=100 BENCH_OP_SESSIONS=1000 BENCH_OP_RUNS=30

Needs PostgreSQL (CMS_TEST_PG_ADMIN_URL); the database ``cms_bench_operator`` is dropped afterwards.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.bench.bench_dashboard import log, timed
from tests.support import databases

CHARGERS = int(os.environ.get("BENCH_OP_CHARGERS", "100"))
SESSIONS = int(os.environ.get("BENCH_OP_SESSIONS", "1000"))
METER_VALUES = int(os.environ.get("BENCH_OP_METER_VALUES", "20000"))
RUNS = int(os.environ.get("BENCH_OP_RUNS", "30"))
DB_NAME = "cms_bench_operator"
OWNERS = ("bench-a@example.com", "bench-b@example.com")


def build(url: str) -> None:
    """Owners and chargers through the use cases; sessions and meter values by COPY."""
    from cms.accounts import create_user
    from cms.chargepoints import import_charge_points
    from cms.db import Database
    from cms.idtags import add_id_tag

    db = Database(url)
    with db.uow() as uow:
        for n, email in enumerate(OWNERS):
            owner = create_user(uow.session, email, "bench-password", verified=True)
            add_id_tag(uow.session, f"TAG-{n}", owner=owner)
            rows = [
                {"id": f"OP{n}-{c:04d}", "owner": email, "station": f"Station {n}-{c % 10}"} for c in range(CHARGERS)
            ]
            import_charge_points(uow.session, rows, {email: owner})
        uow.commit()
    with db.engine.connect() as c:
        cps = c.execute(sa.text("SELECT id, identity FROM charge_points ORDER BY id")).all()
    start = (datetime.now(UTC) - timedelta(days=SESSIONS)).replace(tzinfo=None, microsecond=0)
    raw = db.engine.raw_connection()
    t0 = time.perf_counter()
    try:
        cur = raw.cursor()
        tx_id = 0
        for n, (cp_id, identity) in enumerate(cps):
            txs = io.StringIO()
            tag = f"TAG-{identity[2]}"
            for s in range(SESSIONS):
                tx_id += 1
                # Every charger starts on the same minutes of each day: many ties on start_timestamp.
                begin = start + timedelta(days=s, minutes=(n % 7) * 60)
                end = begin + timedelta(hours=2)
                if s == SESSIONS - 1:  # each charger's latest session is still running
                    stop = "\\N\t\\N\t\\N\t\\N"
                    cost = "\\N"
                else:
                    stop, cost = f"{s * 10000 + 7000}\t{end}\t{end}\tLocal", "2.1"
                txs.write(
                    f"{tx_id}\t{cp_id}\t1\t{tag}\tbench-{tx_id}\t{s * 10000}\t{begin}\t{begin}\t"
                    f"{stop}\tAccepted\t{s * 10000 + 7000}\t{cost}\n"
                )
            with cur.copy(
                "COPY transactions (id, charge_point_id, connector_id, id_tag, start_key, meter_start,"
                " start_timestamp, start_received_at, meter_stop, stop_timestamp, stop_received_at,"
                " stop_reason, start_status, last_meter_wh, cost) FROM STDIN"
            ) as cp:
                cp.write(txs.getvalue())
        mv = io.StringIO()
        first_cp, first_start = cps[0][0], start
        for i in range(METER_VALUES):
            ts = first_start + timedelta(seconds=i)
            mv.write(
                f"{first_cp}\t1\t1\t{ts}\t{ts}\t{i}\t{i}\tEnergy.Active.Import.Register\t\\N\tWh\t"
                f"Sample.Periodic\tOutlet\tRaw\n"
            )
        with cur.copy(
            "COPY meter_values (charge_point_id, connector_id, transaction_id, timestamp, received_at,"
            " raw_value, value, measurand, phase, unit, context, location, format) FROM STDIN"
        ) as cp:
            cp.write(mv.getvalue())
        cur.execute("SELECT setval(pg_get_serial_sequence('transactions', 'id'), %s)", (tx_id,))
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    log(f"  loaded {len(cps) * SESSIONS} transactions, {METER_VALUES} meter values in {time.perf_counter() - t0:.0f} s")
    db.dispose()


def walk(client, headers, path: str, limit: int) -> tuple[int, list[float], list[str]]:
    """Follow nextCursor to the end; the number of items, each page's time (ms) and the cursors followed."""
    count, times, cursors, cursor = 0, [], [], None
    while True:
        t = time.perf_counter()
        r = client.get(path, query_string={"limit": limit, **({"cursor": cursor} if cursor else {})}, headers=headers)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        count += len(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return count, times, cursors
        cursors.append(cursor)


def main() -> int:
    reason = databases.postgres_available()
    if reason:
        print(json.dumps({"bench": "operator", "skipped": reason}))
        return 0
    log(f"building {DB_NAME}: 2 owners x {CHARGERS} chargers x {SESSIONS} sessions")
    url = databases.create_postgres_database(DB_NAME)
    try:
        build(url)
        from app import create_app
        from cms.accounts import issue_token, user_by_email
        from cms.models import Station

        app = create_app({"database_url": url, "secret_key": "bench", "ws_ping_interval": 0, "maintenance_interval": 0})
        rt = app.extensions["cms"]
        with rt.db.uow() as uow:
            tokens = {}
            for email in OWNERS:
                tokens[email] = issue_token(uow.session, user_by_email(uow.session, email))
            admin = user_by_email(uow.session, OWNERS[1])
            admin.role = "admin"
            station_id = uow.session.query(Station.id).filter(Station.name == "Station 0-3").scalar()
            uow.commit()
        owner = {"Authorization": f"Bearer {tokens[OWNERS[0]]}"}
        admin_h = {"Authorization": f"Bearer {tokens[OWNERS[1]]}"}
        client = app.test_client()
        count, walk_times, cursors = walk(client, owner, "/api/v1/transactions", 500)
        deep = cursors[-1] if cursors else None  # the last page's: as deep into the list as it goes
        window = {
            "from": (datetime.now(UTC) - timedelta(days=SESSIONS // 2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "to": (datetime.now(UTC) - timedelta(days=SESSIONS // 2 - 30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

        def page(args, headers=owner):
            return lambda: client.get("/api/v1/transactions", query_string=args, headers=headers)

        results = {
            "first_page_50": timed(page({"limit": 50}), RUNS),
            "deep_page_50": timed(page({"limit": 50, **({"cursor": deep} if deep else {})}), RUNS),
            "first_page_500": timed(page({"limit": 500}), RUNS),
            "by_charge_point_50": timed(page({"limit": 50, "chargePointId": "OP0-0042"}), RUNS),
            "by_station_50": timed(page({"limit": 50, "stationId": station_id}), RUNS),
            "open_50": timed(page({"limit": 50, "status": "open"}), RUNS),
            "month_window_50": timed(page({"limit": 50, **window}), RUNS),
            "admin_first_page_50": timed(page({"limit": 50}, admin_h), RUNS),
            "one_transaction": timed(lambda: client.get("/api/v1/transactions/1", headers=owner), RUNS),
        }
        mv_count, mv_times, _ = walk(client, owner, "/api/v1/transactions/1/meter-values", 5000)
        walk_times.sort()
        print(
            json.dumps(
                {
                    "bench": "operator",
                    "transactions_total": 2 * CHARGERS * SESSIONS,
                    "owner_transactions": count,
                    "walk_500": {
                        "pages": len(walk_times),
                        "total_s": round(sum(walk_times) / 1000, 1),
                        "p50_ms": round(walk_times[len(walk_times) // 2], 1),
                        "max_ms": round(walk_times[-1], 1),
                    },
                    "meter_values_walk_5000": {
                        "values": mv_count,
                        "pages": len(mv_times),
                        "total_ms": round(sum(mv_times), 1),
                    },
                    **results,
                }
            ),
            flush=True,
        )
        rt.db.dispose()
    finally:
        if os.environ.get("BENCH_OP_KEEP") != "1":
            databases.drop_postgres_database(DB_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
