"""Group commit: messages arriving together share a transaction; one bad message costs the others nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from cms.errors import OcppError
from cms.group_commit import GroupCommitter
from cms.handlers import HANDLERS, Charger
from cms.models import MessageLogEntry, StatusEvent
from tests.support.databases import statements_run
from tests.support.pipeline import replace_handler, with_group_commit

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}


def _status(connector: int = 1) -> dict:
    return {"connectorId": connector, "errorCode": "NoError", "status": "Available"}


@pytest.fixture
def committer(rt, monkeypatch):
    gc = GroupCommitter(rt.pipeline.runner, max_group=64, writers=1, idle_exit=1.0)
    with_group_commit(rt, gc, monkeypatch)
    return gc


@pytest.fixture
def slow_first(monkeypatch):
    """StatusNotification from "SLOW" takes a while, so what arrives meanwhile queues for the next group."""
    original = HANDLERS["StatusNotification"].run

    def op(ctx, p):
        if ctx.charger.identity == "SLOW":
            time.sleep(0.3)
        return original(ctx, p)

    replace_handler(monkeypatch, "StatusNotification", op)


class HeldGroup:
    """StatusNotification from "HELD" keeps its group's writer until :meth:`release`: what is queued meanwhile
    (:meth:`queue`, in order) goes into the next group together, however slow the machine."""

    def __init__(self, rt, committer: GroupCommitter):
        self.rt, self.committer = rt, committer
        self.entered, self.released = threading.Event(), threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Send HELD's message and wait until its group's writer holds it."""
        self._send(lambda: self.rt.pipeline.handle(Charger("HELD"), "StatusNotification", _status()))
        assert self.entered.wait(10), "the held group's writer did not start"

    def queue(self, send: Callable[[], object]) -> None:
        """Start ``send`` in a thread and wait until its message waits in the committer's queue (behind the held
        group, after :meth:`start`)."""
        assert self.entered.is_set(), "start() first"
        waiting = len(self.committer._pending)
        self._send(send)
        deadline = time.monotonic() + 10
        while len(self.committer._pending) <= waiting and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(self.committer._pending) > waiting, "a message did not reach the queue"

    def _send(self, send: Callable[[], object]) -> None:
        self.threads.append(threading.Thread(target=send))
        self.threads[-1].start()

    def release(self) -> None:
        self.released.set()
        for t in self.threads:
            t.join(10)


@pytest.fixture
def held(rt, committer, monkeypatch):
    group = HeldGroup(rt, committer)
    original = HANDLERS["StatusNotification"].run

    def op(ctx, p):
        if ctx.charger.identity == "HELD":
            group.entered.set()
            group.released.wait(10)
        return original(ctx, p)

    replace_handler(monkeypatch, "StatusNotification", op)
    yield group
    group.released.set()


def _together(rt, identities: list[str], payload: dict) -> dict[str, object]:
    """Send StatusNotification from each charger at once (SLOW first); each one's answer or error."""
    out: dict[str, object] = {}

    def send(identity):
        try:
            out[identity] = rt.pipeline.handle(Charger(identity), "StatusNotification", payload)
        except OcppError as e:
            out[identity] = e

    first = threading.Thread(target=send, args=("SLOW",))
    first.start()
    time.sleep(0.1)  # SLOW's group is being written
    rest = [threading.Thread(target=send, args=(i,)) for i in identities]
    for t in rest:
        t.start()
    for t in [first, *rest]:
        t.join(10)
    return out


def _booted(rt, committer: GroupCommitter, identities: list[str], add_charger=None) -> None:
    """Each charger (added first, with ``add_charger``) has booted; the committer's counts start from here
    (boots are written in commit groups too)."""
    for name in identities:
        if add_charger is not None:
            add_charger(name)
        rt.pipeline.handle(Charger(name), "BootNotification", BOOT)
    committer.groups = committer.messages = 0


def _reads_charger_rows(statement: str) -> bool:
    """Whether ``statement`` reads charger rows as a message's registration gate needs them."""
    return statement.lstrip().upper().startswith("SELECT") and "charge_points.registration_status" in statement


