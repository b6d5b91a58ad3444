"""Share a site's grid connection among its charging sessions: ``allocate()`` and ``fallback_limits()``.

Pure functions of typed values (no I/O, no clock, no database): the caller passes the site limit, the sessions,
the time and what the previous call returned, and stores what this one returns.

The algorithm (all arithmetic in whole tenths of an ampere, so every limit is rounded DOWN to 0.1 A, the step of
an OCPP charging schedule):

1. Room per phase = the site limit minus the external load on that phase (rounded up) minus what unmanaged
   sessions (chargers that refuse profiles) may draw: they are counted at their maximum. A charge point's own
   limit is a second, smaller room on each phase, shared by its connectors.
2. Each session's bound = the lowest of its charger's maximum, its EV's maximum and its under-use cap (5.).
3. Minimum first: in order of priority (highest first), then start (oldest first), each session gets the minimum
   current if every room it draws from still holds it; otherwise it is paused (0 A). So when the limit cannot
   give everybody the minimum, the newest (lowest-priority) sessions wait, and nobody gets between 0 and the
   minimum. A session that fits where an older one does not (e.g. a 1-phase car on a phase with room, when the
   older 3-phase car needs room on every phase) still charges.
4. Water-filling, one priority class at a time (highest first): the admitted sessions' limits rise together in
   equal steps until each reaches its bound or a room it draws from is full (max-min fairness, like EVerest's
   energy manager handing out slices round-robin); the last tenths of a full room go one each, oldest first.
   Lower classes share what the higher ones cannot use; equal priorities mean plain equal shares. In a class of
   more than ``Tuning.coarse_above`` sessions the limits rise in steps of ``Tuning.share_step_a`` (0.5 A) and
   the last steps go first to the sessions that had that much already: equal sessions end up within 0.5 A of
   each other, and a start or a stop among a hundred changes a score of limits, not a hundred.
5. Under-use, with hysteresis, so power a car does not take goes to the others. A session *does not take* its
   limit when its measured current (the highest of its phases) is at least ``max(2 A, 20 %)`` below the limit it
   was last given, in every measurement shown to ``allocate`` for ``release_after`` (120 s). Then its bound is
   capped at ``max(minimum, measured + 1 A)`` and the rest is shared out. The cap is lifted as soon as a
   measurement comes within 0.5 A of it (the car ramps up and uses all it was given): at the next call it gets
   its full share back. A car hovering near its limit is never capped; a capped car at a steady draw (1 A below
   its cap) is neither lowered nor released. The hold should exceed two meter-value intervals.

``fallback_limits()`` gives each charge point the per-connector current that is safe when every connector of the
site charges at once (no minimum, water-filled the same way): the ceiling of its ``TxDefaultProfile``, which is
what a session draws from its start until its own limit arrives. ``starting_fallbacks()`` lowers that ceiling to
the room an allocation leaves: every connector of the site is counted at the higher of its session's limit and its
charge point's fallback, so a session starting anywhere cannot take the site over its limit before the CMS
re-allocates (when the sessions take the whole room, newcomers start at 0 A and wait for their share). Below the
minimum current a fallback is 0 (such a limit could not charge a car anyway).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_MIN_CURRENT_A = 6.0  # the IEC 61851 floor: below it an EV does not charge at all


class Reason(StrEnum):
    """Why a session got the limit it got."""

    SHARE = "share"  # limited by its share of a phase or of its charge point
    OWN_MAX = "own_max"  # at its charger's or its EV's maximum
    NOT_TAKING = "not_taking"  # capped: it draws well under what it was given
    PAUSED = "paused"  # no room for the minimum current: it waits (0 A)
    BELOW_MINIMUM = "below_minimum"  # its own maximum is below the minimum current (0 A)
    UNMANAGED = "unmanaged"  # it takes no profiles; counted at its maximum


@dataclass(frozen=True)
class SiteLimit:
    """A site's grid connection: amperes per phase on 1 or 3 phases, and the least current a session may get."""

    max_current_a: float
    phases: int = 3
    min_current_a: float = DEFAULT_MIN_CURRENT_A


