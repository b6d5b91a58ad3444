"""Who may connect as a charge point: the one rule every transport's handshake asks.

OCPP security profile 1: a charge point with a password authenticates with HTTP Basic
``{chargePointId}:{password}``; one without a password is known by its identity alone. An unknown (or not
registered) charge point is refused unless ``CMS_AUTO_REGISTER`` is on.
"""

from __future__ import annotations

import enum

from sqlalchemy import select

from .config import Settings
from .db import Database
from .handshake_cache import HandshakeCache
from .limits import identity_problem
from .models import ChargePoint
from .passwords import verify_password

MAX_IDENTITY_LENGTH = 48


class ChargerAdmission(enum.Enum):
    """The answer to a charger's handshake."""

    ACCEPTED = "accepted"
    UNKNOWN = "unknown"  # no such charge point (and no auto-registration): 404
    UNAUTHENTICATED = "unauthenticated"  # its password is missing or wrong: 401


def authenticate_charger(
    db: Database,
    settings: Settings,
    identity: str,
    username: str | None,
    password: str | None,
    *,
    cache: HandshakeCache | None = None,
) -> ChargerAdmission:
    """May ``identity`` connect, presenting HTTP Basic ``username``/``password`` (None: no Authorization)?

    With ``cache``, a registered charge point seen before is checked without the database, and the password it
    presented last without hashing it again (cms.handshake_cache)."""
    if not identity or len(identity) > MAX_IDENTITY_LENGTH or identity_problem(identity):
        return ChargerAdmission.UNKNOWN
    known = cache.get(identity) if cache is not None else None
    if known is not None:
        registered, password_hash = True, known.password_hash
    else:
        with db.uow() as uow:
            row = uow.session.execute(
                select(ChargePoint.registered, ChargePoint.password_hash).where(ChargePoint.identity == identity)
            ).first()
        registered = row is not None and bool(row.registered)
        password_hash = row.password_hash if row is not None else None
        if registered and cache is not None:
            cache.remember(identity, password_hash)
    if not registered:
        return ChargerAdmission.ACCEPTED if settings.auto_register else ChargerAdmission.UNKNOWN
    if password_hash:
        if username != identity:
            return ChargerAdmission.UNAUTHENTICATED
        if cache is not None and cache.password_known(identity, password or ""):
            return ChargerAdmission.ACCEPTED
        if not verify_password(password_hash, password or ""):
            return ChargerAdmission.UNAUTHENTICATED
        if cache is not None:
            cache.password_accepted(identity, password_hash, password or "")
    return ChargerAdmission.ACCEPTED
