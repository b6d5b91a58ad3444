"""What a charger does with the charging profiles it is given (OCPP 1.6 smart charging, the charger's side).

Pure (no I/O, no clock: every function takes the time), so the simulator's behaviour is unit-tested on its own.
The rules, from the OCPP 1.6 specification's smart-charging chapter:

- Purposes. A ``ChargePointMaxProfile`` (connector 0 only) limits the charge point as a whole. A
  ``TxDefaultProfile`` (connector 0: every connector; or one connector) applies to sessions that have no
  ``TxProfile``. A ``TxProfile`` applies to the running transaction of its connector only (refused without one,
  or for another ``transactionId``), and is dropped when that transaction ends.
- Installing. A profile replaces one with the same ``chargingProfileId``, or the same stack level and purpose on
  the same connector. Stack levels run from 0 to ``ChargeProfileMaxStackLevel``.
- Stacking. Within a purpose, the leading profile at a time is the one with the highest stack level that is
  valid then (``validFrom <= t < validTo``) and whose schedule covers that time (started, and within its
  ``duration``); a connector's own ``TxDefaultProfile`` beats connector 0's at the same stack level.
- Schedules. ``Absolute`` starts at ``startSchedule`` (else ``validFrom``, else when received); ``Recurring``
  restarts every day or week from ``startSchedule``; ``Relative`` starts with the transaction (outside one: now).
  The period in force is the last one whose ``startPeriod`` has passed.
- Combining. A connector's limit is the lower of its ``TxProfile`` (else ``TxDefaultProfile``) and the charge
  point's hardware maximum; the ``ChargePointMaxProfile`` caps the sum over connectors. Limits in W become
  amperes per phase as ``W / (voltage x phases drawn)``; ``numberPhases`` (default 3) caps the phases used.
- ``GetCompositeSchedule`` reports that combination over ``[now, now + duration)`` as periods, in A or W.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

PURPOSES = ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile")
KINDS = ("Absolute", "Recurring", "Relative")
RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(weeks=1)}
DEFAULT_PHASES = 3


class ProfileRejected(ValueError):
    """The charger refuses a profile (SetChargingProfile answers ``Rejected``); the message says why."""


@dataclass(frozen=True)
class Period:
    start_period: int  # seconds from the schedule's start
    limit: float  # in the schedule's unit (A per phase, or W)
    number_phases: int | None = None


@dataclass(frozen=True)
class Profile:
    """One installed charging profile (``csChargingProfiles`` of SetChargingProfile) and where it applies."""

    connector_id: int
    profile_id: int
    stack_level: int
    purpose: str
    kind: str
    unit: str
    periods: tuple[Period, ...]
    received_at: datetime
    recurrency: str | None = None
    transaction_id: int | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    start_schedule: datetime | None = None
    duration: int | None = None

    @classmethod
    def from_ocpp(cls, connector_id: int, payload: Mapping, received_at: datetime) -> Profile:
        """Read ``csChargingProfiles`` (snake_case keys as the ``ocpp`` package hands them, or camelCase)."""
        p = _snake(payload)
        schedule = _snake(p.get("charging_schedule") or {})
        try:
            periods = tuple(
                Period(
                    int(x["start_period"]),
                    float(x["limit"]),
                    int(x["number_phases"]) if x.get("number_phases") is not None else None,
                )
                for x in (_snake(x) for x in schedule.get("charging_schedule_period") or [])
            )
            return cls(
                connector_id=int(connector_id),
                profile_id=int(p["charging_profile_id"]),
                stack_level=int(p["stack_level"]),
                purpose=str(p["charging_profile_purpose"]),
                kind=str(p["charging_profile_kind"]),
                unit=str(schedule.get("charging_rate_unit", "")),
                periods=periods,
                received_at=received_at,
                recurrency=p.get("recurrency_kind"),
                transaction_id=p.get("transaction_id"),
                valid_from=_time(p.get("valid_from")),
                valid_to=_time(p.get("valid_to")),
                start_schedule=_time(schedule.get("start_schedule")),
                duration=int(schedule["duration"]) if schedule.get("duration") is not None else None,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ProfileRejected(f"unreadable profile: {e}") from None

    # ----- when it speaks

    def anchor(self, tx_start: datetime | None, now: datetime) -> datetime | None:
        """When its schedule starts (for ``Recurring``: its first occurrence)."""
        if self.kind == "Relative":
            return tx_start or now
        return self.start_schedule or self.valid_from or self.received_at

    def valid(self, t: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= t) and (self.valid_to is None or t < self.valid_to)

    def period_at(self, t: datetime, tx_start: datetime | None, now: datetime) -> Period | None:
        """The schedule period in force at ``t``, or None when the profile says nothing then."""
        if not self.valid(t):
            return None
        anchor = self.anchor(tx_start, now)
        if anchor is None or t < anchor:
            return None
        offset = (t - anchor).total_seconds()
        if self.kind == "Recurring":
            offset %= RECURRENCE[self.recurrency or "Daily"].total_seconds()
        if self.duration is not None and offset >= self.duration:
            return None
        current = None
        for period in self.periods:
            if period.start_period <= offset:
                current = period
        return current

    def changes(self, start: datetime, end: datetime, tx_start: datetime | None, now: datetime) -> set[datetime]:
        """The times in ``[start, end)`` at which what this profile says may change."""
        times = {t for t in (self.valid_from, self.valid_to) if t is not None}
        anchor = self.anchor(tx_start, now)
        if anchor is not None:
            offsets = [p.start_period for p in self.periods] + ([self.duration] if self.duration is not None else [])
            if self.kind == "Recurring":
                every = RECURRENCE[self.recurrency or "Daily"]
                first = max(0, math.floor((start - anchor) / every))
                last = math.ceil((end - anchor) / every)
                for k in range(first, last + 1):
                    times.update(anchor + k * every + timedelta(seconds=o) for o in offsets)
            else:
                times.update(anchor + timedelta(seconds=o) for o in offsets)
        return {t for t in times if start <= t < end}


@dataclass(frozen=True)
class Limit:
    """A limit in force: ``value`` in ``unit`` (A per phase or W) on at most ``number_phases`` phases."""

    value: float
    unit: str
    number_phases: int | None = None

    def phases_used(self, ev_phases: int) -> int:
        return min(ev_phases, self.number_phases or DEFAULT_PHASES)

    def amperes(self, phases: int, voltage: float) -> float:
        """Amperes per phase for something drawing on ``phases`` phases at ``voltage``."""
        if self.unit == "W":
            return self.value / (voltage * max(1, phases))
        return self.value


@dataclass(frozen=True)
class Transaction:
    """A running transaction on a connector: its id and start (for ``Relative`` schedules and ``TxProfile``)."""

    transaction_id: int | None
    started_at: datetime


def _leading(
    profiles: Iterable[Profile],
    t: datetime,
    tx_start: datetime | None,
    now: datetime,
    prefer_connector: int | None = None,
) -> Limit | None:
    best = None
    for p in profiles:
        period = p.period_at(t, tx_start, now)
        if period is None:
            continue
        rank = (p.stack_level, p.connector_id == prefer_connector)
        if best is None or rank > best[0]:
            best = (rank, Limit(period.limit, p.unit, period.number_phases))
    return best[1] if best else None


@dataclass
class ProfileStore:
    """The profiles a charger holds, by connector; ``install`` and ``clear`` answer like a charger."""

    connectors: int
    max_stack_level: int = 8
    profiles: list[Profile] = field(default_factory=list)

    def install(self, profile: Profile, transactions: Mapping[int, Transaction]) -> None:
        """Add ``profile``, replacing what it replaces; ProfileRejected (with the reason) when it is not valid."""
        _check(profile, self.connectors, self.max_stack_level, transactions)
        self.profiles = [
            p
            for p in self.profiles
            if p.profile_id != profile.profile_id
            and not (
                p.stack_level == profile.stack_level
                and p.purpose == profile.purpose
                and p.connector_id == profile.connector_id
            )
        ]
        self.profiles.append(profile)

    def clear(
        self,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """Remove the profiles matching every given criterion (all of them when none is given); any removed?"""

        def matches(p: Profile) -> bool:
            if profile_id is not None:
                return p.profile_id == profile_id
            return (
                (connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        kept = [p for p in self.profiles if not matches(p)]
        removed = len(kept) != len(self.profiles)
        self.profiles = kept
        return removed

    def end_transaction(self, connector_id: int) -> None:
        """A transaction ended: its connector's TxProfiles go (OCPP 1.6, 3.13.1)."""
        self.profiles = [p for p in self.profiles if not (p.purpose == "TxProfile" and p.connector_id == connector_id)]

    def of(self, purpose: str, connectors: Sequence[int]) -> list[Profile]:
        return [p for p in self.profiles if p.purpose == purpose and p.connector_id in connectors]

    # ----- limits in force

    def connector_limit(self, connector_id: int, t: datetime, tx: Transaction | None, now: datetime) -> Limit | None:
        """The TxProfile (during a transaction) or else TxDefaultProfile limit of a connector at ``t``; ``now``
        anchors ``Relative`` schedules outside a transaction."""
        tx_start = tx.started_at if tx else None
        if tx is not None:
            tx_profiles = [
                p
                for p in self.of("TxProfile", [connector_id])
                if p.transaction_id is None or p.transaction_id == tx.transaction_id
            ]
            limit = _leading(tx_profiles, t, tx_start, now)
            if limit is not None:
                return limit
        return _leading(self.of("TxDefaultProfile", [0, connector_id]), t, tx_start, now, prefer_connector=connector_id)

    def charge_point_limit(self, t: datetime, now: datetime) -> Limit | None:
        """The ChargePointMaxProfile limit at ``t`` (the charge point as a whole)."""
        return _leading(self.of("ChargePointMaxProfile", [0]), t, None, now)

    def change_times(
        self,
        connector_ids: Sequence[int],
        start: datetime,
        end: datetime,
        transactions: Mapping[int, Transaction],
        now: datetime,
    ) -> list[datetime]:
        """The times in ``[start, end)`` at which a limit of ``connector_ids`` (or the charge point's) may change."""
        times = {start}
        for c in connector_ids:
            tx = transactions.get(c)
            for p in self.profiles:
                if p.connector_id in (0, c):
                    times |= p.changes(start, end, tx.started_at if tx else None, now)
        return sorted(times)


