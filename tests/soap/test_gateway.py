"""CMS-initiated calls to SOAP chargers through the dispatcher (zeep, official ChargePointService WSDLs)
and the operator API, answered by a spyne charge point built from the same WSDLs."""

from __future__ import annotations

import pytest
import requests
from spyne.model.fault import Fault

from cms.errors import InvalidInput
from cms.gateway import ChargerCallError, ChargerNotConnected, ChargerTimeout
from soap.mapping15 import MISSING_IN_15
from tests.soap.chargepoint_server import SoapChargePointServer
from tests.soap.charger import SoapCharger
from tests.support.commands import SAMPLE_COMMANDS

COMMANDS = SAMPLE_COMMANDS
EXPECTED = {
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "GetCompositeSchedule": {"status": "Rejected"},
    "GetConfiguration": {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["Nope"],
    },
    "GetDiagnostics": {"fileName": "diag.log"},
    "GetLocalListVersion": {"listVersion": 3},
    "UnlockConnector": {"status": "Unlocked"},  # 1.5 "Accepted" is told as 1.6 "Unlocked"
    "UpdateFirmware": {},
}


@pytest.fixture(params=["1.5", "1.6"])
def soap_cp(request, live_server, add_charger):
    """A registered, booted SOAP charger of the version, whose ChargePointService is a live spyne server."""
    server = SoapChargePointServer(request.param)
    add_charger("SCP")
    SoapCharger(live_server.url, "SCP", request.param, endpoint_url=server.url).boot()
    yield server
    server.stop()


def test_every_operation_of_the_version_through_the_dispatcher(rt, soap_cp):
    expected_ops = set(COMMANDS) - (MISSING_IN_15 if soap_cp.version == "1.5" else set())
    assert set(soap_cp.desc.operations) == expected_ops
    for action in sorted(expected_ops):
        answer = rt.dispatcher.call("SCP", action, COMMANDS[action])
        assert answer == EXPECTED.get(action, {"status": "Accepted"}), action
        name, payload, rc = soap_cp.received[-1]
        assert name == action
        assert rc.identity == "SCP"
        assert rc.action == f"/{action}"
        assert rc.message_id and rc.message_id.startswith("urn:uuid:")
    assert len(soap_cp.received) == len(expected_ops)
    got = {name: payload for name, payload, _ in soap_cp.received}
    assert got["Reset"] == {"type": "Soft"}
    assert got["GetConfiguration"] == {"key": ["HeartbeatInterval"]}
    assert got["ReserveNow"]["expiryDate"] == "2030-01-01T00:00:00.000Z"
    list_key = "localAuthorisationList" if soap_cp.version == "1.5" else "localAuthorizationList"
    assert got["SendLocalList"][list_key] == [{"idTag": "TAG1", "idTagInfo": {"status": "Accepted"}}]


def test_actions_missing_in_15_are_refused(rt, soap_cp):
    for action in sorted(MISSING_IN_15):
        if soap_cp.version == "1.5":
            with pytest.raises(InvalidInput, match="1.5"):
                rt.dispatcher.call("SCP", action, COMMANDS[action])
        else:
            rt.dispatcher.call("SCP", action, COMMANDS[action])
    if soap_cp.version == "1.5":
        assert soap_cp.received == []


def test_fault_becomes_call_error(rt, soap_cp):
    soap_cp.answers["Reset"] = Fault("Client.NotSupported", "no resets here")
    with pytest.raises(ChargerCallError) as e:
        rt.dispatcher.call("SCP", "Reset", {"type": "Hard"})
    assert e.value.code == "NotSupported"
    assert "no resets here" in e.value.description


def test_timeout(rt, soap_cp):
    soap_cp.delay["Reset"] = 2.0
    with pytest.raises(ChargerTimeout):
        rt.dispatcher.call("SCP", "Reset", {"type": "Hard"}, timeout=0.5)


def test_unreachable_charger(rt, live_server, add_charger):
    add_charger("GONE")
    SoapCharger(live_server.url, "GONE", "1.6", endpoint_url="http://127.0.0.1:9/nothing").boot()
    with pytest.raises(ChargerNotConnected):
        rt.dispatcher.call("GONE", "Reset", {"type": "Soft"})


def test_soap_charger_without_endpoint_is_not_connected(rt, live_server, add_charger):
    add_charger("NOEP")
    SoapCharger(live_server.url, "NOEP", "1.6", endpoint_url=None).boot()
    with pytest.raises(ChargerNotConnected):
        rt.dispatcher.call("NOEP", "Reset", {"type": "Soft"})


def _post(live_server, token, identity, action, payload):
    return requests.post(
        f"{live_server.url}/api/v1/charge-points/{identity}/commands/{action}",
        json=payload,
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    )


def test_commands_api(live_server, owner_token, soap_cp):
    r = _post(live_server, owner_token, "SCP", "Reset", {"type": "Soft"})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "Accepted"}
    r = _post(live_server, owner_token, "SCP", "UnlockConnector", {"connectorId": 1})
    assert r.status_code == 200 and r.json() == {"status": "Unlocked"}
    r = _post(live_server, owner_token, "SCP", "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert r.status_code == (422 if soap_cp.version == "1.5" else 200), r.text
    soap_cp.answers["ClearCache"] = Fault("Client.InternalError", "cache is stuck")
    r = _post(live_server, owner_token, "SCP", "ClearCache", {})
    assert r.status_code == 502, r.text
    assert "InternalError" in r.text
