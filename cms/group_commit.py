"""Group commit: the messages of many chargers in one unit of work, each answered once that commit is done.

A unit of work of its own costs a message far more than its SQL (a session, a pooled connection, BEGIN and
COMMIT round trips, a WAL flush). Under load, the messages that arrive while one group is being written wait
for the next group and share its transaction; when the process is idle a group is one message, so nothing
waits for a timer. Nothing is answered before it is committed.

A message refused with an OCPP error (raised before it writes anything) is answered with that error and the
others go on. Any other failure rolls the group back; the message that failed then runs alone (exactly as
without grouping) and the others are written together again; a failed commit splits the group in halves. One
bad message costs the others a retry, not a transaction each. A few writers per process: while one waits for
the database (its statements go one round trip at a time) another writes the next group, and the connections
keep being served all along under gevent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import InternalFailure, OcppError
from .handlers import PendingChargerWrites
from .logs import bind_charger, unbind_charger
from .metrics import NO_METRICS, Metrics
from .models import utcnow

if TYPE_CHECKING:
    from .handlers import Charger
    from .message_runner import Applied, MessageRunner

log = logging.getLogger(__name__)


class _Message:
    __slots__ = ("charger", "action", "payload", "unique_id", "raw", "now", "done", "response", "error", "applied")

    def __init__(
        self,
        charger: Charger,
        action: str,
        payload: dict[str, Any],
        unique_id: str | None,
        raw: str | None,
        now: datetime,
    ):
        self.charger, self.action, self.payload, self.unique_id, self.raw = charger, action, payload, unique_id, raw
        self.now = now  # received: the time the message is recorded with, whatever it waits
        self.done = threading.Event()
        self.response: dict | None = None
        self.error: OcppError | None = None
        self.applied: Applied | None = None  # set once run in the group's unit of work


class GroupCommitter:
    """Runs charger messages in groups of up to ``max_group`` per transaction, each through ``runner``
    (:class:`cms.message_runner.MessageRunner`, which knows nothing of groups).

    Up to ``writers`` writer threads (greenlets under gevent) start as messages wait and each ends after
    ``idle_exit`` seconds without one, so an app that is dropped (tests) leaves nothing running.
    """

    def __init__(
        self,
        runner: MessageRunner,
        max_group: int = 64,
        writers: int = 2,
        idle_exit: float = 5.0,
        *,
        metrics: Metrics = NO_METRICS,
    ):
        self.runner = runner
        self.metrics = metrics
        self.max_group = max(1, max_group)
        self.max_writers = max(1, writers)
        self.idle_exit = idle_exit
        self._pending: deque[_Message] = deque()
        self._cond = threading.Condition()
        self._writers = 0  # writer threads alive
        self._idle = 0  # of which waiting for messages
        self.groups = 0  # committed groups and messages, for tests and figures
        self.messages = 0

    def submit(
        self, charger: Charger, action: str, payload: dict[str, Any], unique_id: str | None, raw: str | None
    ) -> dict:
        """Run one message with the next group; its response, or raises its :class:`OcppError`."""
        message = _Message(charger, action, payload, unique_id, raw, utcnow())
        with self._cond:
            self._pending.append(message)
            if self._idle:
                self._cond.notify()
            elif self._writers < self.max_writers:
                self._writers += 1
                threading.Thread(target=self._loop, name="cms-group-commit", daemon=True).start()
        message.done.wait()
        if message.error is not None:
            raise message.error
        assert message.response is not None, "a message is done with either a response or an error"
        return message.response

    def drain(self, deadline: float) -> bool:
        """Wait until every message submitted so far is written and its submitter released, or until
        ``deadline`` (``time.monotonic()``); True when nothing is left. Writers keep serving later messages."""
        with self._cond:
            while self._pending or self._idle < self._writers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))  # writers do not notify when a group is done: poll
            return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._idle += 1
                    self._cond.wait(self.idle_exit)
                    self._idle -= 1
                    if not self._pending:
                        self._writers -= 1
                        return
                group = [self._pending.popleft() for _ in range(min(len(self._pending), self.max_group))]
            try:
                self._write(group)
            except BaseException:  # pragma: no cover - never leave a charger waiting for an answer
                log.exception("group commit failed")
                for m in group:
                    if not m.done.is_set():
                        m.error = InternalFailure(f"{m.action} could not be processed")
                        m.done.set()

    def _write(self, group: list[_Message]) -> None:
        """Write ``group`` in one transaction. A message whose operation fails is taken out and run alone (it
        hears the failure, or succeeds on a retry that the failure did not concern) and the others are written
        together again; when the commit itself fails, which message caused it is unknown, so each half is
        written on its own the same way. A bad message costs the others a retry, never a transaction each."""
        todo = [group]
        while todo:
            part = todo.pop()
            culprit = self._write_together(part)
            if culprit is None:
                continue
            if culprit >= 0:
                log.warning(
                    "%s from %s failed inside a group of %d; it runs alone, the others are written together",
                    part[culprit].action,
                    part[culprit].charger.identity,
                    len(part),
                    exc_info=True,
                )
                self._alone(part[culprit])
                rest = part[:culprit] + part[culprit + 1 :]
                if rest:
                    todo.append(rest)
            elif len(part) == 1:
                self._alone(part[0])
            else:
                log.warning("the commit of a group of %d messages failed; each half is written on its own", len(part))
                half = len(part) // 2
                todo += [part[half:], part[:half]]

    def _write_together(self, group: list[_Message]) -> int | None:
        """Apply and commit ``group`` in one unit of work and answer its messages. On failure nothing is
        answered and the index of the message whose operation failed is returned (-1: the commit failed)."""
        svc = self.runner
        failed_at = -1
        try:
            with svc.db.uow() as uow:
                rows = svc.read_rows(uow.session, [(m.charger, m.action) for m in group])
                pending = PendingChargerWrites()  # the chargers' row changes, written together at the end
                for i, m in enumerate(group):
                    m.error, m.applied = None, None
                    row = rows.pop(m.charger.identity, None)  # read for the charger's first message only
                    if row is None:  # a message of it came before: its row is read as that one left it
                        pending.write(uow.session, m.charger.identity)
                    try:
                        m.applied = svc.apply(
                            uow.session, m.charger, m.action, m.payload, m.unique_id, m.raw, m.now, row, pending
                        )
                    except OcppError as refused:  # raised before it wrote anything: the others go on
                        m.error = refused
                    except Exception:
                        failed_at = i
                        raise
                pending.write(uow.session)  # a failure here is the commit's: the group is split
                uow.commit()
        except Exception:
            if failed_at < 0:
                log.debug("group commit failed", exc_info=True)
            return failed_at
        self.groups += 1
        self.messages += len(group)
        self.metrics.group_committed(len(group))
        for m in group:
            if m.error is not None:
                svc.refused(m.charger, m.action, m.unique_id, m.raw, m.payload)
            else:
                applied = m.applied
                assert applied is not None, "apply() ran for every message that it did not refuse"
                try:
                    svc.committed(applied, m.charger, m.action, m.unique_id, m.now)
                    m.response = applied.response
                except Exception as exc:  # its data is committed; the charger hears the failure and retries
                    log.exception("%s from %s failed after commit", m.action, m.charger.identity)
                    m.error = InternalFailure(f"{m.action} could not be processed")
                    m.error.__cause__ = exc
            m.done.set()
        return None

    def _alone(self, m: _Message) -> None:
        """Run one message in a unit of work of its own, exactly as without grouping, and answer it."""
        m.error = None
        logged_as = bind_charger(m.charger.identity)  # a failure is logged here, in the writer's thread
        try:
            m.response = self.runner.run_alone(m.charger, m.action, m.payload, m.unique_id, m.raw, m.now)
        except OcppError as e:
            m.error = e
        finally:
            unbind_charger(logged_as)
        m.done.set()
