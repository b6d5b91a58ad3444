"""OCPP-J answers only CALLs (issue 12): a CALLRESULT or CALLERROR for an id never sent, a malformed frame that
is recognisably not a CALL, and a frame of an unknown message type get no answer at all; what may be a CALL
still hears its error."""

from __future__ import annotations

import json

import pytest
import websockets.sync.client as ws_client

from cms.handlers import Charger
from json_ws.connection import OcppConnection
from json_ws.endpoint import handle_frame

IDENTITY = "FRAMES1"

NOT_CALLS = [
    '[3, "never-sent", {}]',  # a CALLRESULT for an id we never sent
    '[4, "never-sent", "GenericError", "", {}]',  # a CALLERROR for one
    '[3, "x"]',  # malformed CALLRESULT: no payload
    '[3, "x", "not an object"]',
    '[4, "x"]',  # malformed CALLERROR
    '[4, "x", "GenericError"]',
    '[3, "' + "u" * 37 + '", {}]',  # unique id too long, of a CALLRESULT
    "[3, 5, {}]",  # unique id not a string
    "[4]",
    "[3]",
    '[7, "x", "Heartbeat", {}]',  # an unknown message type: ignored (OCPP-J 1.6, 4.1.3)
    '["3", "x", {}]',
]
STILL_ANSWERED = [
    ("not json", "FormationViolation"),
    ('{"not": "an array"}', "FormationViolation"),
    ("[]", "FormationViolation"),
    ("[2]", "FormationViolation"),
    ('[2, "x", "Heartbeat"]', "ProtocolError"),
    ('[2, "x", "Heartbeat", "payload"]', "TypeConstraintViolation"),
    ('[2, "' + "u" * 37 + '", "Heartbeat", {}]', "FormationViolation"),
]


@pytest.fixture
def booted(rt, add_charger):
    add_charger(IDENTITY)
    rt.pipeline.handle(Charger(IDENTITY), "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    return rt


def send(rt, text: str) -> str | None:
    return handle_frame(rt, OcppConnection(None, IDENTITY, "test"), Charger(IDENTITY), text)


@pytest.mark.parametrize("text", NOT_CALLS)
def test_frames_that_are_not_calls_get_no_answer(booted, text):
    assert send(booted, text) is None


@pytest.mark.parametrize(("text", "code"), STILL_ANSWERED)
def test_frames_that_may_be_calls_are_still_answered(booted, text, code):
    reply = json.loads(send(booted, text))
    assert reply[0] == 4 and reply[2] == code


def test_no_answer_on_the_wire_either(booted, live_server):
    """Over a real WebSocket: after every non-CALL frame, the next thing the charger hears is the answer to
    its Heartbeat, nothing else."""
    with ws_client.connect(f"{live_server.ws_url}/ocpp/{IDENTITY}", subprotocols=["ocpp1.6"], open_timeout=5) as ws:
        for n, text in enumerate(NOT_CALLS):
            ws.send(text)
            ws.send(json.dumps([2, f"hb-{n}", "Heartbeat", {}]))
            reply = json.loads(ws.recv(timeout=10))
            assert reply[:2] == [3, f"hb-{n}"], (text, reply)