def _events(rt) -> dict[int, int]:
    with rt.db.uow() as uow:
        return dict(
            uow.session.execute(
                select(StatusEvent.charge_point_id, func.count()).group_by(StatusEvent.charge_point_id)
            ).all()
        )


def test_messages_that_arrive_together_share_one_commit(rt, add_charger, committer, slow_first):
    names = [f"GC{i}" for i in range(12)]
    _booted(rt, committer, ["SLOW", *names], add_charger)
    answers = _together(rt, names, _status())
    assert answers == {name: {} for name in ["SLOW", *names]}
    assert committer.messages == 13 and committer.groups == 2  # SLOW alone, then the twelve together
    assert sorted(_events(rt).values()) == [1] * 13


def test_a_refused_message_does_not_hold_back_its_group(rt, add_charger, committer, slow_first):
    add_charger("NEW")
    _booted(rt, committer, ["SLOW", "OK1", "OK2"], add_charger)
    answers = _together(rt, ["OK1", "NEW", "OK2"], _status())  # NEW never booted
    assert isinstance(answers.pop("NEW"), OcppError)
    assert answers == {"SLOW": {}, "OK1": {}, "OK2": {}}
    assert committer.groups == 2  # OK1 and OK2 committed in one group, with NEW refused inside it
    assert len(_events(rt)) == 3


def test_a_failing_message_runs_alone_and_the_others_commit_together(
    rt, add_charger, committer, slow_first, monkeypatch
):
    grouped = HANDLERS["StatusNotification"].run

    def op(ctx, p):
        if ctx.charger.identity == "BAD":
            raise RuntimeError("a bug")
        return grouped(ctx, p)

    replace_handler(monkeypatch, "StatusNotification", op)
    _booted(rt, committer, ["SLOW", "A", "BAD", "B"], add_charger)
    answers = _together(rt, ["A", "BAD", "B"], _status(2))
    bad = answers.pop("BAD")
    assert isinstance(bad, OcppError) and bad.code == "InternalError"
    assert answers == {"SLOW": {}, "A": {}, "B": {}}
    assert len(_events(rt)) == 3  # A and B written once each; BAD's nothing
    # SLOW; then A and B together again once BAD was taken out (not one transaction each)
    assert (committer.groups, committer.messages) == (2, 3)
    with rt.db.uow() as uow:  # the failed message is kept for troubleshooting
        assert (
            uow.session.scalar(
                select(func.count())
                .select_from(MessageLogEntry)
                .where(MessageLogEntry.action == "StatusNotification", MessageLogEntry.direction == "in")
            )
            >= 1
        )


def test_writers_end_when_idle_and_start_again(rt, add_charger, committer):
    _booted(rt, committer, ["IDLE"], add_charger)
    svc = rt.pipeline
    assert svc.handle(Charger("IDLE"), "StatusNotification", _status()) == {}
    deadline = time.monotonic() + 5
    while committer._writers and time.monotonic() < deadline:
        time.sleep(0.1)
    assert committer._writers == 0
    assert svc.handle(Charger("IDLE"), "StatusNotification", _status()) == {}
    assert committer.messages == 2


def test_a_failed_commit_splits_the_group_and_loses_nobody(rt, add_charger, committer, slow_first, monkeypatch):
    """The commit fails (which message caused it is unknown): halves are written on their own, so every
    other message is committed once, and the one that poisons the commit alone hears InternalError."""
    from cms.db import UnitOfWork

    grouped = HANDLERS["StatusNotification"].run

    def op(ctx, p):
        if ctx.charger.identity == "POISON":
            ctx.session.info["poison"] = True
        return grouped(ctx, p)

    commit = UnitOfWork.commit

    def failing_commit(self):
        if self.session.info.get("poison"):
            raise RuntimeError("the commit failed")
        commit(self)

    replace_handler(monkeypatch, "StatusNotification", op)
    monkeypatch.setattr(UnitOfWork, "commit", failing_commit)
    names = ["A", "POISON", "B", "C", "D"]
    _booted(rt, committer, ["SLOW", *names], add_charger)
    answers = _together(rt, names, _status(2))
    poisoned = answers.pop("POISON")
    assert isinstance(poisoned, OcppError) and poisoned.code == "InternalError"
    assert answers == {name: {} for name in ["SLOW", "A", "B", "C", "D"]}
    assert sorted(_events(rt).values()) == [1] * 5
    assert committer.messages == 5 and committer.groups <= 4  # fewer transactions than one each


