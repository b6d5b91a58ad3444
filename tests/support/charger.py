"""A real OCPP 1.6-J charger for tests: the ``ocpp`` package's ChargePoint on a ``websockets`` client,
run on its own event loop thread so that synchronous tests can drive it between HTTP requests."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class TestChargePoint(OcppChargePoint):
    """Answers every CMS-initiated 1.6 command. ``answers[action]`` overrides the response payload (a dict,
    or a callable taking the request kwargs); ``received`` records what the CMS sent, ``frames`` every text frame
    as it came off the WebSocket (CMS calls and answers to the charger's own calls)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers: dict = {}
        self.received: list[tuple[str, dict]] = []
        self.frames: list[str] = []
        self.frame_times: list[float] = []  # when each frame arrived (time.monotonic())
        self.delay: dict[str, float] = {}

    async def route_message(self, raw_msg):
        self.frame_times.append(time.monotonic())
        self.frames.append(raw_msg)
        return await super().route_message(raw_msg)

    def _calls(self, action: str) -> list[tuple[float, dict]]:
        decoded = [(t, json.loads(f)) for t, f in zip(list(self.frame_times), list(self.frames), strict=False)]
        return [(t, f[3]) for t, f in decoded if f[0] == 2 and f[2] == action]

    def calls(self, action: str) -> list[dict]:
        """The exact payloads of the CMS's ``action`` calls, in order (camelCase, as on the wire)."""
        return [payload for _, payload in self._calls(action)]

    def last_call_time(self, action: str) -> float:
        """When the CMS's latest ``action`` call arrived."""
        return self._calls(action)[-1][0]

    async def _answer(self, action: str, default: dict, kwargs: dict):
        self.received.append((action, kwargs))
        if action in self.delay:
            await asyncio.sleep(self.delay[action])
        answer = self.answers.get(action, default)
        if callable(answer):
            answer = answer(**kwargs)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @on("Reset")
    async def on_reset(self, **kw):
        return call_result.Reset(**await self._answer("Reset", {"status": "Accepted"}, kw))

    @on("ChangeAvailability")
    async def on_change_availability(self, **kw):
        return call_result.ChangeAvailability(**await self._answer("ChangeAvailability", {"status": "Accepted"}, kw))

    @on("ChangeConfiguration")
    async def on_change_configuration(self, **kw):
        return call_result.ChangeConfiguration(**await self._answer("ChangeConfiguration", {"status": "Accepted"}, kw))

    @on("GetConfiguration")
    async def on_get_configuration(self, **kw):
        default = {
            "configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknown_key": [],
        }
        return call_result.GetConfiguration(**await self._answer("GetConfiguration", default, kw))

    @on("ClearCache")
    async def on_clear_cache(self, **kw):
        return call_result.ClearCache(**await self._answer("ClearCache", {"status": "Accepted"}, kw))

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **kw):
        return call_result.ClearChargingProfile(
            **await self._answer("ClearChargingProfile", {"status": "Accepted"}, kw)
        )

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **kw):
        return call_result.SetChargingProfile(**await self._answer("SetChargingProfile", {"status": "Accepted"}, kw))

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, **kw):
        return call_result.GetCompositeSchedule(
            **await self._answer("GetCompositeSchedule", {"status": "Rejected"}, kw)
        )

    @on("DataTransfer")
    async def on_data_transfer(self, **kw):
        return call_result.DataTransfer(**await self._answer("DataTransfer", {"status": "Accepted"}, kw))

    @on("GetDiagnostics")
    async def on_get_diagnostics(self, **kw):
        return call_result.GetDiagnostics(**await self._answer("GetDiagnostics", {"file_name": "diag.log"}, kw))

    @on("UpdateFirmware")
    async def on_update_firmware(self, **kw):
        return call_result.UpdateFirmware(**await self._answer("UpdateFirmware", {}, kw))

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kw):
        return call_result.GetLocalListVersion(**await self._answer("GetLocalListVersion", {"list_version": 0}, kw))

    @on("SendLocalList")
    async def on_send_local_list(self, **kw):
        return call_result.SendLocalList(**await self._answer("SendLocalList", {"status": "Accepted"}, kw))

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **kw):
        return call_result.RemoteStartTransaction(
            **await self._answer("RemoteStartTransaction", {"status": "Accepted"}, kw)
        )

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **kw):
        return call_result.RemoteStopTransaction(
            **await self._answer("RemoteStopTransaction", {"status": "Accepted"}, kw)
        )

    @on("ReserveNow")
    async def on_reserve_now(self, **kw):
        return call_result.ReserveNow(**await self._answer("ReserveNow", {"status": "Accepted"}, kw))

    @on("CancelReservation")
    async def on_cancel_reservation(self, **kw):
        return call_result.CancelReservation(**await self._answer("CancelReservation", {"status": "Accepted"}, kw))

    @on("TriggerMessage")
    async def on_trigger_message(self, **kw):
        return call_result.TriggerMessage(**await self._answer("TriggerMessage", {"status": "Accepted"}, kw))

    @on("UnlockConnector")
    async def on_unlock_connector(self, **kw):
        return call_result.UnlockConnector(**await self._answer("UnlockConnector", {"status": "Unlocked"}, kw))


class ChargerClient:
    """Connects a :class:`TestChargePoint` to ``ws_url``/``identity`` and offers blocking calls."""

    def __init__(self, ws_url: str, identity: str, password: str | None = None, subprotocols=("ocpp1.6",)):
        self.identity = identity
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        headers = {}
        if password is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()

        async def _open():
            return await websockets.connect(
                f"{ws_url}/ocpp/{identity}",
                subprotocols=list(subprotocols),
                additional_headers=headers,
                open_timeout=10,
            )

        try:
            self.ws = self._run(_open())
        except BaseException:
            self._stop_loop()
            raise
        self.cp = TestChargePoint(identity, self.ws, response_timeout=15)
        self._runner = asyncio.run_coroutine_threadsafe(self.cp.start(), self._loop)

    def _run(self, coro, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, request, **kw):
        """Send ``request`` (an ``ocpp.v16.call`` dataclass); returns the call_result or raises its CallError."""
        return self._run(self.cp.call(request, suppress=False, **kw))

    def boot(self, vendor: str = "TestVendor", model: str = "TestModel", **kw):
        return self.call(call.BootNotification(charge_point_vendor=vendor, charge_point_model=model, **kw))

    def status(self, connector_id: int, status: str, error_code: str = "NoError", **kw):
        return self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=error_code,
                status=status,
                timestamp=kw.pop("timestamp", now_iso()),
                **kw,
            )
        )

    def start(self, connector_id: int, id_tag: str, meter_start: int = 0, timestamp: str | None = None, **kw):
        return self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=timestamp or now_iso(),
                **kw,
            )
        )

    def stop(self, transaction_id: int, meter_stop: int, id_tag: str | None = None, **kw):
        return self.call(
            call.StopTransaction(
                transaction_id=transaction_id,
                meter_stop=meter_stop,
                timestamp=kw.pop("timestamp", now_iso()),
                id_tag=id_tag,
                **kw,
            )
        )

    def meter(self, connector_id: int, transaction_id: int | None, samples: list[dict], timestamp: str | None = None):
        return self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[{"timestamp": timestamp or now_iso(), "sampledValue": samples}],
            )
        )

    def close(self):
        try:
            self._run(self.ws.close(), timeout=5)
        except Exception:
            pass
        self._runner.cancel()
        self._stop_loop()

    def _stop_loop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
