"""Simulated OCPP 1.6-J chargers for demos and load: the ``ocpp`` package's ChargePoint on a ``websockets`` client.

Each charger boots, reports every connector's status, heartbeats at the interval the CMS answered, and runs
charging sessions back to back on connector 1 (Authorize, StartTransaction, periodic three-phase MeterValues,
StopTransaction). It answers every CMS-initiated 1.6 command the way a well-behaved charger does: a
RemoteStartTransaction starts a session, a RemoteStopTransaction stops it, GetConfiguration returns its
configuration, TriggerMessage sends the message asked for, and so on. ``run()`` is what ``cms simulate`` calls.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result

log = logging.getLogger(__name__)

NUMBER_OF_CONNECTORS = 2
SUBPROTOCOL = "ocpp1.6"
# (key, readonly, initial value) of the configuration a GetConfiguration returns.
_CONFIGURATION = (
    ("HeartbeatInterval", False, "300"),
    ("MeterValueSampleInterval", False, "10"),
    ("MeterValuesSampledData", False,
     "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"),
    ("ConnectionTimeOut", False, "60"),
    ("LocalAuthorizeOffline", False, "true"),
    ("LocalAuthListEnabled", False, "true"),
    ("AuthorizeRemoteTxRequests", False, "false"),
    ("NumberOfConnectors", True, str(NUMBER_OF_CONNECTORS)),
    ("SupportedFeatureProfiles", True, "Core,FirmwareManagement,LocalAuthListManagement,Reservation,"
                                       "SmartCharging,RemoteTrigger"),
    ("ChargeProfileMaxStackLevel", True, "8"),
    ("LocalAuthListMaxLength", True, "1000"),
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def three_phase_sample(energy_wh: float, power_w: float, soc: float, context: str = "Sample.Periodic") -> list[dict]:
    """One meter reading of a three-phase charger: energy register, power, current and voltage per phase, SoC."""
    per_phase_a = power_w / (3 * 230.0)
    values = [
        {"value": f"{energy_wh:.0f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh",
         "context": context, "location": "Outlet"},
        {"value": f"{power_w:.0f}", "measurand": "Power.Active.Import", "unit": "W", "context": context},
        {"value": "16", "measurand": "Current.Offered", "unit": "A", "context": context},
    ]
    for phase in ("L1", "L2", "L3"):
        values.append({"value": f"{per_phase_a + random.uniform(-0.2, 0.2):.2f}", "measurand": "Current.Import",
                       "phase": phase, "unit": "A", "context": context})
    for phase in ("L1-N", "L2-N", "L3-N"):
        values.append({"value": f"{230 + random.uniform(-3, 3):.1f}", "measurand": "Voltage", "phase": phase,
                       "unit": "V", "context": context})
    values.append({"value": f"{soc:.0f}", "measurand": "SoC", "unit": "Percent", "location": "EV",
                   "context": context})
    return values


@dataclass
class Session:
    """A charging session on one connector."""

    connector_id: int
    id_tag: str
    transaction_id: int | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str = "Local"


class SimulatedChargePoint(OcppChargePoint):
    """A charger with state: configuration, connectors, sessions, reservations, local list, profiles."""

    def __init__(self, identity: str, connection, *, id_tag: str = "DEMO", session_seconds: float = 60.0,
                 meter_interval: float = 10.0, pause_seconds: float = 5.0, power_w: float = 11000.0):
        super().__init__(identity, connection, response_timeout=30)
        self.id_tag = id_tag
        self.session_seconds = session_seconds
        self.pause_seconds = pause_seconds
        self.power_w = power_w
        self.configuration = {k: [ro, v] for k, ro, v in _CONFIGURATION}
        self.configuration["MeterValueSampleInterval"][1] = str(int(max(1, meter_interval)))
        self.meter_interval = meter_interval
        self.heartbeat_interval = 300.0
        self.accepted = asyncio.Event()
        self.status = {c: "Available" for c in range(NUMBER_OF_CONNECTORS + 1)}
        self.energy_wh = {c: random.randint(1_000_000, 5_000_000) for c in range(1, NUMBER_OF_CONNECTORS + 1)}
        self.sessions: dict[int, Session] = {}
        self.reservations: dict[int, int] = {}  # reservationId -> connectorId
        self.local_list_version = 0
        self.local_list: dict[str, dict] = {}
        self.profiles: dict[int, dict] = {}
        self.tasks: set[asyncio.Task] = set()

    # ----- charger-initiated behaviour -----

    def spawn(self, coro) -> asyncio.Task:
        """Run ``coro`` in the background; keep a reference so it is not garbage-collected mid-flight."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def boot(self) -> None:
        """BootNotification until Accepted (Pending/Rejected: retry after the interval the CMS gave)."""
        while True:
            res = await self.call(call.BootNotification(
                charge_point_vendor="OpenCMS", charge_point_model="Simulator-3P22",
                charge_point_serial_number=f"SIM-{self.id}", firmware_version="1.6.0-sim",
                meter_type="SimMeter 3P", meter_serial_number=f"M-{self.id}"), suppress=False)
            interval = float(res.interval or 0) or 60.0
            if res.status == "Accepted":
                self.heartbeat_interval = interval
                self.configuration["HeartbeatInterval"][1] = str(int(interval))
                self.accepted.set()
                return
            log.info("%s: boot %s, retrying in %.0f s", self.id, res.status, interval)
            await asyncio.sleep(interval)

    async def send_status(self, connector_id: int, status: str, error_code: str = "NoError") -> None:
        self.status[connector_id] = status
        await self.call(call.StatusNotification(connector_id=connector_id, error_code=error_code, status=status,
                                                timestamp=now_iso()), suppress=False)

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            await self.call(call.Heartbeat(), suppress=False)

    async def send_meter_values(self, connector_id: int, context: str = "Sample.Periodic") -> None:
        sess = self.sessions.get(connector_id)
        power = self.power_w if sess and self.status.get(connector_id) == "Charging" else 0.0
        await self.call(call.MeterValues(
            connector_id=connector_id, transaction_id=sess.transaction_id if sess else None,
            meter_value=[{"timestamp": now_iso(), "sampledValue": three_phase_sample(
                self.energy_wh[connector_id], power, self._soc(connector_id), context)}]), suppress=False)

    def _soc(self, connector_id: int) -> float:
        return 20.0 + (self.energy_wh[connector_id] / 1000.0) % 75.0

    async def charge(self, connector_id: int, id_tag: str, *, authorize: bool = True,
                     reservation_id: int | None = None) -> None:
        """One session: (Authorize), Preparing, StartTransaction, Charging with MeterValues, Stop, Available."""
        if connector_id in self.sessions:
            return
        sess = Session(connector_id, id_tag)
        self.sessions[connector_id] = sess
        try:
            if authorize:
                res = await self.call(call.Authorize(id_tag=id_tag), suppress=False)
                if res.id_tag_info["status"] != "Accepted":
                    log.info("%s: %s not authorised (%s)", self.id, id_tag, res.id_tag_info["status"])
                    return
            await self.send_status(connector_id, "Preparing")
            started = await self.call(call.StartTransaction(
                connector_id=connector_id, id_tag=id_tag, meter_start=int(self.energy_wh[connector_id]),
                timestamp=now_iso(), reservation_id=reservation_id), suppress=False)
            self.reservations = {r: c for r, c in self.reservations.items() if c != connector_id}
            sess.transaction_id = started.transaction_id
            if started.id_tag_info["status"] != "Accepted":
                sess.stop_reason = "DeAuthorized"
                sess.stop.set()
            else:
                await self.send_status(connector_id, "Charging")
            loop = asyncio.get_running_loop()
            ends_at = loop.time() + self.session_seconds
            last = loop.time()
            while not sess.stop.is_set() and loop.time() < ends_at:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sess.stop.wait(), min(self.meter_interval, ends_at - loop.time()))
                now = loop.time()
                if self.status.get(connector_id) == "Charging":
                    self.energy_wh[connector_id] += self.power_w * (now - last) / 3600.0
                last = now
                if not sess.stop.is_set() and now < ends_at:
                    await self.send_meter_values(connector_id)
            if sess.stop_reason == "Local":
                sess.stop_reason = "EVDisconnected" if not sess.stop.is_set() else "Local"
            await self.call(call.StopTransaction(
                meter_stop=int(self.energy_wh[connector_id]), timestamp=now_iso(),
                transaction_id=sess.transaction_id, reason=sess.stop_reason, id_tag=id_tag,
                transaction_data=[{"timestamp": now_iso(), "sampledValue": three_phase_sample(
                    self.energy_wh[connector_id], 0.0, self._soc(connector_id), "Transaction.End")}]),
                suppress=False)
            await self.send_status(connector_id, "Finishing")
        finally:
            self.sessions.pop(connector_id, None)
            if self.status.get(connector_id) not in ("Unavailable", "Reserved"):
                with contextlib.suppress(Exception):
                    await self.send_status(connector_id, "Available")

    async def sessions_back_to_back(self) -> None:
        """Connector 1 charges the simulator's tag again and again, with a short pause between sessions."""
        while True:
            await asyncio.sleep(self.pause_seconds * random.uniform(0.5, 1.5))
            if self.status.get(1) == "Available" and 1 not in self.sessions:
                await self.charge(1, self.id_tag)

    async def run_behaviour(self) -> None:
        """Boot, announce every connector, then heartbeat and charge until cancelled."""
        await self.boot()
        for connector_id in range(NUMBER_OF_CONNECTORS + 1):
            await self.send_status(connector_id, self.status[connector_id])
        await asyncio.gather(self.heartbeats(), self.sessions_back_to_back())

    # ----- CMS-initiated commands -----

    def _free_connector(self, connector_id: int | None) -> int | None:
        candidates = [connector_id] if connector_id else range(1, NUMBER_OF_CONNECTORS + 1)
        for c in candidates:
            if c in self.status and c and self.status[c] in ("Available", "Preparing") and c not in self.sessions:
                return c
        return None

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, charging_profile=None, **_):
        target = self._free_connector(connector_id)
        if target is None:
            return call_result.RemoteStartTransaction(status="Rejected")
        authorize = self.configuration["AuthorizeRemoteTxRequests"][1] == "true"
        self.spawn(self.charge(target, id_tag, authorize=authorize))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int, **_):
        for sess in self.sessions.values():
            if sess.transaction_id == transaction_id:
                sess.stop_reason = "Remote"
                sess.stop.set()
                return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @on("ReserveNow")
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_):
        if connector_id not in self.status:
            return call_result.ReserveNow(status="Rejected")
        if connector_id and (connector_id in self.sessions or self.status[connector_id] == "Charging"):
            return call_result.ReserveNow(status="Occupied")
        if connector_id and self.status[connector_id] == "Unavailable":
            return call_result.ReserveNow(status="Unavailable")
        self.reservations[reservation_id] = connector_id
        return call_result.ReserveNow(status="Accepted")

    @after("ReserveNow")
    def after_reserve_now(self, connector_id: int, reservation_id: int, **_):
        if self.reservations.get(reservation_id) == connector_id and connector_id:
            self.spawn(self.send_status(connector_id, "Reserved"))

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **_):
        connector_id = self.reservations.pop(reservation_id, None)
        if connector_id is None:
            return call_result.CancelReservation(status="Rejected")
        if connector_id and self.status.get(connector_id) == "Reserved":
            self.status[connector_id] = "Available"
            self.spawn(self.send_status(connector_id, "Available"))
        return call_result.CancelReservation(status="Accepted")

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **_):
        wanted = key or list(self.configuration)
        known = [{"key": k, "readonly": self.configuration[k][0], "value": self.configuration[k][1]}
                 for k in wanted if k in self.configuration]
        unknown = [k for k in wanted if k not in self.configuration]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **_):
        entry = self.configuration.get(key)
        if entry is None:
            return call_result.ChangeConfiguration(status="NotSupported")
        if entry[0]:
            return call_result.ChangeConfiguration(status="Rejected")
        if key in ("HeartbeatInterval", "MeterValueSampleInterval"):
            try:
                seconds = int(value)
            except ValueError:
                return call_result.ChangeConfiguration(status="Rejected")
            if seconds <= 0:
                return call_result.ChangeConfiguration(status="Rejected")
            if key == "HeartbeatInterval":
                self.heartbeat_interval = float(seconds)
            else:
                self.meter_interval = float(seconds)
        entry[1] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None, **_):
        known = {"BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
                 "MeterValues", "StatusNotification"}
        if requested_message not in known:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and connector_id not in self.status:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    def after_trigger_message(self, requested_message: str, connector_id: int | None = None, **_):
        if connector_id is not None and connector_id not in self.status:
            return
        if requested_message == "BootNotification":
            self.spawn(self.boot())
        elif requested_message == "Heartbeat":
            self.spawn(self.call(call.Heartbeat()))
        elif requested_message == "StatusNotification":
            targets = [connector_id] if connector_id is not None else list(self.status)
            for c in targets:
                self.spawn(self.send_status(c, self.status[c]))
        elif requested_message == "MeterValues":
            for c in [connector_id] if connector_id else range(1, NUMBER_OF_CONNECTORS + 1):
                self.spawn(self.send_meter_values(c, context="Trigger"))
        elif requested_message == "DiagnosticsStatusNotification":
            self.spawn(self.call(call.DiagnosticsStatusNotification(status="Idle")))
        elif requested_message == "FirmwareStatusNotification":
            self.spawn(self.call(call.FirmwareStatusNotification(status="Idle")))

    @on("Reset")
    def on_reset(self, type: str, **_):  # noqa: A002 - the OCPP field name
        return call_result.Reset(status="Accepted")

    @after("Reset")
    async def after_reset(self, type: str, **_):  # noqa: A002
        reason = "SoftReset" if type == "Soft" else "HardReset"
        for sess in list(self.sessions.values()):
            sess.stop_reason = reason
            sess.stop.set()
        while self.sessions:
            await asyncio.sleep(0.1)
        self.accepted.clear()
        await self.boot()
        for c in list(self.status):
            await self.send_status(c, self.status[c] if self.status[c] == "Unavailable" else "Available")

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str, **_):  # noqa: A002
        if connector_id not in self.status:
            return call_result.ChangeAvailability(status="Rejected")
        busy = connector_id in self.sessions if connector_id else bool(self.sessions)
        return call_result.ChangeAvailability(status="Scheduled" if busy and type == "Inoperative" else "Accepted")

    @after("ChangeAvailability")
    def after_change_availability(self, connector_id: int, type: str, **_):  # noqa: A002
        if connector_id not in self.status:
            return
        status = "Unavailable" if type == "Inoperative" else "Available"
        for c in [connector_id] if connector_id else list(self.status):
            if c not in self.sessions:
                self.spawn(self.send_status(c, status))

    @on("UnlockConnector")
    def on_unlock_connector(self, connector_id: int, **_):
        if connector_id not in self.status or connector_id == 0:
            return call_result.UnlockConnector(status="NotSupported")
        sess = self.sessions.get(connector_id)
        if sess is not None:
            sess.stop_reason = "UnlockCommand"
            sess.stop.set()
        return call_result.UnlockConnector(status="Unlocked")

    @on("ClearCache")
    def on_clear_cache(self, **_):
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_):
        return call_result.DataTransfer(status="UnknownVendorId")

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location: str, **_):
        return call_result.GetDiagnostics(file_name=f"diagnostics-{self.id}.log")

    @after("GetDiagnostics")
    async def after_get_diagnostics(self, location: str, **_):
        for status in ("Uploading", "Uploaded"):
            await asyncio.sleep(0.5)
            await self.call(call.DiagnosticsStatusNotification(status=status))

    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, retrieve_date: str, **_):
        return call_result.UpdateFirmware()

    @after("UpdateFirmware")
    async def after_update_firmware(self, location: str, retrieve_date: str, **_):
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            await asyncio.sleep(0.5)
            await self.call(call.FirmwareStatusNotification(status=status))

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_):
        return call_result.GetLocalListVersion(list_version=self.local_list_version)

    @on("SendLocalList")
    def on_send_local_list(self, list_version: int, update_type: str, local_authorization_list=None, **_):
        entries = local_authorization_list or []
        if len(entries) > int(self.configuration["LocalAuthListMaxLength"][1]):
            return call_result.SendLocalList(status="Failed")
        if update_type == "Differential" and list_version <= self.local_list_version:
            return call_result.SendLocalList(status="VersionMismatch")
        if update_type == "Full":
            self.local_list = {}
        for entry in entries:
            info = entry.get("id_tag_info")
            if info is None:
                self.local_list.pop(entry["id_tag"], None)
            else:
                self.local_list[entry["id_tag"]] = info
        self.local_list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict, **_):
        if connector_id not in self.status:
            return call_result.SetChargingProfile(status="Rejected")
        if cs_charging_profiles.get("charging_profile_purpose") == "TxProfile" and connector_id not in self.sessions:
            return call_result.SetChargingProfile(status="Rejected")
        self.profiles[cs_charging_profiles["charging_profile_id"]] = {"connector_id": connector_id,
                                                                      **cs_charging_profiles}
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,  # noqa: A002
                                  charging_profile_purpose: str | None = None, stack_level: int | None = None, **_):
        matching = [pid for pid, p in self.profiles.items()
                    if (id is None or pid == id)
                    and (connector_id is None or p["connector_id"] == connector_id)
                    and (charging_profile_purpose is None or p.get("charging_profile_purpose")
                         == charging_profile_purpose)
                    and (stack_level is None or p.get("stack_level") == stack_level)]
        for pid in matching:
            del self.profiles[pid]
        return call_result.ClearChargingProfile(status="Accepted" if matching else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, connector_id: int, duration: int, charging_rate_unit: str | None = None,
                                  **_):
        if connector_id not in self.status:
            return call_result.GetCompositeSchedule(status="Rejected")
        limit_a = min([16.0] + [float(period.get("limit", 16.0))
                                for p in self.profiles.values() if p["connector_id"] in (0, connector_id)
                                for period in p.get("charging_schedule", {}).get("charging_schedule_period", [])])
        unit = charging_rate_unit or "A"
        limit = limit_a if unit == "A" else limit_a * 230.0 * 3
        start = datetime.now(UTC).replace(microsecond=0)
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id,
            schedule_start=start.isoformat().replace("+00:00", "Z"),
            charging_schedule={"duration": duration, "start_schedule": start.isoformat().replace("+00:00", "Z"),
                               "charging_rate_unit": unit,
                               "charging_schedule_period": [{"start_period": 0, "limit": limit}]})


