"""Owner accounts on the dashboard: sign-up, email verification, log-in (throttled), password reset.

Verification and reset links carry a signed, timestamped token (itsdangerous); a reset token also carries a
fingerprint of the current password hash, so it stops working once used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from .accounts import check_password_strength, create_user, normalise_email
from .config import Settings
from .errors import InvalidInput
from .login_throttle import LoginThrottle, TooManyAttempts
from .mail import Mailer
from .models import User, utcnow
from .passwords import hash_password, verify_password

__all__ = ["Credentials", "LinkFor", "TooManyAttempts"]  # TooManyAttempts: where the web layer imports it from

LinkFor = Callable[[str], str]  # token -> absolute URL of the page that takes it


class Credentials:
    """The account use cases, bound to the app's settings and mailer."""

    def __init__(self, settings: Settings, mailer: Mailer):
        self.settings = settings
        self.mailer = mailer
        self._signer = URLSafeTimedSerializer(settings.secret_key, salt="cms-accounts")
        self.throttle = LoginThrottle(settings, mailer)

    # ----- tokens -----

    def _token(self, purpose: str, user: User) -> str:
        data = {"p": purpose, "u": user.id, "e": user.email}
        if purpose == "reset":
            data["h"] = _fingerprint(user.password_hash)
        return self._signer.dumps(data)

    def _user_for(self, session: Session, purpose: str, token: str) -> User:
        try:
            data = self._signer.loads(token or "", max_age=self.settings.email_token_max_age)
        except SignatureExpired:
            raise InvalidInput("This link has expired; ask for a new one") from None
        except BadSignature:
            raise InvalidInput("This link is not valid") from None
        if not isinstance(data, dict) or data.get("p") != purpose:
            raise InvalidInput("This link is not valid")
        user = session.get(User, data.get("u"))
        if user is None or user.email != data.get("e") or not user.is_active:
            raise InvalidInput("This link is not valid")
        if purpose == "reset" and data.get("h") != _fingerprint(user.password_hash):
            raise InvalidInput("This link was used already")
        return user

    # ----- sign-up and verification -----

    def sign_up(self, session: Session, *, name: str, email: str, phone: str, password: str, link_for: LinkFor) -> User:
        """Create an unverified owner and mail the verification link. Raises InvalidInput or Conflict."""
        name, phone = (name or "").strip(), (phone or "").strip()
        if not name:
            raise InvalidInput("Please give your name")
        if phone and not all(c.isdigit() or c in "+-() ./" for c in phone):
            raise InvalidInput("A phone number has digits, spaces and + - ( ) . / only")
        user = create_user(session, email, password, role="owner", name=name, phone=phone)
        self.send_verification(session, user, link_for)
        return user

    def send_verification(self, session: Session, user: User, link_for: LinkFor) -> None:
        hours = self.settings.email_token_max_age // 3600
        self.mailer.send(
            session,
            user.email,
            "Confirm your email address",
            f"Hello {user.name or user.email},\n\nplease confirm your email address by opening\n\n"
            f"{link_for(self._token('verify', user))}\n\nThe link is valid for {hours} hours.\n",
        )

    def resend_verification(self, session: Session, email: str, link_for: LinkFor) -> None:
        """Send the verification mail again to ``email`` if such an account waits for it (silently nothing
        otherwise: the caller says the same either way, so nobody learns which accounts exist)."""
        user = session.scalar(select(User).where(User.email == email))
        if user is not None and user.email_verified_at is None:
            self.send_verification(session, user, link_for)

    def verify_email(self, session: Session, token: str) -> User:
        """Mark the account of a valid verification token verified (idempotent)."""
        user = self._user_for(session, "verify", token)
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
        return user

    # ----- log-in -----

    def authenticate(self, session: Session, email: str, password: str, remote_addr: str = "") -> User | None:
        """The user for a correct email and password, else None; every try is recorded.

        Raises :class:`TooManyAttempts` when this client address has to wait after recent failures (for this
        account, or for many accounts), before the password is even checked; see :mod:`cms.login_throttle`.
        """
        try:
            email = normalise_email(email)
        except InvalidInput:
            return None
        now = utcnow()
        self.throttle.check(session, email, remote_addr, now)
        user = session.scalar(select(User).where(User.email == email))
        ok = user is not None and user.is_active and verify_password(user.password_hash, password)
        self.throttle.record(session, email, remote_addr, user, ok, now)
        return user if ok else None

    # ----- password reset -----

    def request_password_reset(self, session: Session, email: str, link_for: LinkFor) -> None:
        """Mail a reset link when the account exists; says nothing either way (no account probing)."""
        try:
            email = normalise_email(email)
        except InvalidInput:
            return
        user = session.scalar(select(User).where(User.email == email))
        if user is None or not user.is_active:
            return
        minutes = self.settings.email_token_max_age // 60
        self.mailer.send(
            session,
            user.email,
            "Reset your password",
            f"Hello {user.name or user.email},\n\nto choose a new password open\n\n"
            f"{link_for(self._token('reset', user))}\n\nThe link is valid for {minutes} minutes "
            "and works once. If you did not ask for it, ignore this mail.\n",
        )

    def check_reset_token(self, session: Session, token: str) -> User:
        return self._user_for(session, "reset", token)

    def reset_password(self, session: Session, token: str, new_password: str) -> User:
        """Set a new password with a valid reset token; following the link also proves the email."""
        user = self._user_for(session, "reset", token)
        check_password_strength(new_password)
        user.password_hash = hash_password(new_password)
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
        return user

    def change_password(self, session: Session, user: User, current: str, new_password: str) -> None:
        if not verify_password(user.password_hash, current):
            raise InvalidInput("The current password is wrong")
        check_password_strength(new_password)
        user.password_hash = hash_password(new_password)


def _fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]
