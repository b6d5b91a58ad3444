"""Finding chargers, the rules alone: great-circle distance and a connector's availability."""

from __future__ import annotations

import pytest

from cms.search import availability, haversine_km

BERLIN = (52.5200, 13.4050)


def test_haversine_known_distance():
    # Berlin - Paris is about 878 km.
    assert haversine_km(*BERLIN, 48.8566, 2.3522) == pytest.approx(878, abs=3)


@pytest.mark.parametrize(
    "status, connected, reserved, expected",
    [
        ("Available", True, False, "operative"),
        ("Charging", True, False, "in_use"),
        ("Preparing", True, False, "in_use"),
        ("SuspendedEV", True, False, "in_use"),
        ("Reserved", True, False, "reserved"),
        ("Available", True, True, "reserved"),
        ("Faulted", True, False, "inoperative"),
        ("Unavailable", True, False, "inoperative"),
        ("Available", False, False, "inoperative"),
    ],
)
def test_availability(status, connected, reserved, expected):
    assert availability(status, connected, reserved) == expected