# --------------------------------------------------------------------------------------------------------
# Running chargers
# --------------------------------------------------------------------------------------------------------


def charger_url(url: str, identity: str) -> str:
    """``ws://host:port`` gets the contract's ``/ocpp/`` path; a URL with a path is used as the prefix."""
    base = url.rstrip("/")
    if base.count("/") <= 2:  # scheme://host[:port] only
        base += "/ocpp"
    return f"{base}/{identity}"


async def run_charger(url: str, identity: str, *, password: str | None = None, retry_seconds: float = 5.0,
                      **behaviour) -> None:
    """Keep one simulated charger connected (reconnecting after failures) until cancelled."""
    headers = {}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()
    while True:
        try:
            async with websockets.connect(charger_url(url, identity), subprotocols=[SUBPROTOCOL],
                                          additional_headers=headers, open_timeout=20) as ws:
                cp = SimulatedChargePoint(identity, ws, **behaviour)
                receiver = asyncio.ensure_future(cp.start())
                behaviour_task = asyncio.ensure_future(cp.run_behaviour())
                try:
                    done, _ = await asyncio.wait({receiver, behaviour_task}, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()  # re-raise why the charger stopped
                finally:
                    for task in (receiver, behaviour_task, *cp.tasks):
                        task.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a real charger reconnects whatever happened
            log.warning("%s: %s: %s; reconnecting in %.0f s", identity, e.__class__.__name__, e, retry_seconds)
        await asyncio.sleep(retry_seconds * random.uniform(0.8, 1.2))


async def run_async(url: str, identities: list[str], *, id_tag: str = "DEMO", session_seconds: float = 60.0,
                    meter_interval: float = 10.0, duration: float | None = None,
                    password: str | None = None) -> None:
    """Run ``identities`` as simulated chargers against ``url`` for ``duration`` seconds (None: forever)."""
    tasks = []
    for n, identity in enumerate(identities):
        tasks.append(asyncio.ensure_future(run_charger(
            url, identity, password=password, id_tag=id_tag, session_seconds=session_seconds,
            meter_interval=meter_interval)))
        if n % 50 == 49:
            await asyncio.sleep(0.05)  # spread handshakes so a large fleet does not arrive in one burst
    try:
        if duration is None:
            await asyncio.gather(*tasks)
        else:
            await asyncio.wait(tasks, timeout=duration)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run(url: str, identities: list[str], *, id_tag: str = "DEMO", session_seconds: float = 60.0,
        meter_interval: float = 10.0, duration: float | None = None, password: str | None = None) -> None:
    """Blocking entry point of ``cms simulate``: chargers ``identities`` at ``url`` (``ws://host:port``)."""
    if not identities:
        raise ValueError("at least one charger identity is needed")
    if session_seconds <= 0 or meter_interval <= 0:
        raise ValueError("session_seconds and meter_interval must be positive")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_async(url, identities, id_tag=id_tag, session_seconds=session_seconds,
                              meter_interval=meter_interval, duration=duration, password=password))


__all__ = ["SimulatedChargePoint", "charger_url", "run", "run_async", "run_charger", "three_phase_sample"]
