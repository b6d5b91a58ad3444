"""Driver accounts: sign-up with email verification, log-in with access and refresh tokens, profile, vehicles.

Each driver gets an id tag of their own on sign-up; chargers accept it everywhere (driver tags work on every
charger, see :mod:`cms.authorization`), and the API uses it for remote starts and reservations.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .accounts import create_user, issue_token, revoke_token, user_for_token
from .config import Settings
from .credentials import Credentials
from .errors import Conflict, InvalidInput, NotFound
from .idtags import add_id_tag
from .mail import Mailer
from .models import ApiToken, IdTag, User, Vehicle, utcnow
from .timeutil import iso

LinkFor = Callable[[str], str]
CONNECTOR_TYPES = ("Type1", "Type2", "CCS1", "CCS2", "CHAdeMO", "Tesla", "GBT", "Schuko")


class NotVerified(Conflict):
    """The account's email address is not confirmed yet."""


class WrongRole(Conflict):
    """The account is not a driver account."""


def credentials(settings: Settings) -> Credentials:
    """The shared account use cases (tokens, mail, rate-limited log-in) for ``settings``."""
    return Credentials(settings, Mailer(settings))


def _clean_name(name, field: str = "name", limit: int = 120) -> str:
    if name is None:
        return ""
    if not isinstance(name, str) or len(name.strip()) > limit:
        raise InvalidInput(f"{field} is a text of at most {limit} characters")
    return name.strip()


def _clean_phone(phone) -> str:
    phone = _clean_name(phone, "phone", 40)
    if phone and not all(c.isdigit() or c in "+-() ./" for c in phone):
        raise InvalidInput("A phone number has digits, spaces and + - ( ) . / only")
    return phone


def driver_tag(session: Session, user: User) -> IdTag | None:
    return session.scalar(select(IdTag).where(IdTag.owner_id == user.id).order_by(IdTag.id))


def _new_tag(session: Session, user: User) -> IdTag:
    for _ in range(5):
        tag = "D" + secrets.token_hex(8).upper()
        if session.scalar(select(IdTag.id).where(IdTag.tag == tag)) is None:
            return add_id_tag(session, tag, owner=user, note="driver app")
    raise Conflict("Could not allocate an id tag; try again")  # pragma: no cover - 2^64 space


def register(
    session: Session,
    settings: Settings,
    *,
    email: str,
    password: str,
    name: str = "",
    phone: str = "",
    link_for: LinkFor,
) -> User:
    """Create an unverified driver with an id tag and mail the verification link."""
    user = create_user(session, email, password, role="driver", name=_clean_name(name), phone=_clean_phone(phone))
    _new_tag(session, user)
    credentials(settings).send_verification(session, user, link_for)
    return user


def resend_verification(session: Session, settings: Settings, email: str, link_for: LinkFor) -> None:
    """Mail the link again to an unverified driver; silent otherwise (no account probing)."""
    user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is not None and user.role == "driver" and user.email_verified_at is None and user.is_active:
        credentials(settings).send_verification(session, user, link_for)


def verify_email(session: Session, settings: Settings, token: str) -> User:
    return credentials(settings).verify_email(session, token)


def request_password_reset(session: Session, settings: Settings, email: str, link_for: LinkFor) -> None:
    """Mail a driver a link to choose a new password; silent for unknown or non-driver addresses (no account
    probing, and an owner's reset belongs to the dashboard)."""
    user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is not None and user.role == "driver" and user.is_active:
        credentials(settings).request_password_reset(session, user.email, link_for)


def reset_password(session: Session, settings: Settings, token: str, new_password: str) -> User:
    """Set a new password with the mailed token (it works once) and log out every device of the driver."""
    creds = credentials(settings)
    if creds.check_reset_token(session, token).role != "driver":
        raise InvalidInput("This link is not valid")
    user = creds.reset_password(session, token, new_password)
    session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    session.flush()
    return user


def _issue_pair(session: Session, user: User, settings: Settings) -> dict:
    access = issue_token(
        session, user, kind="access", name="driver app", ttl=timedelta(seconds=settings.driver_access_token_ttl)
    )
    refresh = issue_token(
        session, user, kind="refresh", name="driver app", ttl=timedelta(seconds=settings.driver_refresh_token_ttl)
    )
    return {
        "accessToken": access,
        "refreshToken": refresh,
        "tokenType": "Bearer",
        "expiresIn": settings.driver_access_token_ttl,
    }


