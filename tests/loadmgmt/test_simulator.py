"""The simulator's chargers under load management: each charges its own card, they share the station's limit, and
their meter values show them drawing their shares (never more than the limit together)."""

from __future__ import annotations

import time
from datetime import datetime

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


def test_a_clock_aligned_sample_reports_what_was_drawn_at_its_instant():
    """Meter values of many chargers add up to the site's draw only when they are taken at the same instants:
    with ClockAlignedDataInterval, a sample is stamped with the aligned instant and reports what the EV drew
    then, even when the charger's limit changed between the instant and the moment the sample is sent."""
    import asyncio

    from simulator.charger import Session, SimulatedChargePoint

    sent: list = []
    instants: list[float] = []

    async def scenario() -> None:
        cp = SimulatedChargePoint("X", None, clock_aligned_interval=5, max_current_a=16.0)

        async def call(message, suppress=True):
            sent.append(message)

        cp.call = call  # type: ignore[method-assign]
        sess = Session(1, "T", SimulatedEV("3x32 A", 32.0, 3, 1e9, 20.0), transaction_id=7)
        cp.sessions[1] = sess
        sess.set_draw(32.0)
        instant = time.time()
        instants.append(instant)
        time.sleep(0.01)
        sess.set_draw(10.0)  # a lower limit arrived just after the instant
        await cp.send_meter_values(1, "Sample.Clock", instant)

    asyncio.run(scenario())
    (message,) = sent
    (value,) = message.meter_value
    currents = [float(v["value"]) for v in value["sampledValue"] if v["measurand"] == "Current.Import"]
    assert all(31.6 <= c <= 32.0 for c in currents) and len(currents) == 3
    assert {v["context"] for v in value["sampledValue"]} == {"Sample.Clock"}
    stamped = datetime.fromisoformat(value["timestamp"].replace("Z", "+00:00")).timestamp()
    assert abs(stamped - instants[0]) < 0.002  # the instant's, not the sending's
