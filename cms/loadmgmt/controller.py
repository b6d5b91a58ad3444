"""From a station's snapshot to what each session and charge point should get: the controller around
:func:`cms.loadmgmt.allocation.allocate`.

Pure (no I/O): the applier reads the snapshot, calls :func:`plan`, stores the result and sends what it says.
Sessions map onto the allocation as follows: every session of a 3-phase site draws on all three phases (a
1-phase car is counted on all three: safe); a session's bound is its charger's maximum (its owner's
``maxCurrentA``, else ``DEFAULT_CHARGER_MAX_A``), shared with the charger's other connectors when the owner set
one; a car that says it is done (``SuspendedEV``) is held at the minimum current, so that it can resume; a charger
that does not take profiles (OCPP 1.5, or it refused one) is counted at its maximum.

Each charge point's fallback (``TxDefaultProfile``) is what a session draws from its start until its own
``TxProfile`` arrives, so it is kept within the room the sessions leave (``starting_fallbacks``): a session that
starts anywhere cannot take the site over its limit. The profiles go out in two steps (:meth:`Plan.steps`): every
limit that goes down (sessions and fallbacks), and once those are accepted every limit that goes up, so that at
every moment each connector draws at most the higher of its old and new limit, and both states fit.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from .allocation import (
    ActiveSession,
    Allocation,
    ConnectorInfo,
    Reason,
    SessionState,
    SiteLimit,
    Tuning,
    allocate,
    fallback_limits,
    starting_fallbacks,
)
from .profiles import tx_default_profile, tx_profile
from .state import ChargePointInfo, SessionInfo, StationSnapshot


@dataclass(frozen=True)
class SessionPlan:
    """One session's allocated limit and, when the charger must hear it, the ``SetChargingProfile`` to send."""

    session: SessionInfo
    charge_point: ChargePointInfo
    limit_a: float
    reason: Reason
    state: SessionState
    payload: dict | None  # None: nothing to send (unchanged, or an unmanaged charger)
    lowers: bool  # the new limit is below what the charger applies now: send before the raises


@dataclass(frozen=True)
class DefaultPlan:
    """A charge point's fallback TxDefaultProfile."""

    charge_point: ChargePointInfo
    limit_a: float
    payload: dict
    lowers: bool = True  # not above what the charge point applies now: goes with the lowered limits


@dataclass(frozen=True)
class Plan:
    """What a re-allocation decided for a station."""

    allocation: Allocation
    sessions: list[SessionPlan]
    defaults: list[DefaultPlan]  # the fallbacks to send (changed, or forced)

    def steps(self) -> tuple[list[SessionPlan | DefaultPlan], list[SessionPlan | DefaultPlan]]:
        """What to send first (limits that go down), and what only once all of that was accepted (the rest)."""
        to_send: list[SessionPlan | DefaultPlan] = [*self.defaults, *(s for s in self.sessions if s.payload)]
        return [p for p in to_send if p.lowers], [p for p in to_send if not p.lowers]


def site_limit(snapshot: StationSnapshot) -> SiteLimit:
    limit = snapshot.limit
    assert limit is not None
    return SiteLimit(limit.max_current_a, limit.phases, limit.min_current_a)


def _phases(snapshot: StationSnapshot) -> tuple[int, ...]:
    return (1, 2, 3) if snapshot.limit is not None and snapshot.limit.phases == 3 else (1,)


def _measured(sess: SessionInfo, phases: tuple[int, ...]) -> tuple[float, ...] | None:
    if sess.measured_a is None:
        return None
    if len(sess.measured_a) == len(phases) or len(sess.measured_a) == 1:
        return sess.measured_a
    return (max(sess.measured_a),)