@dataclass(frozen=True)
class Tuning:
    """The under-use rule's thresholds (see the module docstring)."""

    release_margin_a: float = 2.0  # "well under": at least this far below the limit ...
    release_fraction: float = 0.2  # ... and at least this fraction of it
    release_after: timedelta = timedelta(seconds=120)  # for this long
    cap_headroom_a: float = 1.0  # a capped session may draw this much more than it did
    restore_margin_a: float = 0.5  # within this of its cap, it is taking it: cap lifted
    # Among more than ``coarse_above`` sessions, shares rise in steps of ``share_step_a`` (a multiple of 0.1 A):
    # equal sessions end up to a step apart, and a start or a stop changes the limits of about share / step of
    # them rather than every one (each a SetChargingProfile). Fewer sessions share to the tenth.
    share_step_a: float = 0.5
    coarse_above: int = 20


@dataclass(frozen=True)
class SessionState:
    """What ``allocate`` remembers of a session between calls (store it, pass it back)."""

    limit_a: float = 0.0  # the limit it was given
    low_since: datetime | None = None  # first of an unbroken run of under-use measurements
    cap_a: float | None = None  # the under-use cap in force


@dataclass(frozen=True)
class ActiveSession:
    """One charging session as the allocation sees it.

    ``phases`` are the site phases it draws on (1-based: ``(1,)`` a 1-phase car on L1, ``(1, 2, 3)`` a 3-phase
    car); on a 1-phase site every session draws on L1. ``measured_a`` is its current now on each of its phases
    (same order as ``phases``; one value stands for all), or None when unknown (the caller decides when a
    reading is too old to count). ``charge_point`` names the charge point whose own limit
    (``allocate(charge_point_limits=...)``) it shares with the other connectors.
    """

    key: Hashable
    started_at: datetime
    charger_max_a: float
    phases: tuple[int, ...] = (1, 2, 3)
    ev_max_a: float | None = None
    measured_a: tuple[float, ...] | None = None
    priority: int = 0
    charge_point: Hashable | None = None
    managed: bool = True


@dataclass(frozen=True)
class SessionLimit:
    """A session's allocated current (A per phase, a multiple of 0.1; 0 means paused)."""

    key: Hashable
    limit_a: float
    reason: Reason
    managed: bool
    state: SessionState

    @property
    def paused(self) -> bool:
        return self.limit_a == 0


@dataclass(frozen=True)
class Allocation:
    """The result of ``allocate``: each session's limit, and the site's room and use per phase (L1, L2, L3)."""

    sessions: tuple[SessionLimit, ...]
    available_a: tuple[float, ...]  # per phase: the limit minus the external load
    allocated_a: tuple[float, ...]  # per phase: managed limits plus unmanaged maxima
    overloaded: bool  # external load and unmanaged sessions alone exceed the limit on some phase
    _by_key: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_key.update({s.key: s for s in self.sessions})

    def __getitem__(self, key: Hashable) -> SessionLimit:
        return self._by_key[key]

    def limits(self) -> dict[Hashable, float]:
        """Each session's limit in A, by key."""
        return {s.key: s.limit_a for s in self.sessions}

    def states(self) -> dict[Hashable, SessionState]:
        """What to pass as ``previous`` to the next ``allocate`` call."""
        return {s.key: s.state for s in self.sessions}


@dataclass(frozen=True)
class ConnectorInfo:
    """A connector of the site for ``fallback_limits``: its charge point, phases and maximum current."""

    charge_point: Hashable
    connector_id: int
    max_current_a: float
    phases: tuple[int, ...] = (1, 2, 3)
    managed: bool = True


# ----------------------------------------------------------------------------------------------- arithmetic


def _tenths_down(amperes: float) -> int:
    """Amperes to whole tenths, rounded down (the 1e-6 absorbs binary noise such as 0.3 * 10 = 2.9999...)."""
    return math.floor(round(amperes * 10, 6))


def _tenths_up(amperes: float) -> int:
    return math.ceil(round(amperes * 10, 6))


def _amperes(tenths: int) -> float:
    return tenths / 10


# ----------------------------------------------------------------------------------------------- validation


