"""The simulator's chargers under load management: each charges its own card, they share the station's limit, and
their meter values show them drawing their shares (never more than the limit together)."""

from __future__ import annotations

import time

from simulator.simulated_ev import SimulatedEV
from tests.support.simulator import SimulatorThread


def test_simulated_chargers_share_the_limit(live_server, add_charger, add_tag, set_limit, station, as_owner):
    ids = ["SIM-1", "SIM-2", "SIM-3"]
    for identity in ids:
        add_charger(identity, station="Depot")
        add_tag(f"TAG-{identity}")
    set_limit(30)
    sim = SimulatorThread(
        live_server.ws_url,
        ids,
        id_tag="TAG-{identity}",
        session_seconds=60,
        meter_interval=1,
        ev_factory=lambda: SimulatedEV("3x32 A", 32.0, 3, 1e9, 20.0),
    )
    try:
        deadline = time.monotonic() + 30
        load = {}
        while time.monotonic() < deadline:
            load = as_owner.get(f"/stations/{station}/load").get_json()
            drawn = sorted((a["chargePointId"], a["limitA"], a["measuredA"]) for a in load["allocations"])
            if len(drawn) == 3 and all(lim == 10.0 and m is not None and 9.5 <= m <= 10.0 for _, lim, m in drawn):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the chargers did not settle on 10 A each: {load}")
        assert load["allocatedA"] == 30.0 and load["measuredA"] <= 30.0
    finally:
        sim.stop()
