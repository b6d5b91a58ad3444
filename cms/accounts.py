"""Use cases for people: create owners and drivers, API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Conflict, InvalidInput, NotFound
from .models import ApiToken, User, utcnow
from .passwords import hash_password

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLES = ("owner", "driver", "admin")


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 255:
        raise InvalidInput(f"Not an email address: {email!r}")
    return email


def check_password_strength(password: str) -> None:
    if not password or len(password) < 8:
        raise InvalidInput("A password needs at least 8 characters")
    if len(password) > 256:
        raise InvalidInput("A password may have at most 256 characters")


def create_user(
    session: Session,
    email: str,
    password: str,
    *,
    role: str = "owner",
    name: str = "",
    phone: str = "",
    verified: bool = False,
) -> User:
    """Create an account; raises Conflict when the email is taken."""
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}")
    email = normalise_email(email)
    check_password_strength(password)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"An account with {email} exists already")
    user = User(
        email=email,
        password_hash=hash_password(password),
        role=role,
        name=name.strip()[:120],
        phone=phone.strip()[:40],
        email_verified_at=utcnow() if verified else None,
    )
    session.add(user)
    session.flush()
    return user


def user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"No account {email}")
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, *, kind: str = "access", name: str = "", ttl: timedelta | None = None
) -> str:
    """Create a Bearer token and return it; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_digest(token),
            kind=kind,
            name=name[:80],
            expires_at=(utcnow() + ttl) if ttl else None,
        )
    )
    session.flush()
    return token


def user_for_token(session: Session, token: str, *, kind: str = "access", now: datetime | None = None) -> User | None:
    """The active user a valid, unexpired, unrevoked token belongs to; None otherwise."""
    if not token:
        return None
    now = now or utcnow()
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.kind == kind))
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.is_active else None


def revoke_token_of(session: Session, user: User, token_id: int) -> None:
    """Revoke ``user``'s API token ``token_id`` (again: nothing changes); NotFound for anybody else's."""
    row = session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if row is None:
        raise NotFound("No such token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()


def revoke_token(session: Session, token: str) -> bool:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True