def _check_site(site: SiteLimit) -> None:
    if site.phases not in (1, 3):
        raise ValueError(f"a site has 1 or 3 phases, not {site.phases}")
    if not site.max_current_a >= 0:
        raise ValueError("the site limit must be 0 A or more")
    if not site.min_current_a >= 0:
        raise ValueError("the minimum current must be 0 A or more")


def _site_phases(site: SiteLimit, phases: tuple[int, ...], what: str) -> tuple[int, ...]:
    """The site phases (0-based) that something drawing on ``phases`` loads."""
    if site.phases == 1:
        return (0,)
    if not phases or len(set(phases)) != len(phases) or any(p not in (1, 2, 3) for p in phases):
        raise ValueError(f"{what}: phases must be distinct numbers 1..3, not {phases!r}")
    return tuple(p - 1 for p in phases)


def _per_phase(site: SiteLimit, values: Sequence[float] | None, what: str) -> tuple[float, ...]:
    values = tuple(values or ())
    if len(values) > site.phases:
        raise ValueError(f"{what}: {len(values)} values for a {site.phases}-phase site")
    if any(not v >= 0 for v in values):
        raise ValueError(f"{what}: values must be 0 A or more")
    return values + (0.0,) * (site.phases - len(values))


# ----------------------------------------------------------------------------------------------- the rooms


class _Rooms:
    """The constraints: each site phase, and each (charge point, phase) with a limit; slack in tenths."""

    def __init__(
        self, site: SiteLimit, external: tuple[float, ...], charge_point_limits: Mapping[Hashable, float]
    ) -> None:
        limit = _tenths_down(site.max_current_a)
        headroom = [limit - _tenths_up(e) for e in external]  # below 0 when the building alone is over
        self.available = [max(0, h) for h in headroom]
        self.slack: list[int] = headroom
        self.index: dict[tuple, int] = {("phase", p): p for p in range(site.phases)}
        self.cp_limits = {cp: _tenths_down(a) for cp, a in charge_point_limits.items()}
        for cp, a in charge_point_limits.items():
            if not a >= 0:
                raise ValueError(f"charge point {cp!r}: its limit must be 0 A or more")

    def of(self, charge_point: Hashable | None, phases: tuple[int, ...]) -> tuple[int, ...]:
        """The rooms something drawing on ``phases`` behind ``charge_point`` takes from."""
        rooms = [self.index[("phase", p)] for p in phases]
        if charge_point is not None and charge_point in self.cp_limits:
            for p in phases:
                key = ("cp", charge_point, p)
                if key not in self.index:
                    self.index[key] = len(self.slack)
                    self.slack.append(self.cp_limits[charge_point])
                rooms.append(self.index[key])
        return tuple(rooms)

    def take(self, rooms: tuple[int, ...], tenths: int) -> None:
        for r in rooms:
            self.slack[r] -= tenths

    def fits(self, rooms: tuple[int, ...], tenths: int) -> bool:
        return all(self.slack[r] >= tenths for r in rooms)

    def overloaded(self, phases: int) -> bool:
        """Whether what was taken so far exceeds a phase (then: nothing is left there)."""
        return any(self.slack[p] < 0 for p in range(phases))

    def clamp(self) -> None:
        self.slack = [max(0, s) for s in self.slack]


