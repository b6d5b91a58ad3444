"""Log-in throttling for every way in: the owners' dashboard and the drivers' API (and so the driver app).

Failed tries are rows in the database (:class:`~cms.models.LoginAttempt`), so every process and node counts the
same failures. They are counted within a sliding window (``login_window_seconds``):

- per (account, client address): an attacker guessing one account from one address is slowed down, while the
  account's holder, logging in from an address that has not failed, goes straight in;
- per client address across accounts (four times as many): one address trying many accounts is slowed too.

Past ``login_max_failures`` free failures, each further try has to wait a delay that starts at
``login_backoff_seconds`` and doubles with every failure, never longer than the window. Nobody is locked out:
a throttled try is refused with the seconds to wait, before the password is looked at (so a right guess during
a delay tells nothing), and is not counted itself. When an account collects ``login_max_failures`` failures
from anywhere in a window, its holder gets a mail about it, at most once per window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .config import Settings
from .db import rows_matched
from .errors import Conflict
from .mail import Mailer
from .models import LoginAlert, LoginAttempt, User, utcnow

ADDRESS_FACTOR = 4  # an address may fail this many times more often across accounts than for one account
ALERT_SUBJECT = "Failed log-ins to your EV CMS account"


class TooManyAttempts(Conflict):
    """A log-in refused for now because of recent failures; ``retry_after`` seconds until the next try."""

    def __init__(self, retry_after: int):
        super().__init__(f"Too many failed log-ins from your address; try again in {describe_wait(retry_after)}")
        self.retry_after = retry_after


def describe_wait(seconds: int) -> str:
    """``45`` -> "45 seconds", ``120`` -> "2 minutes" (rounded up): for people, not machines."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def backoff_delay(failures: int, free: int, first: float, longest: float) -> float:
    """Seconds to wait after the latest of ``failures`` failures: none for the first ``free`` ones, then
    ``first`` doubling with each further failure, at most ``longest``."""
    if failures < free:
        return 0.0
    return min(float(longest), first * 2.0 ** (failures - free))


@dataclass(frozen=True)
class FailureCount:
    """Failures within the window and when the latest happened."""

    count: int
    latest: datetime | None


class LoginThrottle:
    """The throttle, bound to the settings and mailer; :class:`~cms.credentials.Credentials` holds one."""

    def __init__(self, settings: Settings, mailer: Mailer):
        self.settings = settings
        self.mailer = mailer

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.settings.login_window_seconds)

    def check(self, session: Session, email: str, remote_addr: str, now: datetime | None = None) -> None:
        """Raise :class:`TooManyAttempts` when this account from this address, or this address across accounts,
        has to wait before trying again."""
        now = now or utcnow()
        s = self.settings
        free = s.login_max_failures
        counts = [(self._failures(session, now, email=email, remote_addr=remote_addr), free)]
        if remote_addr:  # an empty address (no HTTP client) is never a shared bucket
            counts.append((self._failures(session, now, remote_addr=remote_addr), free * ADDRESS_FACTOR))
        wait = 0.0
        for failures, allowed in counts:
            if failures.latest is None:
                continue
            delay = backoff_delay(failures.count, allowed, s.login_backoff_seconds, s.login_window_seconds)
            wait = max(wait, (failures.latest + timedelta(seconds=delay) - now).total_seconds())
        if wait > 0:
            raise TooManyAttempts(max(1, math.ceil(wait)))

    def record(
        self,
        session: Session,
        email: str,
        remote_addr: str,
        user: User | None,
        succeeded: bool,
        now: datetime | None = None,
    ) -> None:
        """Keep one try. A success forgets this address's failures for this account (never the address's
        failures elsewhere, nor other addresses' failures for this account); a failure may mail the holder."""
        now = now or utcnow()
        cutoff = now - self.window
        session.add(LoginAttempt(email=email, remote_addr=remote_addr[:64], succeeded=succeeded, created_at=now))
        if succeeded:
            session.execute(
                delete(LoginAttempt).where(
                    (LoginAttempt.created_at <= cutoff)
                    | (
                        (LoginAttempt.email == email)
                        & (LoginAttempt.remote_addr == remote_addr[:64])
                        & LoginAttempt.succeeded.is_(False)
                    )
                )
            )
            session.flush()
            return
        session.flush()
        if user is not None and user.is_active:
            self._maybe_alert(session, user, now)

    # ----- internals -----

    def _failures(self, session: Session, now: datetime, *, remote_addr: str, email: str | None = None) -> FailureCount:
        q = select(func.count(), func.max(LoginAttempt.created_at)).where(
            LoginAttempt.remote_addr == remote_addr[:64],
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.created_at > now - self.window,
        )
        if email is not None:
            q = q.where(LoginAttempt.email == email)
        count, latest = session.execute(q).one()
        return FailureCount(int(count or 0), latest)

    def _maybe_alert(self, session: Session, user: User, now: datetime) -> None:
        cutoff = now - self.window
        rows = session.execute(
            select(LoginAttempt.remote_addr, func.count())
            .where(
                LoginAttempt.email == user.email, LoginAttempt.succeeded.is_(False), LoginAttempt.created_at > cutoff
            )
            .group_by(LoginAttempt.remote_addr)
            .order_by(func.count().desc())
        ).all()
        total = sum(n for _, n in rows)
        if total < self.settings.login_max_failures or not self._claim_alert(session, user.email, now, cutoff):
            return
        addresses = "\n".join(f"  {addr or 'unknown address'}: {n}" for addr, n in rows[:10])
        minutes = max(1, self.settings.login_window_seconds // 60)
        self.mailer.send(
            session,
            user.email,
            ALERT_SUBJECT,
            f"Hello {user.name or user.email},\n\n"
            f"someone failed to log in to your account {total} times in the last {minutes} minutes, from:\n\n"
            f"{addresses}\n\n"
            "If that was you, there is nothing to do. If it was not, your password held: those addresses are "
            "slowed down, and you can still log in as usual. Choose a new password if it is short or used "
            "elsewhere.\n\nYou get this mail at most once every "
            f"{minutes} minutes.\n",
        )

    @staticmethod
    def _claim_alert(session: Session, email: str, now: datetime, cutoff: datetime) -> bool:
        """True for exactly one caller per window, whichever process it runs in."""
        claimed = session.execute(
            update(LoginAlert)
            .where(LoginAlert.email == email, LoginAlert.sent_at <= cutoff)
            .values(sent_at=now)
            .execution_options(synchronize_session=False)
        )
        if rows_matched(claimed):
            return True
        if session.scalar(select(LoginAlert.sent_at).where(LoginAlert.email == email)) is not None:
            return False
        try:
            with session.begin_nested():
                session.add(LoginAlert(email=email, sent_at=now))
        except IntegrityError:  # another process claimed it a moment ago
            return False
        return True
