"""OCPP-J benchmark: the CMS (gunicorn + gevent on PostgreSQL) beside the ``ocpp`` package's central system.

``python -m tests.bench.bench_ocppj`` (what ``make bench`` runs) measures, for each server, in one run:

* connections: BENCH_CONNECTIONS chargers connected at once (booted, then a Heartbeat every
  BENCH_HEARTBEAT_SECONDS for BENCH_HOLD_SECONDS): how many were held, heartbeat latency, server memory per
  connection (RSS of all server processes / connections held);
* throughput: BENCH_THROUGHPUT_CHARGERS chargers (e.g. "50,200") each running full sessions back to back
  (StatusNotification, Authorize, StartTransaction, MeterValues with ten sampled values, Heartbeat,
  StopTransaction) for BENCH_THROUGHPUT_SECONDS: calls per second, p50/p99 latency.

Sizes are environment variables so a quick run is possible, e.g. ``BENCH_CONNECTIONS=2000
BENCH_HOLD_SECONDS=30 BENCH_THROUGHPUT_SECONDS=10``. Results are JSON lines in bench/results/ and a table.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.bench.loadgen import WorkerPool, summarise
from tests.bench.servers import ROOT, CmsServer, PeerServer

ID_TAG = "BENCHTAG"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class Config:
    """The sizes of one run, from BENCH_* environment variables."""

    def __init__(self):
        self.connections = _env_int("BENCH_CONNECTIONS", 20000)
        self.heartbeat = _env_float("BENCH_HEARTBEAT_SECONDS", 30)
        self.hold = _env_float("BENCH_HOLD_SECONDS", 90)
        self.connect_rate = _env_float("BENCH_CONNECT_RATE", 800)
        self.client_procs = _env_int("BENCH_CLIENT_PROCS", 4)
        self.workers = _env_int("BENCH_SERVER_WORKERS", 2)
        self.throughput = [int(n) for n in os.environ.get("BENCH_THROUGHPUT_CHARGERS", "50,200").split(",") if n]
        self.throughput_seconds = _env_float("BENCH_THROUGHPUT_SECONDS", 30)
        self.servers = os.environ.get("BENCH_SERVERS", "cms,peer").split(",")
        self.scenarios = os.environ.get("BENCH_SCENARIOS", "connections,throughput").split(",")

    def as_dict(self) -> dict:
        return dict(vars(self))


def _slices(identities: list[str], procs: int) -> list[list[str]]:
    return [identities[i::procs] for i in range(procs) if identities[i::procs]]


def connections(server, cfg: Config, run: int) -> dict:
    """Hold ``cfg.connections`` chargers with heartbeats; figures while they are all held."""
    identities = [f"HOLD{n:05d}" for n in range(cfg.connections)]
    parts = _slices(identities, cfg.client_procs)
    before = server.figures()
    pool = WorkerPool(
        "hold",
        [
            {
                "identities": part,
                "host": "127.0.0.1",
                "port": server.port,
                "local_ip": f"127.{run}.{i + 1}.1",
                "rate": cfg.connect_rate / len(parts),
                "interval": cfg.heartbeat,
                "hold_seconds": cfg.hold,
            }
            for i, part in enumerate(parts)
        ],
    )
    try:
        ramp_budget = cfg.connections / 20 + 120  # bounded: a server must manage 20 handshakes+boots a second
        pool.wait_barrier(ramp_budget)  # all connected and booted
        start = server.figures()
        pool.wait_barrier(cfg.hold + 60)  # heartbeat phase over, connections still open
        held_figures = server.figures()
        pool.wait_barrier(60)
        results = pool.results(120)
    except BaseException:
        pool.kill()
        raise
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"load generator failed: {errors}")
    held = sum(r["held"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    failures: dict[str, int] = {}
    for r in results:
        for k, v in r["failures"].items():
            failures[k] = failures.get(k, 0) + v
    rss = held_figures["rss"]
    return {
        "scenario": "connections",
        "target": cfg.connections,
        "held": held,
        "connect_failures": failures,
        "ramp_s": max(r["ramp_s"] for r in results),
        "heartbeats": len(latencies),
        "heartbeat_failures": sum(r["heartbeat_failures"] for r in results),
        **{f"heartbeat_{k}": v for k, v in summarise(latencies).items()},
        "server_rss_mb": round(rss / 2**20, 1),
        "server_rss_idle_mb": round(before["rss"] / 2**20, 1),
        "kb_per_connection": round(rss / 1024 / held, 1) if held else None,
        "kb_per_connection_over_idle": round((rss - before["rss"]) / 1024 / held, 1) if held else None,
        "server_cpu_s_hold": round(held_figures["cpu_s"] - start["cpu_s"], 1),
        # CPU a heartbeat costs the server, wire included (BENCH_HEARTBEAT_SECONDS=0.1 makes it the main load)
        "server_cpu_ms_per_heartbeat": round((held_figures["cpu_s"] - start["cpu_s"]) * 1000 / len(latencies), 3)
        if latencies
        else None,
        "server_processes": held_figures["processes"],
    }


def throughput(server, cfg: Config, chargers: int, run: int) -> dict:
    """``chargers`` chargers running sessions back to back for ``cfg.throughput_seconds``."""
    identities = [f"TP{chargers}-{n:04d}" for n in range(chargers)]
    parts = _slices(identities, min(2, cfg.client_procs))
    pool = WorkerPool(
        "sessions",
        [
            {
                "identities": part,
                "host": "127.0.0.1",
                "port": server.port,
                "local_ip": f"127.{run}.{100 + i}.1",
                "seconds": cfg.throughput_seconds,
                "id_tag": ID_TAG,
            }
            for i, part in enumerate(parts)
        ],
    )
    try:
        pool.wait_barrier(120)
        start = server.figures()
        results = pool.results(cfg.throughput_seconds + 120)
        end = server.figures()
    except BaseException:
        pool.kill()
        raise
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"load generator failed: {errors}")
    by_action: dict[str, list[float]] = {}
    call_errors: dict[str, int] = {}
    for r in results:
        for action, lat in r["latencies"].items():
            by_action.setdefault(action, []).extend(lat)
        for k, v in r["errors"].items():
            call_errors[k] = call_errors.get(k, 0) + v
    all_lat = [x for lat in by_action.values() for x in lat]
    elapsed = max(r["elapsed_s"] for r in results)
    return {
        "scenario": f"throughput_{chargers}",
        "chargers": chargers,
        "calls": len(all_lat),
        "calls_per_s": round(len(all_lat) / elapsed, 1),
        "elapsed_s": round(elapsed, 1),
        "call_errors": call_errors,
        **summarise(all_lat),
        "p50_ms_by_action": {a: summarise(lat)["p50_ms"] for a, lat in sorted(by_action.items())},
        "server_cpu_s": round(end["cpu_s"] - start["cpu_s"], 1),
        "server_cpu_ms_per_call": round((end["cpu_s"] - start["cpu_s"]) * 1000 / len(all_lat), 3) if all_lat else None,
        # the load generator's own share of the two cores, the same for both servers
        "client_cpu_ms_per_call": round(sum(r.get("cpu_s", 0) for r in results) * 1000 / len(all_lat), 3)
        if all_lat
        else None,
        # the CMS's database (PostgreSQL on the same two cores); the peer has none
        **(
            {"db_cpu_ms_per_call": round((end["db_cpu_s"] - start["db_cpu_s"]) * 1000 / len(all_lat), 3)}
            if "db_cpu_s" in end and all_lat
            else {}
        ),
    }


def run_server(server, cfg: Config, run: int, emit) -> None:
    identities = [f"HOLD{n:05d}" for n in range(cfg.connections)] if "connections" in cfg.scenarios else []
    if "throughput" in cfg.scenarios:
        identities += [f"TP{c}-{n:04d}" for c in cfg.throughput for n in range(c)]
    server.prepare(identities, ID_TAG)
    server.start()
    try:
        if "connections" in cfg.scenarios:
            emit(server.name, connections(server, cfg, run))
            time.sleep(3)
        if "throughput" in cfg.scenarios:
            for n, chargers in enumerate(cfg.throughput):
                emit(server.name, throughput(server, cfg, chargers, run * 10 + n if run * 10 + n < 250 else run))
                time.sleep(2)
    finally:
        server.stop()


def _ratio(a, b):
    return round(a / b, 2) if a and b else None


def summary_rows(records: list[dict]) -> list[dict]:
    """One row per scenario with both servers' figures and their ratio (CMS / peer)."""
    by = {(r["server"], r["scenario"]): r for r in records}
    rows = []
    for scenario in dict.fromkeys(r["scenario"] for r in records):
        cms, peer = by.get(("cms", scenario), {}), by.get(("peer", scenario), {})
        if scenario == "connections":
            for key in ("held", "heartbeat_p50_ms", "heartbeat_p99_ms", "kb_per_connection"):
                rows.append(
                    {
                        "scenario": scenario,
                        "figure": key,
                        "cms": cms.get(key),
                        "peer": peer.get(key),
                        "ratio": _ratio(cms.get(key), peer.get(key)),
                    }
                )
        else:
            for key in ("calls_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_call", "db_cpu_ms_per_call"):
                rows.append(
                    {
                        "scenario": scenario,
                        "figure": key,
                        "cms": cms.get(key),
                        "peer": peer.get(key),
                        "ratio": _ratio(cms.get(key), peer.get(key)),
                    }
                )
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'scenario':<16} {'figure':<20} {'cms':>12} {'peer':>12} {'cms/peer':>9}")
    for r in rows:
        print(f"{r['scenario']:<16} {r['figure']:<20} {str(r['cms']):>12} {str(r['peer']):>12} {str(r['ratio']):>9}")


def main() -> int:
    cfg = Config()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"ocppj-{stamp}.jsonl"
    records: list[dict] = []

    def emit(server_name: str, figures: dict) -> None:
        record = {"bench": "ocppj", "at": stamp, "server": server_name, **figures}
        records.append(record)
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    print(f"# OCPP-J benchmark {stamp}: {json.dumps(cfg.as_dict())}", flush=True)
    makers = {"cms": lambda: CmsServer(cfg.workers, out_dir), "peer": lambda: PeerServer(cfg.workers, out_dir)}
    for run, name in enumerate(cfg.servers, start=1):
        run_server(makers[name](), cfg, run, emit)
    rows = summary_rows(records)
    with open(path, "a") as f:
        f.write(json.dumps({"bench": "ocppj", "at": stamp, "summary": rows, "config": cfg.as_dict()}) + "\n")
    print()
    print_table(rows)
    print(f"\nresults: {Path(path).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
