"""Site load management under load: 100 simulated chargers on one station under one limit, sessions starting and
stopping all the time (issue 14).

The CMS runs as ``cms serve`` does (gunicorn, gevent, PostgreSQL, Redis); the chargers are the simulator's
(``simulator.charger.SimulatedChargePoint``: they apply the profiles they get and report Current.Import), every
EV the same (3 x 32 A, a battery that never fills), so that fair shares are equal shares. Prints one JSON line:

- ``latency``: from a StartTransaction / StopTransaction to the last SetChargingProfile it causes being accepted
  (median, p95; target p95 < 1 s). Each re-allocation run logs how long each start and stop it answers waited,
  from its commit to the run's last profile answered.
- ``over_limit_share_meter``: the share of the chargers' common sampling instants (ClockAlignedDataInterval =
  the meter interval) at which the site's draw from the meter values (the station page's plot: the connectors'
  Current.Import of that instant summed, most loaded phase) was over the limit (target 0);
  ``over_limit_share_actual``: the same from what the simulated EVs actually drew, sampled every 0.1 s.
- ``jain``: Jain's fairness index of the currents the chargers applied, over the sessions running for more than
  2 s, sampled every second (mean and minimum; target > 0.99).

    python -m tests.bench.bench_loadmgmt       # BENCH_LM_CHARGERS=100 BENCH_LM_SECONDS=120 BENCH_LM_LIMIT_A=800
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import websockets

from simulator.charger import SimulatedChargePoint, charger_url
from simulator.simulated_ev import SimulatedEV
from tests.bench.servers import CmsServer

CHARGERS = int(os.environ.get("BENCH_LM_CHARGERS", "100"))
SECONDS = float(os.environ.get("BENCH_LM_SECONDS", "120"))
LIMIT_A = float(os.environ.get("BENCH_LM_LIMIT_A", "800"))  # per phase: ~10 A a session when 80 charge
SESSION_SECONDS = float(os.environ.get("BENCH_LM_SESSION_SECONDS", "30"))
PAUSE_SECONDS = float(os.environ.get("BENCH_LM_PAUSE_SECONDS", "8"))
METER_INTERVAL = float(os.environ.get("BENCH_LM_METER_INTERVAL", "5"))
WARM_UP = float(os.environ.get("BENCH_LM_WARM_UP", "20"))  # seconds of boots and first starts, not counted
RUN_LINE = re.compile(
    r"^(\S+ \S+) INFO \S+: loadmgmt run station=\d+ transactions=(\d+) waited_max=([\d.]+) .*accepted=(\d+)"
    r".* waits=(\S+)",
    re.M,
)


def equal_ev() -> SimulatedEV:
    return SimulatedEV("bench 3x32 A", 32.0, 3, 1e12, 20.0)


def jain(values: list[float]) -> float:
    s = sum(values)
    return 1.0 if not values or s == 0 else s * s / (len(values) * sum(v * v for v in values))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def run_fleet(port: int, identities: list[str], seconds: float) -> dict:
    """Run the chargers for ``seconds``; sample the actual site draw and the applied currents meanwhile."""
    chargers: list[SimulatedChargePoint] = []
    tasks = []

    async def one(identity: str) -> None:
        async with websockets.connect(
            charger_url(f"ws://127.0.0.1:{port}", identity), subprotocols=["ocpp1.6"], open_timeout=30
        ) as ws:
            cp = SimulatedChargePoint(
                identity,
                ws,
                id_tag=f"TAG-{identity}",
                session_seconds=SESSION_SECONDS,
                meter_interval=METER_INTERVAL,
                pause_seconds=PAUSE_SECONDS,
                max_current_a=32.0,
                ev_factory=equal_ev,
                clock_aligned_interval=int(METER_INTERVAL),
            )
            chargers.append(cp)
            receiver = asyncio.ensure_future(cp.start())
            try:
                await cp.run_behaviour()
            finally:
                receiver.cancel()
                for t in cp.tasks:
                    t.cancel()

    for n, identity in enumerate(identities):
        tasks.append(asyncio.ensure_future(one(identity)))
        if n % 20 == 19:
            await asyncio.sleep(0.05)
    over = samples = 0
    fairness: list[float] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    next_fair = loop.time() + 1.0
    while loop.time() < end:
        await asyncio.sleep(0.1)
        now = loop.time()
        running = [s for cp in chargers for s in cp.sessions.values() if s.transaction_id is not None]
        drawn = sum(s.draw_a for s in running)  # every EV draws on all three phases alike
        samples += 1
        over += drawn > LIMIT_A + 1e-6
        if now >= next_fair:
            next_fair += 1.0
            settled = [
                s.offered_a
                for s in running
                if s.updated_at
                and now - s.updated_at < 5
                and s.started_at
                and (datetime.now(UTC) - s.started_at).total_seconds() > 2
            ]
            if len(settled) >= 2:
                fairness.append(jain(settled))
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"over_actual": over / samples if samples else None, "jain": fairness}


def main() -> int:
    from sqlalchemy import select

    from cms.db import Database
    from cms.idtags import add_id_tag
    from cms.loadmgmt.site_limits import set_limit
    from cms.loadmgmt.view import site_current
    from cms.models import Station, User

    os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
    identities = [f"LM-{i:03d}" for i in range(CHARGERS)]
    logs = Path(tempfile.mkdtemp(prefix="bench-loadmgmt-"))
    server = CmsServer(1, logs, database="cms_bench_loadmgmt")
    server.prepare(identities, "BENCH")
    db = Database(server.url)
    with db.uow() as uow:
        s = uow.session
        owner = s.scalar(select(User).where(User.email == "bench@example.com"))
        station_id = s.scalar(select(Station.id).where(Station.owner_id == owner.id))
        for identity in identities:
            add_id_tag(s, f"TAG-{identity}", owner=owner)
        set_limit(s, owner, station_id, max_current_a=LIMIT_A)
        uow.commit()
    server.start()
    started = datetime.now(UTC)
    cpu_before = server.figures()["cpu_s"]
    try:
        fleet = asyncio.run(run_fleet(server.port, identities, SECONDS))
        cms_cpu = server.figures()["cpu_s"] - cpu_before
    finally:
        server.stop()
    finished = datetime.now(UTC)
    # The site's draw from the meter values at the chargers' common sampling instants, once every charger has had
    # time for a first sample.
    with db.uow() as uow:
        last = datetime.fromtimestamp(finished.timestamp() // METER_INTERVAL * METER_INTERVAL, UTC)
        series = site_current(
            uow.session, station_id, started + timedelta(seconds=15), last, timedelta(seconds=METER_INTERVAL)
        )
    db.dispose()
    meter_over = sum(1 for a in series["siteA"] if a > LIMIT_A + 1e-6) / max(1, len(series["siteA"]))
    waits: list[float] = []
    runs = profiles = 0
    log_text = (logs / "cms-server.log").read_text(errors="replace")
    warm = (started + timedelta(seconds=WARM_UP)).strftime("%Y-%m-%d %H:%M:%S")
    for m in RUN_LINE.finditer(log_text):
        if m.group(1) < warm:  # the fleet's first boots and starts, all at once, are not the steady state
            continue
        runs += 1
        profiles += int(m.group(4))
        if m.group(5) != "-":
            waits.extend(float(w) for w in m.group(5).split(","))
    result = {
        "bench": "loadmgmt",
        "chargers": CHARGERS,
        "seconds": SECONDS,
        "limit_a": LIMIT_A,
        "reallocations": runs,
        "events": len(waits),
        "profiles_accepted": profiles,
        "cms_cpu_s": round(cms_cpu, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "latency_p50_ms": round(statistics.median(waits) * 1000, 1) if waits else None,
        "latency_p95_ms": round(percentile(waits, 0.95) * 1000, 1) if waits else None,
        "latency_max_ms": round(max(waits) * 1000, 1) if waits else None,
        "over_limit_share_meter": round(meter_over, 4),
        "over_limit_share_actual": round(fleet["over_actual"], 4) if fleet["over_actual"] is not None else None,
        "jain_mean": round(statistics.mean(fleet["jain"]), 4) if fleet["jain"] else None,
        "jain_min": round(min(fleet["jain"]), 4) if fleet["jain"] else None,
        "site_peak_meter_a": max(series["siteA"]) if series["siteA"] else None,
        "logs": str(logs),
    }
    print(json.dumps(result), flush=True)
    with contextlib.suppress(Exception):
        errors = log_text.count("Traceback")
        if errors:
            print(f"{errors} traceback(s) in {logs / 'cms-server.log'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
