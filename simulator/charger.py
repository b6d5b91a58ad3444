"""Simulated OCPP 1.6-J chargers for demos and load: the ``ocpp`` package's ChargePoint on a ``websockets`` client.

Each charger boots, reports every connector's status, heartbeats at the interval the CMS answered, and runs
charging sessions back to back on connector 1 (Authorize, StartTransaction, periodic MeterValues,
StopTransaction). It answers every CMS-initiated 1.6 command the way a well-behaved charger does: a
RemoteStartTransaction starts a session, a RemoteStopTransaction stops it, GetConfiguration returns its
configuration, TriggerMessage sends the message asked for, and so on. ``run()`` is what ``cms simulate`` calls.

Smart charging: each session charges an EV (``simulated_ev``: its own maximum current and phases, a battery
that fills up and tapers) at the lower of its demand and what the charger offers; the offer follows the
TxProfile / TxDefaultProfile / ChargePointMaxProfile the charger holds (``charger_profiles``: stack levels,
validity, schedule periods, A or W), re-evaluated when a profile arrives or is cleared, at each meter sample and
when a session starts or ends. Meter values report ``Current.Import`` per phase, ``Current.Offered``,
``Power.Active.Import``, the energy register (integrated from what was drawn) and the EV's SoC; the connector
status follows (Charging, SuspendedEVSE under 6 A offered, SuspendedEV when the EV takes nothing).
GetCompositeSchedule answers from the profiles held.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from websockets.typing import Subprotocol

from .charger_profiles import (
    Offer,
    Profile,
    ProfileRejected,
    ProfileStore,
    Transaction,
    charge_point_level,
    composite_schedule,
    connector_offer,
)
from .simulated_ev import IEC_MIN_CURRENT_A, NOMINAL_VOLTAGE, SimulatedEV, random_ev

log = logging.getLogger(__name__)

NUMBER_OF_CONNECTORS = 2
MAX_STACK_LEVEL = 8
SUBPROTOCOL = Subprotocol("ocpp1.6")
# (key, readonly, initial value) of the configuration a GetConfiguration returns.
_CONFIGURATION = (
    ("HeartbeatInterval", False, "300"),
    ("MeterValueSampleInterval", False, "10"),
    ("ClockAlignedDataInterval", False, "0"),
    ("MeterValuesSampledData", False, "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"),
    ("ConnectionTimeOut", False, "60"),
    ("LocalAuthorizeOffline", False, "true"),
    ("LocalAuthListEnabled", False, "true"),
    ("AuthorizeRemoteTxRequests", False, "false"),
    ("NumberOfConnectors", True, str(NUMBER_OF_CONNECTORS)),
    (
        "SupportedFeatureProfiles",
        True,
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
    ),
    ("ChargeProfileMaxStackLevel", True, str(MAX_STACK_LEVEL)),
    ("LocalAuthListMaxLength", True, "1000"),
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_at(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def three_phase_sample(energy_wh: float, power_w: float, soc: float, context: str = "Sample.Periodic") -> list[dict]:
    """One meter reading of a three-phase charger: energy register, power, current and voltage per phase, SoC."""
    per_phase_a = power_w / (3 * 230.0)
    values = [
        {
            "value": f"{energy_wh:.0f}",
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
            "context": context,
            "location": "Outlet",
        },
        {"value": f"{power_w:.0f}", "measurand": "Power.Active.Import", "unit": "W", "context": context},
        {"value": "16", "measurand": "Current.Offered", "unit": "A", "context": context},
    ]
    for phase in ("L1", "L2", "L3"):
        values.append(
            {
                "value": f"{per_phase_a + random.uniform(-0.2, 0.2):.2f}",
                "measurand": "Current.Import",
                "phase": phase,
                "unit": "A",
                "context": context,
            }
        )
    for phase in ("L1-N", "L2-N", "L3-N"):
        values.append(
            {
                "value": f"{230 + random.uniform(-3, 3):.1f}",
                "measurand": "Voltage",
                "phase": phase,
                "unit": "V",
                "context": context,
            }
        )
    values.append({"value": f"{soc:.0f}", "measurand": "SoC", "unit": "Percent", "location": "EV", "context": context})
    return values


def meter_sample(
    energy_wh: float,
    currents_a: tuple[float, float, float],
    offered_a: float,
    soc: float | None,
    context: str = "Sample.Periodic",
    voltage: float = NOMINAL_VOLTAGE,
) -> list[dict]:
    """One meter reading of a connector: energy register, power, current offered and drawn per phase, voltage
    per phase and (with an EV) its SoC. Power is what the currents draw at the nominal voltage."""
    power_w = sum(currents_a) * voltage
    values = [
        {
            "value": f"{energy_wh:.0f}",
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
            "context": context,
            "location": "Outlet",
        },
        {"value": f"{power_w:.0f}", "measurand": "Power.Active.Import", "unit": "W", "context": context},
        {"value": f"{offered_a:.1f}", "measurand": "Current.Offered", "unit": "A", "context": context},
    ]
    for phase, amperes in zip(("L1", "L2", "L3"), currents_a, strict=True):
        values.append(
            {"value": f"{amperes:.2f}", "measurand": "Current.Import", "phase": phase, "unit": "A", "context": context}
        )
    for phase in ("L1-N", "L2-N", "L3-N"):
        values.append(
            {
                "value": f"{voltage + random.uniform(-3, 3):.1f}",
                "measurand": "Voltage",
                "phase": phase,
                "unit": "V",
                "context": context,
            }
        )
    if soc is not None:
        values.append(
            {"value": f"{soc:.0f}", "measurand": "SoC", "unit": "Percent", "location": "EV", "context": context}
        )
    return values


@dataclass
class ChargerMemory:
    """What a charger keeps across reconnections and reboots: its energy registers and charging profiles."""

    energy_wh: dict[int, float] = field(
        default_factory=lambda: {
            c: float(random.randint(1_000_000, 5_000_000)) for c in range(1, NUMBER_OF_CONNECTORS + 1)
        }
    )
    profiles: ProfileStore = field(default_factory=lambda: ProfileStore(NUMBER_OF_CONNECTORS, MAX_STACK_LEVEL))


@dataclass
class Session:
    """A charging session on one connector, with the EV plugged in and what it draws now."""

    connector_id: int
    id_tag: str
    ev: SimulatedEV
    transaction_id: int | None = None
    started_at: datetime | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str = "Local"
    offered_a: float = 0.0  # per phase, what the charger offers (0 until the transaction runs)
    draw_a: float = 0.0  # per phase, what the EV takes
    phases: int = 3  # phases it draws on (its own, or fewer when a profile's numberPhases says so)
    updated_at: float = 0.0  # event-loop time up to which energy was counted
    ended: bool = False  # the EV stopped drawing; its StopTransaction is on its way
    # (wall-clock time, draw_a from then on): the latest changes, so a clock-aligned sample reports what was drawn
    # at its instant, not a moment later.
    draws: list[tuple[float, float]] = field(default_factory=list)

    def set_draw(self, amperes: float) -> None:
        if not self.draws or self.draws[-1][1] != amperes:
            self.draws = [*self.draws[-7:], (time.time(), amperes)]
        self.draw_a = amperes

    def draw_at(self, at: float) -> float:
        """What it drew at wall-clock time ``at`` (its current draw when no change is recorded before then)."""
        for changed_at, amperes in reversed(self.draws):
            if changed_at <= at:
                return amperes
        return self.draw_a if not self.draws else 0.0


class SimulatedChargePoint(OcppChargePoint):
    """A charger with state: configuration, connectors, sessions, reservations, local list, profiles."""

    def __init__(
        self,
        identity: str,
        connection,
        *,
        id_tag: str = "DEMO",
        session_seconds: float = 60.0,
        meter_interval: float = 10.0,
        pause_seconds: float = 5.0,
        max_current_a: float = 32.0,
        ev_factory: Callable[[], SimulatedEV] | None = None,
        memory: ChargerMemory | None = None,
        clock_aligned_interval: int = 0,
    ):
        super().__init__(identity, connection, response_timeout=30)
        memory = memory or ChargerMemory()
        self.id_tag = id_tag
        self.session_seconds = session_seconds
        self.pause_seconds = pause_seconds
        self.max_current_a = max_current_a  # per connector, per phase (its cable and contactor)
        self.ev_factory = ev_factory or random_ev
        # key: [readonly, value], as GetConfiguration reports them
        self.configuration: dict[str, list[bool | str]] = {k: [ro, v] for k, ro, v in _CONFIGURATION}
        self.configuration["MeterValueSampleInterval"][1] = str(int(max(1, meter_interval)))
        self.configuration["ClockAlignedDataInterval"][1] = str(max(0, clock_aligned_interval))
        self.meter_interval = meter_interval
        self.heartbeat_interval = 300.0
        self.accepted = asyncio.Event()
        self.status = {c: "Available" for c in range(NUMBER_OF_CONNECTORS + 1)}
        self.energy_wh = memory.energy_wh
        self.sessions: dict[int, Session] = {}
        self.reservations: dict[int, int] = {}  # reservationId -> connectorId
        self.local_list_version = 0
        self.local_list: dict[str, dict] = {}
        self.profiles = memory.profiles
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
            res = await self.call(
                call.BootNotification(
                    charge_point_vendor="OpenCMS",
                    charge_point_model="Simulator-3P22",
                    charge_point_serial_number=f"SIM-{self.id}",
                    firmware_version="1.6.0-sim",
                    meter_type="SimMeter 3P",
                    meter_serial_number=f"M-{self.id}",
                ),
                suppress=False,
            )
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
        await self.call(
            call.StatusNotification(
                connector_id=connector_id, error_code=error_code, status=status, timestamp=now_iso()
            ),
            suppress=False,
        )

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            await self.call(call.Heartbeat(), suppress=False)

    # ----- drawing current under the profiles held

    def transactions(self) -> dict[int, Transaction]:
        """The running transactions by connector (what TxProfiles and Relative schedules refer to)."""
        return {
            c: Transaction(s.transaction_id, s.started_at)
            for c, s in self.sessions.items()
            if s.transaction_id is not None and s.started_at is not None
        }

    def _count_energy(self) -> None:
        """Add what each session drew since it was last counted to the register and its EV's battery."""
        now = asyncio.get_running_loop().time()
        for c, sess in self.sessions.items():
            if sess.updated_at and sess.draw_a > 0:
                self.energy_wh[c] += sess.ev.charge(sess.draw_a, now - sess.updated_at, sess.phases)
            sess.updated_at = now

    def apply_limits(self) -> None:
        """Count energy so far, then set what each running session is offered and draws now (its connector's
        profile, the ChargePointMaxProfile shared among connectors) and report status changes."""
        self._count_energy()
        now = datetime.now(UTC)
        txs = self.transactions()
        running = [s for c, s in sorted(self.sessions.items()) if c in txs and not s.stop.is_set() and not s.ended]
        offers = [
            connector_offer(
                self.profiles,
                s.connector_id,
                now,
                txs[s.connector_id],
                self.max_current_a,
                s.ev.phases,
                NOMINAL_VOLTAGE,
            )
            for s in running
        ]
        wants = [
            Offer(min(o.amperes, s.ev.demand_a()) if o.amperes >= IEC_MIN_CURRENT_A else 0.0, o.phases)
            for s, o in zip(running, offers, strict=True)
        ]
        level = charge_point_level(self.profiles.charge_point_limit(now, now), wants, NOMINAL_VOLTAGE)
        for sess, offer in zip(running, offers, strict=True):
            sess.offered_a = offer.amperes if level is None else min(offer.amperes, level)
            sess.phases = offer.phases
            sess.set_draw(sess.ev.draw_a(sess.offered_a))
            status = (
                "SuspendedEVSE"
                if sess.offered_a < IEC_MIN_CURRENT_A
                else "SuspendedEV"
                if sess.draw_a == 0
                else "Charging"
            )
            if self.status.get(sess.connector_id) != status:
                self.status[sess.connector_id] = status
                self.spawn(self.send_status(sess.connector_id, status))

    def _currents(self, sess: Session | None, at: float | None = None) -> tuple[float, float, float]:
        """Per-phase currents of a session (L1 first) now or at wall-clock time ``at``, a hair under what it draws
        as a real meter shows."""
        draw = 0.0 if sess is None else sess.draw_a if at is None else sess.draw_at(at)
        if sess is None or draw <= 0:
            return (0.0, 0.0, 0.0)
        drawn = [max(0.0, draw - random.uniform(0, min(0.05, draw / 100))) for _ in range(3)]
        return tuple(drawn[p] if p < sess.phases else 0.0 for p in range(3))  # type: ignore[return-value]

    @property
    def clock_aligned_interval(self) -> float:
        """ClockAlignedDataInterval in seconds (0: samples every MeterValueSampleInterval instead)."""
        try:
            return max(0.0, float(self.configuration["ClockAlignedDataInterval"][1]))
        except ValueError:
            return 0.0

    async def send_meter_values(
        self, connector_id: int, context: str = "Sample.Periodic", at: float | None = None
    ) -> None:
        """A MeterValues of the connector now, or (``at``, wall-clock time) of that instant."""
        self.apply_limits()
        sess = self.sessions.get(connector_id)
        stamp = now_iso() if at is None else _iso_at(at)
        await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=sess.transaction_id if sess else None,
                meter_value=[
                    {
                        "timestamp": stamp,
                        "sampledValue": meter_sample(
                            self.energy_wh[connector_id],
                            self._currents(sess, at),
                            sess.offered_a if sess else 0.0,
                            sess.ev.soc if sess else None,
                            context,
                        ),
                    }
                ],
            ),
            suppress=False,
        )

    async def charge(
        self,
        connector_id: int,
        id_tag: str,
        *,
        authorize: bool = True,
        reservation_id: int | None = None,
        tx_profile: dict | None = None,
    ) -> None:
        """One session: (Authorize), Preparing, StartTransaction, charging with MeterValues, Stop, Available.

        ``tx_profile`` is the ``chargingProfile`` of a RemoteStartTransaction: installed for this transaction.
        """
        if connector_id in self.sessions:
            return
        sess = Session(connector_id, id_tag, self.ev_factory())
        self.sessions[connector_id] = sess
        try:
            if authorize:
                res = await self.call(call.Authorize(id_tag=id_tag), suppress=False)
                if res.id_tag_info["status"] != "Accepted":
                    log.info("%s: %s not authorised (%s)", self.id, id_tag, res.id_tag_info["status"])
                    return
            await self.send_status(connector_id, "Preparing")
            started_at = datetime.now(UTC)
            started = await self.call(
                call.StartTransaction(
                    connector_id=connector_id,
                    id_tag=id_tag,
                    meter_start=int(self.energy_wh[connector_id]),
                    timestamp=now_iso(),
                    reservation_id=reservation_id,
                ),
                suppress=False,
            )
            self.reservations = {r: c for r, c in self.reservations.items() if c != connector_id}
            sess.transaction_id, sess.started_at = started.transaction_id, started_at
            if started.id_tag_info["status"] != "Accepted":
                sess.stop_reason = "DeAuthorized"
                sess.stop.set()
            else:
                if tx_profile is not None:
                    self._install_profile(connector_id, tx_profile)
                self.apply_limits()
            loop = asyncio.get_running_loop()
            ends_at = loop.time() + self.session_seconds
            while not sess.stop.is_set() and loop.time() < ends_at:
                # Every MeterValueSampleInterval; or, with a ClockAlignedDataInterval, at the instants that are
                # whole multiples of it, as every charger of the site does (their samples add up).
                aligned = self.clock_aligned_interval
                at = (math.floor(time.time() / aligned) + 1) * aligned if aligned else None
                wait = self.meter_interval if at is None else at - time.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sess.stop.wait(), max(0.0, min(wait, ends_at - loop.time())))
                if not sess.stop.is_set() and loop.time() < ends_at:
                    await self.send_meter_values(connector_id, "Sample.Clock" if at else "Sample.Periodic", at)
            self._count_energy()
            sess.set_draw(0.0)
            sess.offered_a = 0.0
            sess.ended = True  # a profile or meter sample while the stop is sent must not revive it
            if sess.stop_reason == "Local":
                sess.stop_reason = "EVDisconnected" if not sess.stop.is_set() else "Local"
            await self.call(
                call.StopTransaction(
                    meter_stop=int(self.energy_wh[connector_id]),
                    timestamp=now_iso(),
                    transaction_id=sess.transaction_id,
                    reason=sess.stop_reason,
                    id_tag=id_tag,
                    transaction_data=[
                        {
                            "timestamp": now_iso(),
                            "sampledValue": meter_sample(
                                self.energy_wh[connector_id], (0.0, 0.0, 0.0), 0.0, sess.ev.soc, "Transaction.End"
                            ),
                        }
                    ],
                ),
                suppress=False,
            )
            await self.send_status(connector_id, "Finishing")
        finally:
            self.sessions.pop(connector_id, None)
            self.profiles.end_transaction(connector_id)
            with contextlib.suppress(RuntimeError):
                self.apply_limits()  # the others may draw more now
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
        if charging_profile is not None and charging_profile.get("charging_profile_purpose") != "TxProfile":
            return call_result.RemoteStartTransaction(status="Rejected")  # OCPP 1.6, 5.11: a TxProfile only
        authorize = self.configuration["AuthorizeRemoteTxRequests"][1] == "true"
        self.spawn(self.charge(target, id_tag, authorize=authorize, tx_profile=charging_profile))
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
        known = [
            {"key": k, "readonly": self.configuration[k][0], "value": self.configuration[k][1]}
            for k in wanted
            if k in self.configuration
        ]
        unknown = [k for k in wanted if k not in self.configuration]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **_):
        entry = self.configuration.get(key)
        if entry is None:
            return call_result.ChangeConfiguration(status="NotSupported")
        if entry[0]:
            return call_result.ChangeConfiguration(status="Rejected")
        if key == "ClockAlignedDataInterval" and not (value.isdigit() and int(value) >= 0):
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
        known = {
            "BootNotification",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StatusNotification",
        }
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

    def _install_profile(self, connector_id: int, payload: dict) -> bool:
        try:
            self.profiles.install(Profile.from_ocpp(connector_id, payload, datetime.now(UTC)), self.transactions())
        except ProfileRejected as e:
            log.info("%s: charging profile refused: %s", self.id, e)
            return False
        return True

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict, **_):
        accepted = self._install_profile(connector_id, cs_charging_profiles)
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    @after("SetChargingProfile")
    def after_set_charging_profile(self, **_):
        self._limits_changed()

    def _limits_changed(self) -> None:
        """The new limit holds from now on, not from the next meter sample; a session whose draw changed by 1 A
        or more reports it at once (as chargers send meter values on a change of charging state), so the CMS's
        view of the site follows its profiles."""
        before = {c: s.draw_a for c, s in self.sessions.items()}
        self.apply_limits()
        for c, sess in self.sessions.items():
            if sess.transaction_id is not None and not sess.ended and abs(sess.draw_a - before.get(c, 0.0)) >= 1.0:
                self.spawn(self.send_meter_values(c, "Other"))

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,  # noqa: A002
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_,
    ):
        cleared = self.profiles.clear(id, connector_id, charging_profile_purpose, stack_level)
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @after("ClearChargingProfile")
    def after_clear_charging_profile(self, **_):
        self._limits_changed()

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_):
        if connector_id not in self.status or duration < 0:
            return call_result.GetCompositeSchedule(status="Rejected")
        start = datetime.now(UTC).replace(microsecond=0)
        schedule = composite_schedule(
            self.profiles,
            connector_id,
            start,
            duration,
            charging_rate_unit or "A",
            transactions=self.transactions(),
            hardware_max_a=self.max_current_a,
            voltage=NOMINAL_VOLTAGE,
            phases={c: s.ev.phases for c, s in self.sessions.items()},
        )
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=schedule["start_schedule"],
            charging_schedule=schedule,
        )


