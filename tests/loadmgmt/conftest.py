"""Load management fixtures: quick re-allocation, a station with a limit, chargers on it."""

from __future__ import annotations

import pytest

from tests.support.operator import (  # noqa: F401  (the operator API's fixtures)
    Api,
    as_admin,
    as_other,
    as_owner,
    other_owner,
)


@pytest.fixture
def app_config(app_config):
    # Re-allocate quickly after an event (the default 0.2 s would only slow the tests down).
    return {**app_config, "loadmgmt_debounce": 0.02, "loadmgmt_meter_debounce": 0.05}


@pytest.fixture
def manager(rt):
    return rt.load_manager


@pytest.fixture
def station(client, owner_token) -> int:
    """The owner's station "Depot" (chargers added with ``add_charger(..., station="Depot")`` join it)."""
    r = Api(client, owner_token).post("/stations", {"name": "Depot"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


@pytest.fixture
def set_limit(client, owner_token, station, manager):
    def _set(max_current_a: float, **kw) -> dict:
        r = Api(client, owner_token).put(f"/stations/{station}/load-limit", {"maxCurrentA": max_current_a, **kw})
        assert r.status_code == 200, r.get_json()
        assert manager.wait_idle()
        return r.get_json()

    return _set
