"""Load management of SOAP chargers: a 1.6-S charger (zeep client, spyne ChargePointService) is managed like a JSON
one; a 1.5-S charger (no smart charging in 1.5) is counted at its maximum and never sent a profile."""

from __future__ import annotations

import pytest

from tests.loadmgmt.test_control import online, settle, tx_default, tx_profile
from tests.soap.chargepoint_server import SoapChargePointServer
from tests.soap.charger import SoapCharger


@pytest.fixture
def soap_server():
    servers = []

    def _start(version: str) -> SoapChargePointServer:
        servers.append(SoapChargePointServer(version))
        return servers[-1]

    yield _start
    for s in servers:
        s.stop()


def profiles(server: SoapChargePointServer) -> list[dict]:
    return [payload for name, payload, _ in server.received if name == "SetChargingProfile"]


def test_a_soap_16_charger_is_managed(
    live_server, add_charger, add_tag, station, set_limit, manager, soap_server, connect, as_owner
):
    add_charger("SCP", station="Depot")
    add_charger("CP1", station="Depot")
    add_tag("T1")
    add_tag("T2")
    set_limit(32)
    server = soap_server("1.6")
    scp = SoapCharger(live_server.url, "SCP", "1.6", endpoint_url=server.url)
    assert scp.boot()["status"] == "Accepted"
    scp.status(1, "Available")
    settle(manager)
    assert profiles(server) == [tx_default(16.0)]
    cp1 = online(connect, "CP1")
    t1 = cp1.start(1, "T1").transaction_id
    settle(manager)
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 32.0)
    t2 = scp.start(1, "T2")["transactionId"]
    settle(manager)
    # The SOAP charger hears the same OCPP 1.6 payload (through its WSDL's types) as a JSON one.
    # (Its fallback went to 0 A when T1 took the whole limit: T2 waited for its share.)
    assert profiles(server)[1:] == [tx_default(0.0), tx_profile(1, t2, 16.0)]
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 16.0)
    scp.stop(t2, 1000)
    settle(manager)
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 32.0)
    assert len(profiles(server)) == 3
    load = as_owner.get(f"/stations/{station}/load").get_json()
    assert [(a["chargePointId"], a["limitA"], a["managed"]) for a in load["allocations"]] == [("CP1", 32.0, True)]


def test_a_soap_15_charger_is_counted_at_its_maximum(
    live_server, add_charger, add_tag, station, set_limit, manager, soap_server, connect, as_owner
):
    add_charger("S15", station="Depot")
    add_charger("CP1", station="Depot")
    assert as_owner.patch("/charge-points/S15", {"maxCurrentA": 20}).status_code == 200
    add_tag("T1")
    add_tag("T2")
    set_limit(32)
    server = soap_server("1.5")
    s15 = SoapCharger(live_server.url, "S15", "1.5", endpoint_url=server.url)
    assert s15.boot()["status"] == "Accepted"
    cp1 = online(connect, "CP1")
    t2 = s15.start(1, "T2")["transactionId"]
    t1 = cp1.start(1, "T1").transaction_id
    settle(manager)
    assert cp1.cp.calls("SetChargingProfile")[-1] == tx_profile(1, t1, 12.0)
    assert server.received == []  # nothing a 1.5 charger would not understand
    load = as_owner.get(f"/stations/{station}/load").get_json()
    assert {a["chargePointId"]: (a["transactionId"], a["limitA"], a["managed"]) for a in load["allocations"]} == {
        "S15": (t2, 20.0, False),
        "CP1": (t1, 12.0, True),
    }