def plan(snapshot: StationSnapshot, *, force_defaults: frozenset[int] = frozenset(), tuning: Tuning = Tuning()) -> Plan:
    """Allocate the station's sessions and decide which profiles to send.

    A TxProfile is sent when its limit differs from what the charger last accepted (``sent_limit_a``); a
    TxDefaultProfile when the fallback differs from the one last accepted, or the charge point is in
    ``force_defaults`` (it booted, or the limit changed). Only reachable managed chargers are sent anything.
    """
    site = site_limit(snapshot)
    limit = snapshot.limit
    assert limit is not None
    phases = _phases(snapshot)
    cps = snapshot.charge_points
    external = limit.external_load_a[: limit.phases] or None
    own_limits: dict[Hashable, float] = {cp.id: cp.max_current_a for cp in cps.values() if cp.max_current_a is not None}
    sessions = [s for s in snapshot.sessions if s.charge_point_id in cps]
    previous: dict[Hashable, SessionState] = {}
    for s in sessions:
        row = snapshot.previous.get(s.transaction_id)
        if row is not None:
            given = row.sent_limit_a if row.sent_limit_a is not None else row.limit_a
            previous[s.transaction_id] = SessionState(given, row.low_since, row.cap_a)
    allocation = allocate(
        site,
        [
            ActiveSession(
                key=s.transaction_id,
                started_at=s.started_at,
                charger_max_a=cps[s.charge_point_id].max_a,
                phases=phases,
                ev_max_a=limit.min_current_a if s.status == "SuspendedEV" else None,
                measured_a=_measured(s, phases),
                charge_point=s.charge_point_id,
                managed=cps[s.charge_point_id].managed,
            )
            for s in sessions
        ],
        now=snapshot.now,
        external_load_a=external,
        charge_point_limits=own_limits,
        previous=previous,
        tuning=tuning,
    )
    connectors = [
        ConnectorInfo(cp.id, connector_id, cp.max_a, phases, cp.managed)
        for cp in cps.values()
        for connector_id in cp.connector_ids
    ]
    ceilings = fallback_limits(site, connectors, external_load_a=external, charge_point_limits=own_limits)
    # A charge point out of reach keeps the fallback it accepted; one that never had one gets its ceiling when it
    # connects (at boot, before it is told anything else).
    fixed: dict[Hashable, float] = {
        cp.id: cp.default_limit_a if cp.default_limit_a is not None else ceilings.get(cp.id, 0.0)
        for cp in cps.values()
        if cp.managed and not cp.reachable
    }
    fallback = starting_fallbacks(
        site,
        connectors,
        allocation,
        ceilings=ceilings,
        session_limits={(s.charge_point_id, s.connector_id): allocation[s.transaction_id].limit_a for s in sessions},
        fixed=fixed,
        charge_point_limits=own_limits,
    )
    for cp in cps.values():
        # A charge point with no idle connector keeps a lower fallback it has (a start there needs a stop first,
        # which re-allocates): no profile back and forth with every start and stop elsewhere.
        held = cp.default_limit_a
        if cp.id in fallback and held is not None and held < fallback[cp.id] and _all_busy(cp, sessions):
            fallback[cp.id] = held
    plans = []
    for s in sessions:
        cp = cps[s.charge_point_id]
        result = allocation[s.transaction_id]
        row = snapshot.previous.get(s.transaction_id)
        sent = row.sent_limit_a if row is not None else None
        payload = None
        if cp.managed and cp.reachable and sent != result.limit_a:
            payload = tx_profile(s.connector_id, s.transaction_id, result.limit_a, len(phases), cp.owner_stack_level)
        # Without a TxProfile yet, the session draws its charge point's fallback.
        applies_now = sent if sent is not None else _applied_default(cp)
        plans.append(
            SessionPlan(s, cp, result.limit_a, result.reason, result.state, payload, result.limit_a < applies_now)
        )
    defaults = [
        DefaultPlan(
            cp,
            fallback[cp.id],
            tx_default_profile(fallback[cp.id], len(phases)),
            fallback[cp.id] <= _applied_default(cp),
        )
        for cp in cps.values()
        if cp.managed
        and cp.reachable
        and cp.id in fallback
        and (cp.id in force_defaults or cp.default_limit_a != fallback[cp.id])
    ]
    return Plan(allocation, plans, defaults)


def _all_busy(cp: ChargePointInfo, sessions: list[SessionInfo]) -> bool:
    busy = {s.connector_id for s in sessions if s.charge_point_id == cp.id}
    return all(c in busy for c in cp.connector_ids)


def _applied_default(cp: ChargePointInfo) -> float:
    """The fallback a charge point applies now: the one it accepted, else (none) its maximum."""
    return cp.default_limit_a if cp.default_limit_a is not None else cp.max_a
