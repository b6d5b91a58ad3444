"""A SOAP charge point for tests: spyne serving the official ChargePointService WSDL of a version on a free
port, answering every CMS-initiated operation and recording what it received."""

from __future__ import annotations

import io
import threading
import time

from spyne.model.fault import Fault
from spyne.server.wsgi import WsgiApplication
from werkzeug.serving import make_server

from soap.convert import from_dict
from soap.schema import load
from soap.service import SoapServices

# A valid answer to every operation, in the shape of each version.
DEFAULT_ANSWERS = {
    "CancelReservation": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "ChangeConfiguration": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "GetCompositeSchedule": {"status": "Rejected"},
    "GetConfiguration": {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["Nope"],
    },
    "GetDiagnostics": {"fileName": "diag.log"},
    "GetLocalListVersion": {"listVersion": 3},
    "RemoteStartTransaction": {"status": "Accepted"},
    "RemoteStopTransaction": {"status": "Accepted"},
    "ReserveNow": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "UpdateFirmware": {},
}
DEFAULT_ANSWERS_15 = {
    **DEFAULT_ANSWERS,
    "UnlockConnector": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted", "hash": "abc"},
}


class _RecordingMiddleware:
    """Keeps each request body exactly as it came over HTTP, then hands it on unchanged."""

    def __init__(self, app, bodies: list[bytes]):
        self.app, self.bodies = app, bodies

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.bodies.append(body)
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


class SoapChargePointServer:
    """``answers[action]`` overrides a response (a dict, or a spyne Fault to raise); ``delay[action]``
    sleeps first; ``received`` lists ``(action, payload, request context)``; ``envelopes`` every request's
    SOAP envelope, as bytes off the wire."""

    def __init__(self, version: str):
        self.version = version
        self.desc = load(version, "ChargePointService")
        self.answers: dict = {}
        self.delay: dict[str, float] = {}
        self.received: list = []
        self.envelopes: list[bytes] = []
        self.services = SoapServices(self.desc, self._handle)
        self._server = make_server(
            "127.0.0.1", 0, _RecordingMiddleware(WsgiApplication(self.services.soap12), self.envelopes), threaded=True
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}/ChargePointService"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, rc, op, payload):
        self.received.append((op.name, payload, rc))
        time.sleep(self.delay.get(op.name, 0))
        defaults = DEFAULT_ANSWERS_15 if self.version == "1.5" else DEFAULT_ANSWERS
        answer = self.answers.get(op.name, defaults[op.name])
        if isinstance(answer, Fault):
            raise answer
        return None if op.response_is_empty else from_dict(op.response_type, answer)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