def _check(p: Profile, connectors: int, max_stack_level: int, transactions: Mapping[int, Transaction]) -> None:
    if not 0 <= p.connector_id <= connectors:
        raise ProfileRejected(f"no connector {p.connector_id}")
    if p.purpose not in PURPOSES or p.kind not in KINDS or p.unit not in ("A", "W"):
        raise ProfileRejected("unknown purpose, kind or rate unit")
    if not 0 <= p.stack_level <= max_stack_level:
        raise ProfileRejected(f"stack level {p.stack_level} outside 0..{max_stack_level}")
    if p.purpose == "ChargePointMaxProfile" and p.connector_id != 0:
        raise ProfileRejected("a ChargePointMaxProfile goes on connector 0")
    if p.purpose == "TxProfile":
        tx = transactions.get(p.connector_id)
        if p.connector_id == 0 or tx is None:
            raise ProfileRejected("a TxProfile needs a transaction on its connector")
        if p.transaction_id is not None and p.transaction_id != tx.transaction_id:
            raise ProfileRejected(f"transaction {p.transaction_id} is not the one on connector {p.connector_id}")
    if p.kind == "Recurring" and p.recurrency not in RECURRENCE:
        raise ProfileRejected("a Recurring profile needs recurrencyKind Daily or Weekly")
    starts = [x.start_period for x in p.periods]
    if not starts or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        raise ProfileRejected("schedule periods must start at 0 and increase")
    if any(x.limit < 0 for x in p.periods) or any(x.number_phases not in (None, 1, 2, 3) for x in p.periods):
        raise ProfileRejected("limits must be 0 or more, numberPhases 1..3")
    if p.duration is not None and p.duration <= 0:
        raise ProfileRejected("duration must be positive")


