"""The exact SOAP envelope an OCPP 1.5 and an OCPP 1.6 SOAP charger receives for every command the CMS sends,
driven through the commands API. The charger's ChargePointService (spyne, the official WSDL) records each request
body as it came over HTTP; its header and body are compared element by element, in order, with the text of each."""

from __future__ import annotations

import re

import pytest
import requests
from lxml import etree

from cms.commands import commands_for
from soap.mapping15 import MISSING_IN_15
from tests.soap.chargepoint_server import SoapChargePointServer
from tests.soap.charger import SoapCharger
from tests.support.commands import SAMPLE_COMMANDS

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
NAMESPACE = {"1.5": "urn://Ocpp/Cp/2012/06/", "1.6": "urn://Ocpp/Cp/2015/10/"}

# The body each version's charger receives for SAMPLE_COMMANDS[action], written in the version's namespace.
BODIES = {
    "CancelReservation": "<cancelReservationRequest><reservationId>7</reservationId></cancelReservationRequest>",
    "ChangeAvailability": (
        "<changeAvailabilityRequest><connectorId>1</connectorId><type>Inoperative</type></changeAvailabilityRequest>"
    ),
    "ChangeConfiguration": (
        "<changeConfigurationRequest><key>HeartbeatInterval</key><value>120</value></changeConfigurationRequest>"
    ),
    "ClearCache": "<clearCacheRequest/>",
    "ClearChargingProfile": "<clearChargingProfileRequest><id>1</id></clearChargingProfileRequest>",
    "DataTransfer": (
        "<dataTransferRequest><vendorId>com.example</vendorId><messageId>ping</messageId><data>x</data>"
        "</dataTransferRequest>"
    ),
    "GetCompositeSchedule": (
        "<getCompositeScheduleRequest><connectorId>1</connectorId><duration>3600</duration>"
        "</getCompositeScheduleRequest>"
    ),
    "GetConfiguration": "<getConfigurationRequest><key>HeartbeatInterval</key></getConfigurationRequest>",
    "GetDiagnostics": "<getDiagnosticsRequest><location>ftp://diag.example/upload</location></getDiagnosticsRequest>",
    "GetLocalListVersion": "<getLocalListVersionRequest/>",
    "RemoteStartTransaction": (
        "<remoteStartTransactionRequest><connectorId>1</connectorId><idTag>TAG1</idTag></remoteStartTransactionRequest>"
    ),
    "RemoteStopTransaction": (
        "<remoteStopTransactionRequest><transactionId>1</transactionId></remoteStopTransactionRequest>"
    ),
    "ReserveNow": (
        "<reserveNowRequest><connectorId>1</connectorId><expiryDate>2030-01-01T00:00:00.000Z</expiryDate>"
        "<idTag>TAG1</idTag><reservationId>7</reservationId></reserveNowRequest>"
    ),
    "Reset": "<resetRequest><type>Soft</type></resetRequest>",
    "SendLocalList": (
        "<sendLocalListRequest><listVersion>2</listVersion><localAuthorizationList><idTag>TAG1</idTag>"
        "<idTagInfo><status>Accepted</status></idTagInfo></localAuthorizationList><updateType>Full</updateType>"
        "</sendLocalListRequest>"
    ),
    "SetChargingProfile": (
        "<setChargingProfileRequest><connectorId>1</connectorId><csChargingProfiles>"
        "<chargingProfileId>1</chargingProfileId><stackLevel>0</stackLevel>"
        "<chargingProfilePurpose>TxDefaultProfile</chargingProfilePurpose>"
        "<chargingProfileKind>Absolute</chargingProfileKind><chargingSchedule>"
        "<chargingRateUnit>A</chargingRateUnit><chargingSchedulePeriod><startPeriod>0</startPeriod>"
        "<limit>16.0</limit></chargingSchedulePeriod></chargingSchedule></csChargingProfiles>"
        "</setChargingProfileRequest>"
    ),
    "TriggerMessage": "<triggerMessageRequest><requestedMessage>Heartbeat</requestedMessage></triggerMessageRequest>",
    "UnlockConnector": "<unlockConnectorRequest><connectorId>1</connectorId></unlockConnectorRequest>",
    "UpdateFirmware": (
        "<updateFirmwareRequest><retrieveDate>2030-01-01T00:00:00.000Z</retrieveDate>"
        "<location>http://fw.example/fw.bin</location></updateFirmwareRequest>"
    ),
}
# Where OCPP 1.5's schema differs: the order of its elements, and the British spelling of the list.
BODIES_15 = {
    **{action: body for action, body in BODIES.items() if action not in MISSING_IN_15},
    "RemoteStartTransaction": (
        "<remoteStartTransactionRequest><idTag>TAG1</idTag><connectorId>1</connectorId></remoteStartTransactionRequest>"
    ),
    "SendLocalList": (
        "<sendLocalListRequest><updateType>Full</updateType><listVersion>2</listVersion><localAuthorisationList>"
        "<idTag>TAG1</idTag><idTagInfo><status>Accepted</status></idTagInfo></localAuthorisationList>"
        "</sendLocalListRequest>"
    ),
}
BODIES_BY_VERSION = {"1.5": BODIES_15, "1.6": BODIES}