def _water_fill(
    order: list[int],
    alloc: list[int],
    bound: list[int],
    rooms_of: list[tuple[int, ...]],
    rooms: _Rooms,
    *,
    unit: int = 1,
    previous: Sequence[int] | None = None,
) -> None:
    """Raise ``alloc`` of the sessions in ``order`` together until each hits its bound or a full room.

    Equal steps as large as every room allows, up to a multiple of ``unit`` tenths. When a room has less than a
    unit left for each session drawing from it, the lowest sessions get a unit each, then a tenth each, as far as
    it goes: first those that had that much already (``previous``: fewer limits change), then in ``order``.
    """
    before = previous or [0] * len(alloc)

    def can_grow(i: int, by: int = 1) -> bool:
        return alloc[i] + by <= bound[i] and all(rooms.slack[r] >= by for r in rooms_of[i])

    active = [i for i in order if can_grow(i)]
    while active:
        drawing = Counter(r for i in active for r in rooms_of[i])
        room_step = min(rooms.slack[r] // n for r, n in drawing.items())
        low = min(alloc[i] for i in active)
        step = min(min(bound[i] - alloc[i] for i in active), (low + room_step) // unit * unit - low)
        if step > 0:
            for i in active:
                alloc[i] += step
                rooms.take(rooms_of[i], step)
        else:
            for by in sorted({unit, 1}, reverse=True):
                target = min(alloc[i] for i in active) + by
                for i in sorted(active, key=lambda i: before[i] < min(bound[i], target)):
                    grow = min(target, bound[i]) - alloc[i]
                    if grow > 0 and can_grow(i, grow):
                        alloc[i] += grow
                        rooms.take(rooms_of[i], grow)
        active = [i for i in active if can_grow(i)]


# ----------------------------------------------------------------------------------------------- under-use


def _follow_use(
    session: ActiveSession, prev: SessionState | None, now: datetime, minimum: int, tuning: Tuning
) -> SessionState:
    """The session's under-use state after its latest measurement (the rule of the module docstring, 5.)."""
    prev = prev or SessionState()
    if session.measured_a is None:
        return prev
    if len(session.measured_a) != len(session.phases) and len(session.measured_a) != 1:
        raise ValueError(f"session {session.key!r}: measured_a needs one value per phase in {session.phases}")
    if any(not v >= 0 for v in session.measured_a):
        raise ValueError(f"session {session.key!r}: measured currents must be 0 A or more")
    drawn = max(session.measured_a)
    cap = prev.cap_a
    if cap is not None and drawn >= cap - tuning.restore_margin_a:
        return SessionState(prev.limit_a, None, None)  # it ramps up: uses what it was given
    given = prev.limit_a
    low = given > 0 and given - drawn >= max(tuning.release_margin_a, tuning.release_fraction * given)
    if not low:
        return SessionState(prev.limit_a, None, cap)
    low_since = prev.low_since or now
    if now - low_since >= tuning.release_after:
        new_cap = _amperes(max(minimum, _tenths_down(drawn + tuning.cap_headroom_a)))
        return SessionState(prev.limit_a, low_since, new_cap if cap is None else min(cap, new_cap))
    return SessionState(prev.limit_a, low_since, cap)


# ----------------------------------------------------------------------------------------------- allocate


def allocate(
    site: SiteLimit,
    sessions: Sequence[ActiveSession],
    *,
    now: datetime,
    external_load_a: Sequence[float] | None = None,
    charge_point_limits: Mapping[Hashable, float] | None = None,
    previous: Mapping[Hashable, SessionState] | None = None,
    tuning: Tuning = Tuning(),
) -> Allocation:
    """Each session's current limit under ``site``'s connection (see the module docstring for the rules).

    ``external_load_a`` is the rest of the building's current per phase (L1..), taken off the limit first;
    ``charge_point_limits`` a charge point's own limit per phase, shared by its connectors; ``previous`` the
    ``states()`` of the last call (under-use memory). Raises ValueError on inputs that make no sense.
    """
    _check_site(site)
    external = _per_phase(site, external_load_a, "external load")
    if len({s.key for s in sessions}) != len(sessions):
        raise ValueError("session keys must be unique")
    previous = previous or {}
    rooms = _Rooms(site, external, charge_point_limits or {})
    minimum = _tenths_down(site.min_current_a)

    n = len(sessions)
    alloc, bound = [0] * n, [0] * n
    rooms_of: list[tuple[int, ...]] = []
    states: list[SessionState] = []
    reasons: list[Reason | None] = [None] * n
    for i, s in enumerate(sessions):
        phases = _site_phases(site, s.phases, f"session {s.key!r}")
        rooms_of.append(rooms.of(s.charge_point, phases))
        if not (s.charger_max_a >= 0 and (s.ev_max_a is None or s.ev_max_a >= 0)):
            raise ValueError(f"session {s.key!r}: maxima must be 0 A or more")
        own_max = _tenths_down(s.charger_max_a if s.ev_max_a is None else min(s.charger_max_a, s.ev_max_a))
        if not s.managed:
            states.append(SessionState(_amperes(own_max)))
            alloc[i] = bound[i] = own_max
            rooms.take(rooms_of[i], own_max)
            reasons[i] = Reason.UNMANAGED
            continue
        state = _follow_use(s, previous.get(s.key), now, minimum, tuning)
        states.append(state)
        bound[i] = own_max if state.cap_a is None else min(own_max, _tenths_down(state.cap_a))
        if bound[i] < minimum or bound[i] == 0:
            reasons[i] = Reason.BELOW_MINIMUM
    overloaded = rooms.overloaded(site.phases)
    rooms.clamp()

    # 3. Minimum first, oldest (highest priority) first; the rest wait.
    order = sorted(
        (i for i in range(n) if reasons[i] is None),
        key=lambda i: (-sessions[i].priority, sessions[i].started_at, str(sessions[i].key)),
    )
    admitted = []
    for i in order:
        if rooms.fits(rooms_of[i], minimum):
            alloc[i] = minimum
            rooms.take(rooms_of[i], minimum)
            admitted.append(i)
        else:
            reasons[i] = Reason.PAUSED

    # 4. Water-filling, one priority class at a time.
    given = [_tenths_down(previous[s.key].limit_a) if s.key in previous else 0 for s in sessions]
    for priority in sorted({sessions[i].priority for i in admitted}, reverse=True):
        members = [i for i in admitted if sessions[i].priority == priority]
        unit = max(1, _tenths_down(tuning.share_step_a)) if len(members) > tuning.coarse_above else 1
        _water_fill(members, alloc, bound, rooms_of, rooms, unit=unit, previous=given)

    results = []
    for i, s in enumerate(sessions):
        reason = reasons[i]
        if reason is None:
            cap_a = states[i].cap_a
            capped = cap_a is not None and bound[i] == _tenths_down(cap_a)
            reason = Reason.SHARE if alloc[i] < bound[i] else Reason.NOT_TAKING if capped else Reason.OWN_MAX
        state = states[i]
        results.append(
            SessionLimit(
                s.key,
                _amperes(alloc[i]),
                reason,
                s.managed,
                SessionState(_amperes(alloc[i]), state.low_since, state.cap_a),
            )
        )
    allocated = [0] * site.phases
    for i, s in enumerate(sessions):
        for p in _site_phases(site, s.phases, ""):
            allocated[p] += alloc[i]  # an unmanaged session's alloc is its maximum
    return Allocation(
        tuple(results), tuple(_amperes(a) for a in rooms.available), tuple(_amperes(a) for a in allocated), overloaded
    )


# ----------------------------------------------------------------------------------------------- fallback


def fallback_limits(
    site: SiteLimit,
    connectors: Sequence[ConnectorInfo],
    *,
    external_load_a: Sequence[float] | None = None,
    charge_point_limits: Mapping[Hashable, float] | None = None,
) -> dict[Hashable, float]:
    """Each managed charge point's safe current per connector when all the site's connectors charge at once.

    The value for a ``TxDefaultProfile`` (connector 0): every connector water-filled as if charging at its
    maximum, unmanaged ones counted at their maximum, a charge point's value the lowest of its connectors'
    shares (one profile covers them all), rounded down to 0.1 A, and 0 when below the minimum current.
    ``external_load_a`` should be the most the rest of the building may draw while the CMS is away.
    """
    _check_site(site)
    external = _per_phase(site, external_load_a, "external load")
    rooms = _Rooms(site, external, charge_point_limits or {})
    minimum = _tenths_down(site.min_current_a)
    n = len(connectors)
    alloc, bound = [0] * n, [0] * n
    rooms_of = []
    for i, c in enumerate(connectors):
        rooms_of.append(rooms.of(c.charge_point, _site_phases(site, c.phases, f"connector {c.connector_id}")))
        if not c.max_current_a >= 0:
            raise ValueError(f"connector {c.connector_id}: its maximum must be 0 A or more")
        bound[i] = _tenths_down(c.max_current_a)
        if not c.managed:
            rooms.take(rooms_of[i], bound[i])
    rooms.clamp()
    managed = sorted(
        (i for i in range(n) if connectors[i].managed),
        key=lambda i: (str(connectors[i].charge_point), connectors[i].connector_id),
    )
    _water_fill(managed, alloc, bound, rooms_of, rooms)
    result: dict[Hashable, int] = {}
    for i in managed:
        cp = connectors[i].charge_point
        result[cp] = min(result.get(cp, alloc[i]), alloc[i])
    return {cp: _amperes(t if t >= minimum else 0) for cp, t in result.items()}


def starting_fallbacks(
    site: SiteLimit,
    connectors: Sequence[ConnectorInfo],
    allocation: Allocation,
    *,
    ceilings: Mapping[Hashable, float],
    session_limits: Mapping[tuple[Hashable, int], float] | None = None,
    fixed: Mapping[Hashable, float] | None = None,
    charge_point_limits: Mapping[Hashable, float] | None = None,
) -> dict[Hashable, float]:
    """Each managed charge point's fallback (its ``TxDefaultProfile``) within the room ``allocation`` leaves.

    A connector draws the higher of its session's limit (``session_limits`` by (charge point, connector); an idle
    connector none) and its charge point's fallback, since a session that starts there draws the fallback until
    its own limit arrives. The fallbacks rise together (one value for the site, each charge point capped by its
    ``ceilings`` entry, the all-charging share of ``fallback_limits``, and by its own limit) as far as the room left
    on every phase allows; one under the minimum current is 0. ``fixed`` charge points keep the fallback they
    have (they cannot be told another now): it is counted first. Charge points absent from ``ceilings`` get none.
    """
    _check_site(site)
    session_limits = session_limits or {}
    fixed = fixed or {}
    own_limits = {cp: _tenths_down(a) for cp, a in (charge_point_limits or {}).items()}
    minimum = _tenths_down(site.min_current_a)
    available, allocated = _tenths_list(allocation.available_a), _tenths_list(allocation.allocated_a)
    spare = [a - u for a, u in zip(available, allocated, strict=True)]
    by_cp: dict[Hashable, list[tuple[tuple[int, ...], int]]] = {}
    for c in connectors:
        if not c.managed:
            continue
        drawn = _tenths_down(session_limits.get((c.charge_point, c.connector_id), 0.0))
        phases = _site_phases(site, c.phases, f"connector {c.connector_id}")
        by_cp.setdefault(c.charge_point, []).append((phases, drawn))

    def extra(cp: Hashable, tenths: int) -> list[int]:
        """What a fallback of ``tenths`` adds, per phase, to what ``cp``'s connectors draw already."""
        out = [0] * site.phases
        for phases, drawn in by_cp.get(cp, []):
            for p in phases:
                out[p] += max(0, tenths - drawn)
        return out

    for cp, amperes in fixed.items():
        spare = [s - e for s, e in zip(spare, extra(cp, _tenths_down(amperes)), strict=True)]
    caps: dict[Hashable, int] = {}
    for cp in by_cp:
        if cp in fixed or cp not in ceilings:
            continue
        cap = _tenths_down(ceilings[cp])
        if cp in own_limits:  # its connectors together stay within its own limit
            while cap > 0 and sum(max(d, cap) for _p, d in by_cp[cp]) > own_limits[cp]:
                cap -= 1
        caps[cp] = cap

    def fallback(cap: int, tenths: int) -> int:
        value = min(cap, tenths)
        return value if value >= minimum else 0

    def fits(tenths: int) -> bool:
        used = [0] * site.phases
        for cp, cap in caps.items():
            used = [u + e for u, e in zip(used, extra(cp, fallback(cap, tenths)), strict=True)]
        return all(u <= s for u, s in zip(used, spare, strict=True))

    lo, hi = 0, max(caps.values(), default=0)  # the highest common value that fits, by bisection (it is monotone)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return {cp: _amperes(fallback(cap, lo)) for cp, cap in caps.items()}


def _tenths_list(values: Sequence[float]) -> list[int]:
    return [_tenths_down(v) for v in values]


__all__ = [
    "DEFAULT_MIN_CURRENT_A",
    "ActiveSession",
    "Allocation",
    "ConnectorInfo",
    "Reason",
    "SessionLimit",
    "SessionState",
    "SiteLimit",
    "Tuning",
    "allocate",
    "fallback_limits",
    "starting_fallbacks",
]