# --------------------------------------------------------------------------------------------------------
# Running chargers
# --------------------------------------------------------------------------------------------------------


def charger_url(url: str, identity: str) -> str:
    """``ws://host:port`` gets the contract's ``/ocpp/`` path; a URL with a path is used as the prefix."""
    base = url.rstrip("/")
    if base.count("/") <= 2:  # scheme://host[:port] only
        base += "/ocpp"
    return f"{base}/{identity}"


async def run_charger(
    url: str, identity: str, *, password: str | None = None, retry_seconds: float = 5.0, **behaviour
) -> None:
    """Keep one simulated charger connected (reconnecting after failures) until cancelled; its energy registers
    and charging profiles survive reconnections."""
    memory = ChargerMemory()
    headers = {}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()
    while True:
        try:
            async with websockets.connect(
                charger_url(url, identity), subprotocols=[SUBPROTOCOL], additional_headers=headers, open_timeout=20
            ) as ws:
                cp = SimulatedChargePoint(identity, ws, memory=memory, **behaviour)
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


async def run_async(
    url: str,
    identities: list[str],
    *,
    id_tag: str = "DEMO",
    session_seconds: float = 60.0,
    meter_interval: float = 10.0,
    duration: float | None = None,
    password: str | None = None,
    max_current_a: float = 32.0,
    ev_factory: Callable[[], SimulatedEV] | None = None,
) -> None:
    """Run ``identities`` as simulated chargers against ``url`` for ``duration`` seconds (None: forever).

    ``id_tag`` is the card every charger charges, or with ``{identity}`` in it each charger's own (so that they
    all charge at once); ``max_current_a`` is each connector's maximum per phase; ``ev_factory`` makes the EV of
    each session (default: a random one of ``simulated_ev.FLEET``).
    """
    tasks = []
    for n, identity in enumerate(identities):
        tasks.append(
            asyncio.ensure_future(
                run_charger(
                    url,
                    identity,
                    password=password,
                    id_tag=id_tag.format(identity=identity) if "{identity}" in id_tag else id_tag,
                    session_seconds=session_seconds,
                    meter_interval=meter_interval,
                    max_current_a=max_current_a,
                    ev_factory=ev_factory,
                )
            )
        )
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


def run(
    url: str,
    identities: list[str],
    *,
    id_tag: str = "DEMO",
    session_seconds: float = 60.0,
    meter_interval: float = 10.0,
    duration: float | None = None,
    password: str | None = None,
) -> None:
    """Blocking entry point of ``cms simulate``: chargers ``identities`` at ``url`` (``ws://host:port``)."""
    if not identities:
        raise ValueError("at least one charger identity is needed")
    if session_seconds <= 0 or meter_interval <= 0:
        raise ValueError("session_seconds and meter_interval must be positive")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_async(
                url,
                identities,
                id_tag=id_tag,
                session_seconds=session_seconds,
                meter_interval=meter_interval,
                duration=duration,
                password=password,
            )
        )


__all__ = [
    "ChargerMemory",
    "SimulatedChargePoint",
    "charger_url",
    "meter_sample",
    "run",
    "run_async",
    "run_charger",
    "three_phase_sample",
]
