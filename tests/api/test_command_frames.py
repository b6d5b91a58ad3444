"""The exact OCPP-J frame a real charger (the ocpp package's ChargePoint) receives for every command the CMS
sends, driven through the commands API: ``[2, "<unique id>", "<Action>", {payload}]`` as text off the WebSocket."""

from __future__ import annotations

import re

import pytest
import requests

from cms.commands import commands_for
from tests.support.commands import SAMPLE_COMMANDS

# What the charger receives for SAMPLE_COMMANDS[action]; "<id>" stands for the call's unique id.
FRAMES = {
    "CancelReservation": '[2,"<id>","CancelReservation",{"reservationId":7}]',
    "ChangeAvailability": '[2,"<id>","ChangeAvailability",{"connectorId":1,"type":"Inoperative"}]',
    "ChangeConfiguration": '[2,"<id>","ChangeConfiguration",{"key":"HeartbeatInterval","value":"120"}]',
    "ClearCache": '[2,"<id>","ClearCache",{}]',
    "ClearChargingProfile": '[2,"<id>","ClearChargingProfile",{"id":1}]',
    "DataTransfer": '[2,"<id>","DataTransfer",{"vendorId":"com.example","messageId":"ping","data":"x"}]',
    "GetCompositeSchedule": '[2,"<id>","GetCompositeSchedule",{"connectorId":1,"duration":3600}]',
    "GetConfiguration": '[2,"<id>","GetConfiguration",{"key":["HeartbeatInterval"]}]',
    "GetDiagnostics": '[2,"<id>","GetDiagnostics",{"location":"ftp://diag.example/upload"}]',
    "GetLocalListVersion": '[2,"<id>","GetLocalListVersion",{}]',
    "RemoteStartTransaction": '[2,"<id>","RemoteStartTransaction",{"idTag":"TAG1","connectorId":1}]',
    "RemoteStopTransaction": '[2,"<id>","RemoteStopTransaction",{"transactionId":1}]',
    "ReserveNow": (
        '[2,"<id>","ReserveNow",{"connectorId":1,"expiryDate":"2030-01-01T00:00:00Z","idTag":"TAG1","reservationId":7}]'
    ),
    "Reset": '[2,"<id>","Reset",{"type":"Soft"}]',
    "SendLocalList": (
        '[2,"<id>","SendLocalList",{"listVersion":2,"updateType":"Full",'
        '"localAuthorizationList":[{"idTag":"TAG1","idTagInfo":{"status":"Accepted"}}]}]'
    ),
    "SetChargingProfile": (
        '[2,"<id>","SetChargingProfile",{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1,'
        '"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute",'
        '"chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16.0}]}}}]'
    ),
    "TriggerMessage": '[2,"<id>","TriggerMessage",{"requestedMessage":"Heartbeat"}]',
    "UnlockConnector": '[2,"<id>","UnlockConnector",{"connectorId":1}]',
    "UpdateFirmware": (
        '[2,"<id>","UpdateFirmware",{"location":"http://fw.example/fw.bin","retrieveDate":"2030-01-01T00:00:00Z"}]'
    ),
}


def _pattern(frame: str) -> re.Pattern:
    # A unique id is a string of 1 to 36 characters (OCPP-J 4.1.3); everything else must match to the byte.
    return re.compile(re.escape(frame).replace(re.escape('"<id>"'), '"([^"]{1,36})"'))


@pytest.fixture
def charger(add_charger, connect):
    add_charger("CP1")
    client = connect("CP1")
    client.boot()
    return client.cp


def test_every_command_of_the_cms_has_its_frame_here():
    assert set(FRAMES) == set(commands_for("1.6")) == set(SAMPLE_COMMANDS)


def test_each_command_reaches_the_charger_as_exactly_this_frame(charger, live_server, owner_token):
    ids = set()
    for action in sorted(FRAMES):
        before = len(charger.frames)
        r = requests.post(
            f"{live_server.url}/api/v1/charge-points/CP1/commands/{action}",
            json=SAMPLE_COMMANDS[action],
            headers={"Authorization": f"Bearer {owner_token}"},
            timeout=20,
        )
        assert r.status_code == 200, (action, r.text)
        received = charger.frames[before:]
        assert len(received) == 1, (action, received)
        match = _pattern(FRAMES[action]).fullmatch(received[0])
        assert match, f"{action}: the charger received {received[0]}"
        ids.add(match.group(1))
    assert len(ids) == len(FRAMES)  # every call has its own unique id