def _shape(el: etree._Element) -> tuple:
    """An element as (qualified name, attributes, text, children), in document order; whitespace-only text is none."""
    text = el.text.strip() if el.text and el.text.strip() else None
    return (el.tag, dict(el.attrib), text, [_shape(child) for child in el])


def _expected_body(version: str, action: str) -> tuple:
    body = BODIES_BY_VERSION[version][action]
    root = re.sub(r"^<(\w+)", rf'<\1 xmlns="{NAMESPACE[version]}"', body)  # the version's namespace throughout
    return _shape(etree.fromstring(root))


@pytest.fixture(params=["1.5", "1.6"])
def soap_charger(request, live_server, add_charger):
    """A registered, booted SOAP charger of the version, whose ChargePointService is a live spyne server."""
    server = SoapChargePointServer(request.param)
    add_charger("SCP")
    SoapCharger(live_server.url, "SCP", request.param, endpoint_url=server.url).boot()
    yield server
    server.stop()


def test_every_command_of_the_cms_has_its_body_here():
    assert set(BODIES) == set(commands_for("1.6"))
    assert set(BODIES_15) == set(commands_for("1.5"))


def test_each_command_reaches_the_charger_as_exactly_this_envelope(soap_charger, live_server, owner_token):
    version = soap_charger.version
    message_ids = set()
    for action in sorted(BODIES_BY_VERSION[version]):
        before = len(soap_charger.envelopes)
        r = requests.post(
            f"{live_server.url}/api/v1/charge-points/SCP/commands/{action}",
            json=SAMPLE_COMMANDS[action],
            headers={"Authorization": f"Bearer {owner_token}"},
            timeout=20,
        )
        assert r.status_code == 200, (action, r.text)
        received = soap_charger.envelopes[before:]
        assert len(received) == 1, (action, received)
        envelope = etree.fromstring(received[0])
        assert [child.tag for child in envelope] == [f"{{{SOAP12}}}Header", f"{{{SOAP12}}}Body"], action
        header, body = envelope
        # Each header once: the charger's identity, then WS-Addressing's Action, MessageID and To.
        assert [h.tag for h in header] == [
            f"{{{NAMESPACE[version]}}}chargeBoxIdentity",
            f"{{{WSA}}}Action",
            f"{{{WSA}}}MessageID",
            f"{{{WSA}}}To",
        ], action
        identity, wsa_action, message_id, to = header
        assert (identity.text, wsa_action.text, to.text) == ("SCP", f"/{action}", soap_charger.url), action
        assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", message_id.text)
        message_ids.add(message_id.text)
        assert [_shape(child) for child in body] == [_expected_body(version, action)], action
    assert len(message_ids) == len(BODIES_BY_VERSION[version])
