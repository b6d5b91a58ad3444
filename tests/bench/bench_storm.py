"""Reconnect storm (issue 12): BENCH_STORM_CHARGERS chargers (20,000) connect and boot at BENCH_STORM_RATE
per second (1,000), as after a server restart, against ``cms serve`` (BENCH_SERVER_WORKERS gevent workers,
PostgreSQL, Redis) and beside it the ``ocpp`` package's own asyncio central system. A refused handshake
(503) or a failed boot is retried after a short back-off, as chargers do.

Figures per server: accepted of the target, failed (never accepted within BENCH_STORM_BUDGET seconds), the
retries by reason (handshake 503: admission control; TCP connects and handshakes that timed out, other
refusals, lost connections, boot errors: each a failure the issue wants gone), and ``storm_s``: seconds from
the first handshake sent to the last BootNotification accepted (target < 30 s). The load comes from
BENCH_CLIENT_PROCS processes (one cannot make 1,000 handshakes a second), each from its own loopback address.
A charger keeps retrying for BENCH_STORM_BUDGET seconds (600: chargers retry for ever, and the figure that
matters is when the last one got in).

``cpu_per_accepted``: CPU milliseconds per accepted charger of the server's processes, of PostgreSQL (the
whole machine's, so another PostgreSQL user shows here too) and of the load generator, for the storm's whole
duration (refused attempts included).
"""

from __future__ import annotations

import json
import os
import resource
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.loadgen import WorkerPool
from tests.bench.servers import ROOT, CmsServer, PeerServer

TARGET_S = 30.0
# Retries that are failures (everything but a 503 from admission control, or a boot answered other than Accepted).
ERRORS = ("handshake_other", "boot_error", "connect_timeout", "handshake_timeout", "lost")


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def storm(server, chargers: int, rate: float, procs: int, budget: float, run: int) -> dict:
    identities = [f"STORM{n:05d}" for n in range(chargers)]
    parts = [identities[i::procs] for i in range(procs) if identities[i::procs]]
    pool = WorkerPool(
        "storm",
        [
            {
                "identities": part,
                "host": "127.0.0.1",
                "port": server.port,
                "local_ip": f"127.{run}.{i + 1}.2",
                "rate": rate / len(parts),
                "budget": budget,
            }
            for i, part in enumerate(parts)
        ],
    )
    try:
        pool.wait_barrier(60)
        before = server.figures()
        results = pool.results(budget + chargers / rate + 120)
        after = server.figures()
    except BaseException:
        pool.kill()
        raise
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"load generator failed: {errors}")
    retries: dict[str, int] = {}
    failed: dict[str, int] = {}
    for r in results:
        for k, v in r["retries"].items():
            retries[k] = retries.get(k, 0) + v
        for k, v in r["failed"].items():
            failed[k] = failed.get(k, 0) + v
    accepted = sum(r["accepted"] for r in results)
    lasts = [r["last_accepted"] for r in results if r["last_accepted"]]
    first = min(r["first_sent"] for r in results)
    storm_s = round(max(lasts) - first, 1) if lasts and accepted == chargers else None
    # CPU seconds per accepted charger: the server's processes, its database (CMS only), the load generator.
    per = max(accepted, 1)
    cpu = {
        "server_ms": round((after["cpu_s"] - before["cpu_s"]) * 1000 / per, 2),
        "loadgen_ms": round(sum(r["cpu_s"] for r in results) * 1000 / per, 2),
    }
    if "db_cpu_s" in after:
        cpu["db_ms"] = round((after["db_cpu_s"] - before["db_cpu_s"]) * 1000 / per, 2)
    return {
        "scenario": "storm",
        "chargers": chargers,
        "rate_per_s": rate,
        "accepted": accepted,
        "failed": sum(failed.values()),
        "failed_reasons": failed,
        "retries": retries,
        "errors": sum(retries.get(k, 0) for k in ERRORS),
        "storm_s": storm_s,
        "cpu_per_accepted": cpu,
        "target_s": TARGET_S,
        "ok": accepted == chargers and storm_s is not None and storm_s < TARGET_S,
    }


def main() -> int:
    chargers = int(_env("BENCH_STORM_CHARGERS", 20000))
    rate = _env("BENCH_STORM_RATE", 1000)
    procs = int(_env("BENCH_CLIENT_PROCS", 4))
    workers = int(_env("BENCH_SERVER_WORKERS", 2))
    budget = _env("BENCH_STORM_BUDGET", 600)
    servers = os.environ.get("BENCH_SERVERS", "cms,peer").split(",")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"storm-{stamp}.jsonl"
    config = {"chargers": chargers, "rate": rate, "client_procs": procs, "workers": workers, "budget_s": budget}
    print(f"# storm benchmark {stamp}: {json.dumps(config)}", flush=True)
    records = []
    makers = {
        "cms": lambda: CmsServer(workers, out_dir, database="cms_bench_storm"),
        "peer": lambda: PeerServer(workers, out_dir),
    }
    for run, name in enumerate(servers, start=1):
        server = makers[name]()
        server.prepare([f"STORM{n:05d}" for n in range(chargers)], "STORMTAG")
        server.start()
        try:
            figures = storm(server, chargers, rate, procs, budget, run + 20)
        finally:
            server.stop()
        record = {"bench": "storm", "at": stamp, "server": name, **figures}
        records.append(record)
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
    print()
    header = f"{'server':<6} {'accepted':>9} {'failed':>7} {'errors':>7} {'503s':>7} {'storm_s':>8}"
    print(f"{header}  (target < {TARGET_S:g} s)   CPU ms per accepted: server / database / load generator")
    for r in records:
        cpu = r["cpu_per_accepted"]
        print(
            f"{r['server']:<6} {r['accepted']:>9} {r['failed']:>7} {r['errors']:>7} "
            f"{r['retries'].get('handshake_503', 0):>7} {str(r['storm_s']):>8}"
            f"   {cpu['server_ms']} / {cpu.get('db_ms', '-')} / {cpu['loadgen_ms']}"
        )
    print(f"\nresults: {Path(path).relative_to(ROOT)}")
    cms = next((r for r in records if r["server"] == "cms"), None)
    return 0 if cms is None or (cms["accepted"] == chargers and cms["failed"] == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
