"""Simulated electric vehicles for the simulator: an on-board charger (maximum current, phases) and a battery
that fills up, its demand tapering near full (constant current to ``taper_from_soc``, then falling linearly to
nothing at 100 %). Pure: the caller advances time. Below 6 A offered (IEC 61851) an EV does not charge at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NOMINAL_VOLTAGE = 230.0
IEC_MIN_CURRENT_A = 6.0


@dataclass
class SimulatedEV:
    """One EV plugged in: what it can take, and its battery."""

    model: str
    max_current_a: float  # its on-board charger's limit per phase
    phases: int  # 1, 2 or 3
    capacity_wh: float
    soc: float  # state of charge, percent
    taper_from_soc: float = 80.0

    def demand_a(self) -> float:
        """Amperes per phase it would draw if offered without limit."""
        if self.soc >= 100.0:
            return 0.0
        if self.soc <= self.taper_from_soc:
            return self.max_current_a
        return self.max_current_a * (100.0 - self.soc) / (100.0 - self.taper_from_soc)

    def draw_a(self, offered_a: float) -> float:
        """What it draws when ``offered_a`` per phase is offered: its demand, capped; nothing under 6 A offered."""
        if offered_a < IEC_MIN_CURRENT_A:
            return 0.0
        return min(self.demand_a(), offered_a)

    def charge(
        self, amperes: float, seconds: float, phases: int | None = None, voltage: float = NOMINAL_VOLTAGE
    ) -> float:
        """Take ``amperes`` per phase on ``phases`` (default: all of its own) for ``seconds``; returns the energy
        in Wh (and fills the battery)."""
        wh = amperes * voltage * (phases or self.phases) * seconds / 3600.0
        self.soc = min(100.0, self.soc + 100.0 * wh / self.capacity_wh)
        return wh


# (model, max A per phase, phases, battery kWh): a mix of what a public site sees.
FLEET = (
    ("compact 1-phase", 16.0, 1, 40.0),
    ("plug-in hybrid", 16.0, 1, 12.0),
    ("sedan 3x16 A", 16.0, 3, 75.0),
    ("van 3x32 A", 32.0, 3, 90.0),
    ("hatchback 1x32 A", 32.0, 1, 58.0),
    ("SUV 2x16 A", 16.0, 2, 77.0),
)


def random_ev(rng: random.Random | None = None) -> SimulatedEV:
    """An EV from ``FLEET`` arriving with 10..95 % charge (some near full, so tapering shows)."""
    rng = rng or random.Random()
    model, max_a, phases, kwh = rng.choice(FLEET)
    return SimulatedEV(model, max_a, phases, kwh * 1000.0, rng.uniform(10.0, 95.0))


__all__ = ["FLEET", "IEC_MIN_CURRENT_A", "NOMINAL_VOLTAGE", "SimulatedEV", "random_ev"]