def log_in(session: Session, settings: Settings, email: str, password: str, remote_addr: str = "") -> dict:
    """Tokens for a verified driver; None-like failures raise InvalidInput (401 in the API) or NotVerified."""
    user = credentials(settings).authenticate(session, email or "", password or "", remote_addr)
    if user is None:
        raise InvalidInput("Wrong email or password")
    if user.role != "driver":
        raise WrongRole("Only driver accounts log in here")
    if user.email_verified_at is None:
        raise NotVerified("Confirm your email address first (see the mail we sent)")
    return _issue_pair(session, user, settings)


def refresh(session: Session, settings: Settings, refresh_token: str) -> dict:
    """A new token pair for a valid refresh token, which is used up (rotation)."""
    user = user_for_token(session, refresh_token or "", kind="refresh")
    if user is None:
        raise InvalidInput("Invalid or expired refresh token")
    revoke_token(session, refresh_token)
    return _issue_pair(session, user, settings)


def revoke(session: Session, user: User, token: str) -> None:
    """Revoke one of the user's own tokens (access or refresh)."""
    for kind in ("access", "refresh"):
        owner = user_for_token(session, token or "", kind=kind)
        if owner is not None and owner.id == user.id:
            revoke_token(session, token)
            return
    raise NotFound("No such active token of yours")


def profile(session: Session, user: User) -> dict:
    user = session.get_one(User, user.id)
    tag = driver_tag(session, user)
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "phone": user.phone,
        "emailVerified": user.email_verified_at is not None,
        "idTag": tag.tag if tag else None,
        "createdAt": iso(user.created_at),
    }


def update_profile(session: Session, settings: Settings, user: User, changes: dict) -> dict:
    """Change name, phone and (with the current one) the password."""
    row = session.get_one(User, user.id)
    if "name" in changes:
        row.name = _clean_name(changes["name"])
    if "phone" in changes:
        row.phone = _clean_phone(changes["phone"])
    if changes.get("newPassword") is not None:
        credentials(settings).change_password(
            session, row, changes.get("currentPassword") or "", changes["newPassword"]
        )
    session.flush()
    return profile(session, row)


# ------------------------------------------------------------------------------------------------
# Vehicles
# ------------------------------------------------------------------------------------------------


def vehicle_view(v: Vehicle) -> dict:
    return {
        "id": v.id,
        "name": v.name,
        "make": v.make,
        "model": v.model,
        "plate": v.plate,
        "connectorType": v.connector_type,
        "batteryKwh": v.battery_kwh,
        "createdAt": iso(v.created_at),
    }


def _apply_vehicle(v: Vehicle, data: dict) -> None:
    for key, attr, limit in (
        ("name", "name", 80),
        ("make", "make", 60),
        ("model", "model", 60),
        ("plate", "plate", 20),
    ):
        if key in data:
            setattr(v, attr, _clean_name(data[key], key, limit))
    if "connectorType" in data:
        ct = data["connectorType"]
        if ct is not None and ct not in CONNECTOR_TYPES:
            raise InvalidInput(f"connectorType is one of {', '.join(CONNECTOR_TYPES)}")
        v.connector_type = ct
    if "batteryKwh" in data:
        kwh = data["batteryKwh"]
        if kwh is not None and (isinstance(kwh, bool) or not isinstance(kwh, int | float) or not 1 <= kwh <= 1000):
            raise InvalidInput("batteryKwh is a number from 1 to 1000")
        v.battery_kwh = float(kwh) if kwh is not None else None


MAX_VEHICLES = 20


def add_vehicle(session: Session, user: User, data: dict) -> Vehicle:
    count = len(session.scalars(select(Vehicle.id).where(Vehicle.user_id == user.id)).all())
    if count >= MAX_VEHICLES:
        raise Conflict(f"At most {MAX_VEHICLES} vehicles")
    v = Vehicle(user_id=user.id)
    _apply_vehicle(v, data)
    if not (v.name or v.make or v.model):
        raise InvalidInput("Give the vehicle a name, make or model")
    session.add(v)
    session.flush()
    return v


def vehicles(session: Session, user: User) -> list[Vehicle]:
    return list(session.scalars(select(Vehicle).where(Vehicle.user_id == user.id).order_by(Vehicle.id)))


def vehicle(session: Session, user: User, vehicle_id: int) -> Vehicle:
    v = session.get(Vehicle, vehicle_id)
    if v is None or v.user_id != user.id:
        raise NotFound("No such vehicle")
    return v


def update_vehicle(session: Session, user: User, vehicle_id: int, data: dict) -> Vehicle:
    v = vehicle(session, user, vehicle_id)
    _apply_vehicle(v, data)
    session.flush()
    return v


def delete_vehicle(session: Session, user: User, vehicle_id: int) -> None:
    session.delete(vehicle(session, user, vehicle_id))
    session.flush()
