"""Carry a station's re-allocation out: read its snapshot, plan, send the profiles, store the allocations.

Profiles go out through the dispatcher (any transport, process or node), all of a step at once, and are kept as
:func:`cms.commands.execute` keeps a command (message log; accepted profiles stored as ``ChargingProfileRecord``)
in the one transaction that stores the run's allocations, once every answer is in (:func:`cms.commands.record_calls`):
no database work between the steps. Limits that go down (sessions' and fallbacks')
are sent, and accepted, before limits that go up, so the site stays within its limit while they change; when one
of them is not accepted, nothing is raised. A charger that refuses a profile (Rejected, NotSupported, a CALLERROR)
is marked (``profiles_refused_at``) and the station is planned again with it counted at its maximum. A charger
that does not answer keeps what it had; the station is run again shortly.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update

from .. import commands
from ..gateway import CallFailed, ChargerCallError
from ..models import ChargePoint, ChargingProfileRecord, LoadAllocation, Transaction, utcnow
from .allocation import Tuning
from .controller import DefaultPlan, Plan, SessionPlan, plan
from .state import OWN_PROFILE_IDS, TX_DEFAULT_PROFILE_ID, read_snapshot

log = logging.getLogger(__name__)

ACCEPTED = "Accepted"
_Call = tuple[str, str, dict, dict | CallFailed]  # identity, action, request, answer (for commands.record_calls)
MAX_ROUNDS = 3  # a round more for each batch of chargers found refusing profiles


@dataclass
class Outcome:
    """What sending did (one round, or a whole re-allocation)."""

    accepted: int = 0
    refused: set[int] = field(default_factory=set)  # charge point ids
    failed: int = 0  # not connected, no answer in time
    sessions: int = 0
    deferred: bool = False  # limits that go up were held back (a lowered one was not answered): run again soon

    def add(self, other: Outcome) -> None:
        self.accepted += other.accepted
        self.refused |= other.refused
        self.failed += other.failed
        self.deferred = other.deferred


class Applier:
    """Re-allocates one station at a time (the caller serialises per station)."""

    def __init__(self, rt, *, timeout: float = 10.0, concurrency: int = 32, tuning: Tuning = Tuning()):
        self.rt = rt
        self.timeout = timeout
        self.tuning = tuning
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cms-loadmgmt-send")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def reallocate(
        self, station_id: int, *, booted: frozenset[int] = frozenset(), all_defaults: bool = False
    ) -> Outcome | None:
        """Re-allocate the station and send what changed; returns what was sent (None: not managed).

        ``booted`` charge points (ids) booted since the last run: they are trusted with profiles again and get
        their fallback TxDefaultProfile; ``all_defaults``: every charge point gets it (the limit changed)."""
        db = self.rt.db
        if booted:
            with db.uow() as uow:
                uow.session.execute(
                    update(ChargePoint).where(ChargePoint.id.in_(booted)).values(profiles_refused_at=None)
                )
                uow.commit()
        force = set(booted)
        total = Outcome()
        for _ in range(MAX_ROUNDS):
            with db.uow() as uow:
                snapshot = read_snapshot(uow.session, station_id, utcnow())
            if snapshot is None or not snapshot.managed:
                return None
            if all_defaults:
                force |= set(snapshot.charge_points)
            result = plan(snapshot, force_defaults=frozenset(force), tuning=self.tuning)
            outcome, calls, accepted = self._send(result)
            self._store(station_id, result, calls, accepted)
            total.add(outcome)
            total.sessions = len(result.sessions)
            if not outcome.refused:
                break
            with db.uow() as uow:
                uow.session.execute(
                    update(ChargePoint).where(ChargePoint.id.in_(outcome.refused)).values(profiles_refused_at=utcnow())
                )
                uow.commit()
            log.warning(
                "station %s: charge point(s) %s refuse charging profiles: counted at their maximum",
                station_id,
                sorted(outcome.refused),
            )
            force, all_defaults = set(), False
        return total

    def _store(self, station_id: int, p: Plan, calls: list[_Call], accepted: dict[int, float]) -> None:
        """Keep, in one transaction once the profiles are answered, each session's allocation (its under-use
        memory, the limit its charger accepted: ``accepted`` by transaction id), forget sessions that ended, and
        keep what :func:`cms.commands.execute` keeps of the calls (message log, accepted profiles)."""
        with self.rt.db.uow() as uow:
            s = uow.session
            current = {sp.session.transaction_id for sp in p.sessions}
            # This station's rows, and those of its sessions kept under another station (a charge point moved
            # here mid-session): they move with it.
            rows = {
                a.transaction_id: a
                for a in s.scalars(
                    select(LoadAllocation).where(
                        (LoadAllocation.station_id == station_id) | LoadAllocation.transaction_id.in_(current)
                    )
                )
            }
            changed: list[dict] = []
            gone = [tx for tx, a in rows.items() if tx not in current and a.station_id == station_id]
            if gone:
                s.execute(delete(LoadAllocation).where(LoadAllocation.transaction_id.in_(gone)))
            for sp in p.sessions:
                values = {
                    "station_id": station_id,
                    "limit_a": sp.limit_a,
                    "reason": str(sp.reason),
                    "managed": sp.charge_point.managed,
                    "low_since": sp.state.low_since,
                    "cap_a": sp.state.cap_a,
                }
                if sp.session.transaction_id in accepted:
                    values["sent_limit_a"] = accepted[sp.session.transaction_id]
                row = rows.get(sp.session.transaction_id)
                if row is None:
                    s.add(
                        LoadAllocation(
                            transaction_id=sp.session.transaction_id,
                            charge_point_id=sp.session.charge_point_id,
                            connector_id=sp.session.connector_id,
                            **values,
                        )
                    )
                elif any(getattr(row, k) != v for k, v in values.items()):
                    changed.append({"transaction_id": row.transaction_id, **values, "updated_at": utcnow()})
            if changed:  # one executemany rather than an ORM flush per row
                s.execute(update(LoadAllocation), changed)
            if calls:
                commands.record_calls(self.rt, s, calls)
            uow.commit()

    def _send(self, p: Plan) -> tuple[Outcome, list[_Call], dict[int, float]]:
        """Send the plan's limits that go down, then, once every one of them was accepted, those that go up.

        When a lowered limit was not accepted (refused, or no answer), nothing is raised in this run: the room
        the raises count on is not free. A refusal re-plans the station at once; a missing answer leaves the
        raises to the next run (``Outcome.deferred``). Returns what happened, the calls with their answers, and
        the limit each session's charger accepted (by transaction id)."""
        outcome = Outcome()
        calls: list[_Call] = []
        accepted: dict[int, float] = {}
        lowers, raises = p.steps()
        for step in (lowers, raises):
            if not step:
                continue
            self._send_step([_item(x) for x in step], outcome, calls, accepted)
            if step is lowers and (outcome.refused or outcome.failed):
                outcome.deferred = bool(raises)
                break
        return outcome, calls, accepted

    def _send_step(
        self,
        batch: list[tuple[int, str, dict, int | None]],
        outcome: Outcome,
        calls: list[_Call],
        accepted: dict[int, float],
    ) -> None:
        """Send ``batch`` (charge point id, identity, payload, transaction id or None for a fallback) all at once
        and wait for every answer."""
        answers = list(self._pool.map(lambda item: self._call(item[1], item[2]), batch))
        refused_tx = {tx for (_c, _i, _p, tx), a in zip(batch, answers, strict=True) if tx and _refusal(a)}
        ended = self._ended(refused_tx)
        for (cp_id, identity, payload, tx_id), answer in zip(batch, answers, strict=True):
            if answer is not None:
                calls.append((identity, "SetChargingProfile", payload, answer))
            status = _status(answer)
            if status == ACCEPTED:
                outcome.accepted += 1
                if tx_id is not None:
                    accepted[tx_id] = _limit(payload)
            elif tx_id in ended:
                pass  # a charger rejects a TxProfile for a transaction it no longer runs: nothing to hold back
            elif status is None:
                outcome.failed += 1  # no answer: the charger keeps what it had
            else:
                outcome.refused.add(cp_id)

    def _ended(self, transaction_ids: set[int]) -> set[int]:
        """Those of ``transaction_ids`` that are no longer open."""
        if not transaction_ids:
            return set()
        with self.rt.db.uow() as uow:
            still_open = set(
                uow.session.scalars(
                    select(Transaction.id).where(
                        Transaction.id.in_(transaction_ids), Transaction.stop_timestamp.is_(None)
                    )
                )
            )
        return transaction_ids - still_open

    def _call(self, identity: str, payload: dict) -> dict | CallFailed | None:
        """Send one SetChargingProfile (built here: valid by construction) through the dispatcher: the answer,
        the failure, or None when it could not be sent at all."""
        try:
            return self.rt.dispatcher.route(identity, "SetChargingProfile", payload, timeout=self.timeout)
        except CallFailed as e:
            log.info("SetChargingProfile to %s failed: %s", identity, e)
            return e
        except Exception:
            log.exception("SetChargingProfile to %s failed", identity)
            return None

    def release(self, station_id: int) -> None:
        """Load management is off for the station: clear the profiles it gave, forget the allocations."""
        with self.rt.db.uow() as uow:
            s = uow.session
            records = s.execute(
                select(ChargePoint.identity, ChargingProfileRecord.profile_id)
                .join(ChargePoint, ChargePoint.id == ChargingProfileRecord.charge_point_id)
                .where(
                    ChargePoint.station_id == station_id,
                    ChargingProfileRecord.profile_id.between(OWN_PROFILE_IDS.start, OWN_PROFILE_IDS.stop - 1),
                )
            ).all()
            s.execute(delete(LoadAllocation).where(LoadAllocation.station_id == station_id))
            uow.commit()
        for identity, profile_id in records:
            try:
                commands.execute(self.rt, identity, "ClearChargingProfile", {"id": profile_id}, timeout=self.timeout)
            except Exception as e:  # a charger away keeps a fallback that is safe anyway
                log.info("ClearChargingProfile %s to %s failed: %s", profile_id, identity, e)


def _item(x: SessionPlan | DefaultPlan) -> tuple[int, str, dict, int | None]:
    """What sending needs of a planned profile: charge point id, identity, payload, transaction id (fallback: None)."""
    if isinstance(x, SessionPlan):
        assert x.payload is not None
        return (x.charge_point.id, x.charge_point.identity, x.payload, x.session.transaction_id)
    return (x.charge_point.id, x.charge_point.identity, x.payload, None)


def _limit(payload: dict) -> float:
    return payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]


__all__ = ["Applier", "TX_DEFAULT_PROFILE_ID"]


def _status(answer: dict | CallFailed | None) -> str | None:
    """ "Accepted", a refusal (Rejected, NotSupported, "Refused" for a CALLERROR), or None: no answer."""
    if isinstance(answer, ChargerCallError):
        return "Refused"
    if answer is None or isinstance(answer, CallFailed):
        return None
    return answer.get("status") or "Rejected"


def _refusal(answer: dict | CallFailed | None) -> bool:
    status = _status(answer)
    return status is not None and status != ACCEPTED