# ----------------------------------------------------------------------------------------------- the charger


@dataclass(frozen=True)
class Offer:
    """What a connector may draw now: amperes per phase on ``phases`` phases."""

    amperes: float
    phases: int


def connector_offer(
    store: ProfileStore,
    connector_id: int,
    t: datetime,
    tx: Transaction | None,
    hardware_max_a: float,
    ev_phases: int,
    voltage: float,
    now: datetime | None = None,
) -> Offer:
    """The connector's own limit at ``t``: the hardware maximum under its Tx/TxDefault profile.

    ``now`` is when a ``Relative`` schedule starts outside a transaction (default: ``t``, its first period).
    """
    limit = store.connector_limit(connector_id, t, tx, now or t)
    if limit is None:
        return Offer(hardware_max_a, ev_phases)
    phases = limit.phases_used(ev_phases)
    return Offer(min(hardware_max_a, limit.amperes(phases, voltage)), phases)


def charge_point_level(limit: Limit | None, wants: Sequence[Offer], voltage: float) -> float | None:
    """The per-phase current to offer every connector so that a ChargePointMaxProfile holds (None: it does not
    bind). ``wants`` is what each connector would draw (its own limit and its EV's demand).

    Water-filling: connectors wanting less than the level draw what they want, the others the level. In A the
    limit caps the per-phase sum (conservatively: every connector counts on the same phases); in W it caps the
    total power.
    """
    if limit is None or not wants:
        return None
    weights = [1.0 if limit.unit == "A" else voltage * w.phases for w in wants]
    pool = limit.value

    def used(level: float) -> float:
        return sum(wt * min(w.amperes, level) for wt, w in zip(weights, wants, strict=True))

    top = max(w.amperes for w in wants)
    if used(top) <= pool:
        return None
    lo, hi = 0.0, top
    for _ in range(50):  # bisection to well under a milliampere
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if used(mid) <= pool else (lo, mid)
    return lo