def test_boots_share_commit_groups_and_each_hears_its_own_interval(rt, add_charger, committer, held):
    """A reconnect storm is every charger booting at once: the boots go through commit groups, the chargers'
    rows (with their own heartbeat intervals) read by one statement and written by another."""
    from sqlalchemy import update

    from cms.models import ChargePoint

    _booted(rt, committer, ["HELD"], add_charger)
    names = [f"B{i}" for i in range(8)]
    for name in names:
        add_charger(name)
    with rt.db.uow() as uow:
        uow.session.execute(update(ChargePoint).where(ChargePoint.identity == "B3").values(heartbeat_interval=45))
        uow.commit()
    out: dict[str, dict] = {}

    def boot(identity):
        out[identity] = rt.pipeline.handle(Charger(identity, ocpp_version="1.6"), "BootNotification", BOOT)

    with statements_run(rt.db.engine) as seen:
        held.start()  # HELD's group is being written: the boots queue for the next one
        for name in names:
            held.queue(lambda name=name: boot(name))
        held.release()
    # The eight chargers' rows are read by one statement (and HELD's alone, unless it is a cached accepted one).
    reads = [s for s in seen if _reads_charger_rows(s)]
    assert len(reads) == (1 if rt.pipeline.runner.accepted is not None else 2), "\n---\n".join(reads)
    # ... and their boots written by one statement (executemany) before the group commits.
    boots = [s for s in seen if s.lstrip().upper().startswith("UPDATE CHARGE_POINTS") and "registration_status" in s]
    assert len(boots) == 1, "\n---\n".join(boots)
    assert {n: a["status"] for n, a in out.items()} == {n: "Accepted" for n in names}
    assert {n: a["interval"] for n, a in out.items()} == {
        n: 45 if n == "B3" else rt.settings.heartbeat_interval for n in names
    }
    assert (committer.groups, committer.messages) == (2, 9)  # HELD's status, then the eight boots together
    with rt.db.uow() as uow:
        rows = uow.session.execute(
            select(ChargePoint.vendor, ChargePoint.registration_status, ChargePoint.last_boot_at).where(
                ChargePoint.identity.in_(names)
            )
        ).all()
    assert len(rows) == 8 and all(
        r.vendor == "V" and r.registration_status == "Accepted" and r.last_boot_at for r in rows
    )


def test_a_chargers_second_message_in_a_group_sees_what_its_first_wrote(rt, add_charger, committer, held):
    """The rows of a group's chargers are read together before its messages run; a charger's second message in
    the group reads its row again, as the first left it: here the boot that accepted it lets its status in."""
    _booted(rt, committer, ["HELD"], add_charger)
    add_charger("TWICE")
    add_charger("OTHER")
    out: dict[str, object] = {}

    def send(key, identity, action, payload):
        try:
            out[key] = rt.pipeline.handle(Charger(identity), action, payload)
        except OcppError as e:
            out[key] = e

    held.start()  # HELD's group is being written: what follows queues for the next one, in this order
    held.queue(lambda: send("boot", "TWICE", "BootNotification", BOOT))
    held.queue(lambda: send("other", "OTHER", "BootNotification", BOOT))
    held.queue(lambda: send("status", "TWICE", "StatusNotification", _status()))
    held.release()
    assert out["boot"]["status"] == "Accepted" and out["other"]["status"] == "Accepted"
    assert out["status"] == {}, out["status"]  # not "not accepted; send BootNotification"
    assert (committer.groups, committer.messages) == (2, 4)
