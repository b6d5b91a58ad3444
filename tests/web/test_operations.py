"""Operations from the charger page: forms for the commands of the charger's version, answers shown."""

from __future__ import annotations

import json
import re

from ocpp.exceptions import NotSupportedError


def text(r) -> str:
    return r.get_data(as_text=True)


def answer(r) -> dict:
    return json.loads(re.search(r"answered:</p><pre>(.*?)</pre>", text(r), re.S).group(1).replace("&#34;", '"'))


def test_every_command_form_renders(owner_browser, add_charger):
    from cms.commands import commands_for

    add_charger("CP-F")
    for action in sorted(commands_for("1.6")):
        r = owner_browser.get(f"/dashboard/chargers/CP-F/commands/{action}", headers={"HX-Request": "true"})
        assert r.status_code == 200, action
        assert f'data-action="{action}"' in text(r) and "csrf_token" in text(r)
    r = owner_browser.get("/dashboard/chargers/CP-F/commands/Nonsense")
    assert r.status_code == 422


def test_reset_reaches_the_charger_and_the_answer_is_shown(owner_browser, history):
    cp = history["charger"].cp
    r = owner_browser.post("/dashboard/chargers/CP-A1/commands/Reset", {"type": "Soft"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and answer(r) == {"status": "Accepted"}
    assert cp.received[-1] == ("Reset", {"type": "Soft"})
    assert "<html" not in text(r)


def test_typed_fields_lists_and_json_are_converted(owner_browser, history):
    cp = history["charger"].cp
    r = owner_browser.post(
        "/dashboard/chargers/CP-A1/commands/GetConfiguration", {"key": "HeartbeatInterval, MeterValueSampleInterval"}
    )
    assert r.status_code == 200
    assert cp.received[-1] == ("GetConfiguration", {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]})
    assert answer(r)["configurationKey"][0]["key"] == "HeartbeatInterval"
    profile = {
        "chargingProfileId": 5,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]},
    }
    r = owner_browser.post(
        "/dashboard/chargers/CP-A1/commands/SetChargingProfile",
        {"connectorId": "1", "csChargingProfiles": json.dumps(profile)},
    )
    assert r.status_code == 200, text(r)
    assert cp.received[-1][0] == "SetChargingProfile"
    r = owner_browser.post(
        "/dashboard/chargers/CP-A1/commands/GetDiagnostics",
        {"location": "ftp://example.com/up", "startTime": "2024-05-01T10:00"},
    )
    assert r.status_code == 200
    assert cp.received[-1][1]["start_time"] == "2024-05-01T10:00:00Z"


def test_bad_input_is_explained_and_nothing_is_sent(owner_browser, history):
    cp = history["charger"].cp
    before = len(cp.received)
    r = owner_browser.post("/dashboard/chargers/CP-A1/commands/Reset", {"type": "Sideways"})
    assert r.status_code == 422 and "Invalid request" in text(r)
    r = owner_browser.post(
        "/dashboard/chargers/CP-A1/commands/ChangeAvailability", {"connectorId": "x", "type": "Inoperative"}
    )
    assert r.status_code == 422
    r = owner_browser.post(
        "/dashboard/chargers/CP-A1/commands/SetChargingProfile", {"connectorId": "1", "csChargingProfiles": "{not json"}
    )
    assert r.status_code == 422
    r = owner_browser.post("/dashboard/chargers/CP-A1/commands/UnlockConnector", {})
    assert r.status_code == 422 and "required" in text(r)
    assert len(cp.received) == before


def test_charger_errors_and_silence_are_shown(rt, owner_browser, history):
    cp = history["charger"].cp
    cp.answers["ClearCache"] = NotSupportedError("no cache here")
    r = owner_browser.post("/dashboard/chargers/CP-A1/commands/ClearCache", {})
    assert r.status_code == 502 and "NotSupported" in text(r) and "no cache here" in text(r)
    rt.dispatcher.timeout = 0.5
    cp.delay["ClearCache"] = 2
    r = owner_browser.post("/dashboard/chargers/CP-A1/commands/ClearCache", {})
    assert r.status_code == 504 and "did not answer" in text(r)


def test_not_connected_is_409(owner_browser, add_charger):
    add_charger("CP-OFF")
    r = owner_browser.post("/dashboard/chargers/CP-OFF/commands/Reset", {"type": "Soft"})
    assert r.status_code == 409 and "not connected" in text(r)


def test_local_list_from_my_tags(owner_browser, history):
    cp = history["charger"].cp
    r = owner_browser.post("/dashboard/chargers/CP-A1/commands/SendLocalList", {"from_tags": "1", "updateType": "Full"})
    assert r.status_code == 200, text(r)
    action, sent = cp.received[-1]
    assert action == "SendLocalList" and sent["update_type"] == "Full"
    assert sorted(t["id_tag"] for t in sent["local_authorization_list"]) == ["TAG-A", "TAG-A2"]