def composite_schedule(
    store: ProfileStore,
    connector_id: int,
    start: datetime,
    duration: int,
    unit: str,
    *,
    transactions: Mapping[int, Transaction],
    hardware_max_a: float,
    phases: Mapping[int, int],
    voltage: float,
) -> dict:
    """``chargingSchedule`` of GetCompositeSchedule.conf (snake_case, as the ``ocpp`` package sends it).

    For a connector: the lower of its own limit and the ChargePointMaxProfile, in force over
    ``[start, start + duration)``; for connector 0 the charge point's total (its connectors' limits summed,
    under the ChargePointMaxProfile). ``phases`` is the number of phases each connector draws on (its EV's,
    or 3); W <-> A conversions use it.
    """
    end = start + timedelta(seconds=duration)
    connectors = list(range(1, store.connectors + 1)) if connector_id == 0 else [connector_id]
    periods: list[dict] = []
    for t in store.change_times(connectors, start, end, transactions, start):
        amps_by_connector = []
        for c in connectors:
            offer = connector_offer(
                store, c, t, transactions.get(c), hardware_max_a, phases.get(c, 3), voltage, now=start
            )
            amps_by_connector.append(offer)
        cp_limit = store.charge_point_limit(t, start)
        if connector_id == 0:
            total = sum(o.amperes for o in amps_by_connector)
            n = max((o.phases for o in amps_by_connector), default=DEFAULT_PHASES)
            if cp_limit is not None:
                total = min(total, cp_limit.amperes(cp_limit.phases_used(n), voltage))
            amps, n_phases = total, n
        else:
            offer = amps_by_connector[0]
            amps, n_phases = offer.amperes, offer.phases
            if cp_limit is not None:
                amps = min(amps, cp_limit.amperes(cp_limit.phases_used(n_phases), voltage))
        value = amps if unit == "A" else amps * voltage * n_phases
        limit = math.floor(round(value * 10, 6)) / 10  # the schema's 0.1 step, never above what is allowed
        entry = {"start_period": math.ceil((t - start).total_seconds()), "limit": limit, "number_phases": n_phases}
        if not periods or (periods[-1]["limit"], periods[-1]["number_phases"]) != (limit, n_phases):
            if periods and periods[-1]["start_period"] == entry["start_period"]:
                periods[-1] = entry
            else:
                periods.append(entry)
    return {
        "duration": duration,
        "start_schedule": _iso(start),
        "charging_rate_unit": unit,
        "charging_schedule_period": periods,
    }


# ----------------------------------------------------------------------------------------------- helpers


def _snake(d: Mapping) -> dict:
    out = {}
    for k, v in d.items():
        out["".join("_" + c.lower() if c.isupper() else c for c in k)] = v
    return out


def _time(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        t = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a date-time: {value!r}") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # no offset: UTC, as chargers mean it


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


__all__ = [
    "Limit",
    "Offer",
    "Period",
    "Profile",
    "ProfileRejected",
    "ProfileStore",
    "Transaction",
    "composite_schedule",
    "charge_point_level",
    "connector_offer",
]
