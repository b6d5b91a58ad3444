"""Tariffs over the API: an owner sets the bands of their own stations, sessions are priced with them."""

from __future__ import annotations

import pytest

from cms.errors import NotFound
from cms.tariff import tariff_bands

DAY_NIGHT = [
    {"start": "06:00", "end": "22:00", "pricePerKwh": 0.40, "label": "day"},
    {"start": "22:00", "end": "06:00", "pricePerKwh": 0.25, "label": "night"},
]


def test_owner_sets_bands_of_own_station_only(rt, owner, station, client, owner_token):
    sid = station("Depot")
    r = client.put(
        f"/api/v1/stations/{sid}/tariff", json={"bands": DAY_NIGHT}, headers={"Authorization": f"Bearer {owner_token}"}
    )
    assert r.status_code == 200 and [b["label"] for b in r.get_json()] == ["day", "night"]
    with rt.db.uow() as uow:
        assert [(b.start_minute, b.end_minute, b.price_per_kwh_micro) for b in tariff_bands(uow.session, sid)] == [
            (360, 1320, 400000),
            (1320, 360, 250000),
        ]
    r = client.put(
        f"/api/v1/stations/{sid}/tariff",
        json={"bands": DAY_NIGHT[:1]},
        headers={"Authorization": f"Bearer {owner_token}"},
    )
    assert r.status_code == 422 and "uncovered" in r.get_json()["message"]
    # Another owner's station looks like no station at all.
    from cms.accounts import create_user
    from cms.tariff import set_tariff_bands

    with rt.db.uow() as uow:
        other = create_user(uow.session, "other@example.com", "other-password", verified=True)
        with pytest.raises(NotFound):
            set_tariff_bands(uow.session, other, sid, DAY_NIGHT)
    detail = client.get(f"/api/v1/stations/{sid}").get_json()
    assert detail["tariff"] == [
        {"start": "06:00", "end": "22:00", "pricePerKwh": 0.4, "label": "day"},
        {"start": "22:00", "end": "06:00", "pricePerKwh": 0.25, "label": "night"},
    ]
