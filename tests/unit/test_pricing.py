"""Time-of-day pricing with hand-computed costs: band edges, midnight, daylight-saving changes, validation of bands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cms.errors import InvalidInput
from cms.tariff import price_energy, validate_bands, zone

DAY_NIGHT = [
    {"start": "06:00", "end": "22:00", "pricePerKwh": 0.40, "label": "day"},
    {"start": "22:00", "end": "06:00", "pricePerKwh": 0.25, "label": "night"},
]
OFF_PEAK_TO_3 = [
    {"start": "00:00", "end": "03:00", "pricePerKwh": 0.20, "label": "off"},
    {"start": "03:00", "end": "24:00", "pricePerKwh": 0.40, "label": "peak"},
]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _price(bands, tz, curve):
    p = price_energy(validate_bands(bands), zone(tz), curve)
    return p.total_minor, [(b["label"], b["energyWh"], b["costMinor"]) for b in p.breakdown]


def test_one_reading_interval_split_at_a_band_edge():
    # UTC station; 21:00-23:00 at a steady 10 kW: 10 kWh day (4.00) + 10 kWh night (2.50).
    total, rows = _price(DAY_NIGHT, "UTC", [(utc(2024, 1, 10, 21), 0.0), (utc(2024, 1, 10, 23), 20000.0)])
    assert rows == [("day", 10000.0, 400), ("night", 10000.0, 250)] and total == 650


def test_energy_follows_the_readings_not_the_clock():
    # Most energy before 22:00 (readings at 21:00, 21:50, 22:10): 18 kWh, then 2 kWh over 20 min split 10/10.
    curve = [(utc(2024, 1, 10, 21), 0.0), (utc(2024, 1, 10, 21, 50), 18000.0), (utc(2024, 1, 10, 22, 10), 20000.0)]
    total, rows = _price(DAY_NIGHT, "UTC", curve)
    assert rows == [("day", 19000.0, 760), ("night", 1000.0, 25)] and total == 785


def test_across_midnight_in_the_station_time_zone():
    # Tokyo (UTC+9): 23:00-01:00 local = 14:00-16:00 UTC; bands 00:00-07:00 at 0.10, 07:00-24:00 at 0.30.
    bands = [
        {"start": "00:00", "end": "07:00", "pricePerKwh": 0.10, "label": "cheap"},
        {"start": "07:00", "end": "24:00", "pricePerKwh": 0.30, "label": "normal"},
    ]
    total, rows = _price(bands, "Asia/Tokyo", [(utc(2024, 5, 1, 14), 100.0), (utc(2024, 5, 1, 16), 8100.0)])
    assert rows == [("normal", 4000.0, 120), ("cheap", 4000.0, 40)] and total == 160


def test_wrapping_band_over_two_nights():
    # 20:00 to 08:00 the next day... and on to 23:00: night 22-06 (8 h), day 06-22 split around it.
    start = utc(2024, 1, 10, 20)
    total, rows = _price(DAY_NIGHT, "UTC", [(start, 0.0), (start + timedelta(hours=27), 27000.0)])
    # 20-22 day 2 kWh, 22-06 night 8 kWh, 06-22 day 16 kWh, 22-23 night 1 kWh (1 kW steady)
    assert rows == [("day", 2000.0, 80), ("night", 8000.0, 200), ("day", 16000.0, 640), ("night", 1000.0, 25)]
    assert total == 945


def test_spring_forward_the_skipped_hour_belongs_to_no_band():
    # Berlin, 31 March 2024: 02:00 jumps to 03:00. Local 00:00-04:00 is 3 real hours (23:00-02:00 UTC).
    # Off-peak 00:00-03:00 lasts 2 real hours: 20 kWh x 0.20 = 4.00; peak 03:00-04:00: 10 kWh x 0.40 = 4.00.
    total, rows = _price(OFF_PEAK_TO_3, "Europe/Berlin", [(utc(2024, 3, 30, 23), 0.0), (utc(2024, 3, 31, 2), 30000.0)])
    assert rows == [("off", 20000.0, 400), ("peak", 10000.0, 400)] and total == 800


def test_fall_back_the_repeated_hour_is_charged_twice_at_its_band():
    # Berlin, 27 October 2024: 03:00 goes back to 02:00. Local 00:00-04:00 is 5 real hours (22:00-03:00 UTC).
    # Off-peak lasts 4 real hours: 40 kWh x 0.20 = 8.00; peak 03:00-04:00: 10 kWh x 0.40 = 4.00.
    total, rows = _price(
        OFF_PEAK_TO_3, "Europe/Berlin", [(utc(2024, 10, 26, 22), 0.0), (utc(2024, 10, 27, 3), 50000.0)]
    )
    assert rows == [("off", 40000.0, 800), ("peak", 10000.0, 400)] and total == 1200


def test_band_edge_at_a_skipped_local_time():
    # New York, 10 March 2024, 02:00 -> 03:00; a band edge at 02:30 never happens that night, so the session
    # 01:00-04:00 local (06:00-08:00 UTC, 2 real hours) is cheap until 03:00 local (07:00 UTC), then normal.
    bands = [
        {"start": "00:00", "end": "02:30", "pricePerKwh": 0.10, "label": "cheap"},
        {"start": "02:30", "end": "24:00", "pricePerKwh": 0.30, "label": "normal"},
    ]
    total, rows = _price(bands, "America/New_York", [(utc(2024, 3, 10, 6), 0.0), (utc(2024, 3, 10, 8), 2000.0)])
    assert rows == [("cheap", 1000.0, 10), ("normal", 1000.0, 30)] and total == 40


def test_rounding_half_up_per_band_and_free_stations():
    total, rows = _price(
        [{"start": "00:00", "end": "24:00", "pricePerKwh": 0.3333}],
        "UTC",
        [(utc(2024, 1, 1), 0.0), (utc(2024, 1, 1, 1), 1500.0)],
    )
    assert rows == [("", 1500.0, 50)] and total == 50  # 1.5 x 0.3333 = 0.49995 -> 0.50
    free = price_energy([], zone("UTC"), [(utc(2024, 1, 1), 0.0), (utc(2024, 1, 1, 1), 1500.0)])
    assert free.total_minor == 0 and free.energy_wh == 1500.0 and free.breakdown == []


@pytest.mark.parametrize(
    "bands, message",
    [
        ([{"start": "00:00", "end": "12:00", "pricePerKwh": 0.3}], "uncovered"),
        (
            [
                {"start": "00:00", "end": "24:00", "pricePerKwh": 0.3},
                {"start": "10:00", "end": "11:00", "pricePerKwh": 1},
            ],
            "overlap",
        ),
        ([{"start": "25:00", "end": "24:00", "pricePerKwh": 0.3}], "time of day"),
        ([{"start": "0:00", "end": "24:00", "pricePerKwh": 0.3}], "HH:MM"),
        ([{"start": "00:00", "end": "24:00", "pricePerKwh": -1}], "between"),
        ([{"start": "00:00", "end": "24:00", "pricePerKwh": 0.1234567}], "decimals"),
        ([{"start": "00:00", "end": "24:00", "pricePerKwh": "abc"}], "not a number"),
        ([{"start": "08:00", "end": "08:00", "pricePerKwh": 0.3}], "same time"),
        ("all day", "list"),
    ],
)
def test_invalid_bands_are_refused(bands, message):
    with pytest.raises(InvalidInput, match=message):
        validate_bands(bands)
