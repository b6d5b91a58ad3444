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
    db: Database, settings: Settings, identity: str, username: str | None, password: str | None
) -> ChargerAdmission:
    """May ``identity`` connect, presenting HTTP Basic ``username``/``password`` (None: no Authorization)?"""
    if not identity or len(identity) > MAX_IDENTITY_LENGTH or identity_problem(identity):
        return ChargerAdmission.UNKNOWN
    with db.uow() as uow:
        row = uow.session.execute(
            select(ChargePoint.registered, ChargePoint.password_hash).where(ChargePoint.identity == identity)
        ).first()
    if row is None or not row.registered:
        return ChargerAdmission.ACCEPTED if settings.auto_register else ChargerAdmission.UNKNOWN
    if row.password_hash and (username != identity or not verify_password(row.password_hash, password or "")):
        return ChargerAdmission.UNAUTHENTICATED
    return ChargerAdmission.ACCEPTED
