"""What a driver does at a charger: reserve a connector, start and stop charging, follow the session.

Permission checks happen here; the OCPP calls go through :func:`cms.commands.execute`, which validates,
dispatches and stores what each answer means (e.g. the reservation's status). No database transaction is
held while a charger is asked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ocpp.v16.enums import CancelReservationStatus, RemoteStartStopStatus, ReservationStatus
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .commands import execute
from .config import Settings
from .db import rows_matched
from .drivers import driver_tag
from .errors import Conflict, InvalidInput, NotFound
from .models import ChargePoint, Connector, Reservation, SessionCharge, Station, Transaction, User, utcnow
from .tariff import minor_to_amount, price_transaction
from .timeutil import iso
from .wallet import require_balance_to_charge

ACTIVE_RESERVATION = ("Requested", "Accepted")

if TYPE_CHECKING:
    from .runtime import Runtime


class ChargerRefused(Conflict):
    """The charger answered a request with something other than Accepted; ``status`` is its answer."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


def _charge_point(session: Session, identity) -> ChargePoint:
    cp = session.scalar(
        select(ChargePoint).where(ChargePoint.identity == str(identity), ChargePoint.registered.is_(True))
    )
    if cp is None:
        raise NotFound(f"Unknown charge point {identity}")
    return cp


def _check_connector(session: Session, cp: ChargePoint, connector_id) -> int:
    if isinstance(connector_id, bool) or not isinstance(connector_id, int) or connector_id < 1:
        raise InvalidInput("connectorId is a whole number from 1")
    exists = session.scalar(
        select(Connector.id).where(Connector.charge_point_id == cp.id, Connector.connector_id == connector_id)
    )
    if exists is None:
        raise NotFound(f"{cp.identity} has no connector {connector_id}")
    return connector_id


def _tag_of(session: Session, user: User) -> str:
    tag = driver_tag(session, user)
    if tag is None:
        raise Conflict("Your account has no id tag; contact support")
    return tag.tag


# ------------------------------------------------------------------------------------------------
# Reservations
# ------------------------------------------------------------------------------------------------


def expire_reservations(session: Session, now: datetime | None = None, user: User | None = None) -> int:
    """Mark reservations past their expiry as Expired (the charger frees the connector by itself)."""
    q = update(Reservation).where(
        Reservation.status.in_(ACTIVE_RESERVATION), Reservation.expiry_date <= (now or utcnow())
    )
    if user is not None:
        q = q.where(Reservation.user_id == user.id)
    return rows_matched(session.execute(q.values(status="Expired", updated_at=utcnow())))


def reservation_view(session: Session, r: Reservation) -> dict:
    identity = session.scalar(select(ChargePoint.identity).where(ChargePoint.id == r.charge_point_id))
    return {
        "id": r.id,
        "chargePointId": identity,
        "connectorId": r.connector_id,
        "status": r.status,
        "idTag": r.id_tag,
        "startsAt": iso(r.start_at or r.created_at),
        "expiresAt": iso(r.expiry_date),
        "sessionId": r.transaction_id,
    }


def reserve(rt: Runtime, user: User, identity, connector_id, minutes) -> dict:
    """Hold a connector for ``minutes`` from now: ReserveNow to the charger; refused unless it accepts."""
    settings: Settings = rt.settings
    longest = settings.reservation_max_minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= longest:
        raise InvalidInput(f"durationMinutes is a whole number from 1 to {settings.reservation_max_minutes}")
    now = utcnow()
    with rt.db.uow() as uow:
        s = uow.session
        expire_reservations(s, now, user)
        cp = _charge_point(s, identity)
        connector_id = _check_connector(s, cp, connector_id)
        held = s.scalar(
            select(Reservation.id).where(Reservation.user_id == user.id, Reservation.status.in_(ACTIVE_RESERVATION))
        )
        if held is not None:
            raise Conflict(f"You hold reservation {held} already; cancel it first")
        r = Reservation(
            charge_point_id=cp.id,
            connector_id=connector_id,
            id_tag=_tag_of(s, user),
            user_id=user.id,
            start_at=now,
            expiry_date=now + timedelta(minutes=minutes),
            status="Requested",
        )
        s.add(r)
        uow.commit()
        rid, identity, tag, expiry = r.id, cp.identity, r.id_tag, r.expiry_date
    answer = execute(
        rt,
        identity,
        "ReserveNow",
        {"connectorId": connector_id, "expiryDate": iso(expiry), "idTag": tag, "reservationId": rid},
    )
    with rt.db.uow() as uow:
        view = reservation_view(uow.session, uow.session.get_one(Reservation, rid))
    if answer.get("status") != ReservationStatus.accepted:
        raise ChargerRefused(
            f"The charger did not accept the reservation ({answer.get('status')})", str(answer.get("status"))
        )
    return view


def _own_reservation(session: Session, user: User, reservation_id: int) -> Reservation:
    r = session.get(Reservation, reservation_id)
    if r is None or r.user_id != user.id:
        raise NotFound("No such reservation")
    return r


def reservations(session: Session, user: User, limit: int = 50) -> list[dict]:
    expire_reservations(session, user=user)
    rows = session.scalars(
        select(Reservation).where(Reservation.user_id == user.id).order_by(Reservation.id.desc()).limit(limit)
    )
    return [reservation_view(session, r) for r in rows]


def reservation(session: Session, user: User, reservation_id: int) -> dict:
    expire_reservations(session, user=user)
    return reservation_view(session, _own_reservation(session, user, reservation_id))


def cancel_reservation(rt: Runtime, user: User, reservation_id: int) -> dict:
    """CancelReservation to the charger; the reservation is Cancelled when the charger accepts."""
    with rt.db.uow() as uow:
        s = uow.session
        expire_reservations(s, user=user)
        r = _own_reservation(s, user, reservation_id)
        if r.status != "Accepted":
            raise Conflict(f"Reservation {r.id} is {r.status}, not active")
        identity = s.scalar(select(ChargePoint.identity).where(ChargePoint.id == r.charge_point_id))
        uow.commit()
    if identity is None:  # its charge point was removed meanwhile
        raise NotFound(f"Unknown charge point of reservation {reservation_id}")
    answer = execute(rt, identity, "CancelReservation", {"reservationId": reservation_id})
    with rt.db.uow() as uow:
        view = reservation_view(uow.session, uow.session.get_one(Reservation, reservation_id))
    if answer.get("status") != CancelReservationStatus.accepted:
        raise ChargerRefused("The charger refused to cancel the reservation", str(answer.get("status")))
    return view


# ------------------------------------------------------------------------------------------------
# Charging
# ------------------------------------------------------------------------------------------------


def start_charging(rt: Runtime, user: User, identity, connector_id) -> dict:
    """RemoteStartTransaction with the driver's id tag, after the wallet and availability checks."""
    now = utcnow()
    with rt.db.uow() as uow:
        s = uow.session
        require_balance_to_charge(s, user, rt.settings)
        cp = _charge_point(s, identity)
        connector_id = _check_connector(s, cp, connector_id)
        tag = _tag_of(s, user)
        running = s.scalar(
            select(Transaction.id).where(Transaction.user_id == user.id, Transaction.stop_timestamp.is_(None))
        )
        if running is not None:
            raise Conflict(f"You are charging already (session {running}); stop it first")
        foreign = s.scalar(
            select(func.count())
            .select_from(Reservation)
            .where(
                Reservation.charge_point_id == cp.id,
                Reservation.connector_id.in_([0, connector_id]),
                Reservation.status == "Accepted",
                Reservation.expiry_date > now,
                (Reservation.user_id.is_(None)) | (Reservation.user_id != user.id),
            )
        )
        if foreign:
            raise Conflict("This connector is reserved for someone else")
        uow.commit()
        identity = cp.identity
    answer = execute(rt, identity, "RemoteStartTransaction", {"connectorId": connector_id, "idTag": tag})
    if answer.get("status") != RemoteStartStopStatus.accepted:
        raise ChargerRefused("The charger refused to start charging", str(answer.get("status")))
    return {
        "status": RemoteStartStopStatus.accepted,
        "chargePointId": identity,
        "connectorId": connector_id,
        "idTag": tag,
    }


def _own_session(session: Session, user: User, session_id: int) -> Transaction:
    tx = session.get(Transaction, session_id)
    if tx is None or tx.user_id != user.id:
        raise NotFound("No such charging session")
    return tx


def stop_charging(rt: Runtime, user: User, session_id: int) -> dict:
    """RemoteStopTransaction for one of the driver's running sessions."""
    with rt.db.uow() as uow:
        tx = _own_session(uow.session, user, session_id)
        if not tx.is_active:
            raise Conflict(f"Session {session_id} has ended already")
        identity = uow.session.scalar(select(ChargePoint.identity).where(ChargePoint.id == tx.charge_point_id))
    if identity is None:  # its charge point was removed meanwhile
        raise NotFound(f"Unknown charge point of session {session_id}")
    answer = execute(rt, identity, "RemoteStopTransaction", {"transactionId": session_id})
    if answer.get("status") != RemoteStartStopStatus.accepted:
        raise ChargerRefused("The charger refused to stop the session", str(answer.get("status")))
    return {"status": RemoteStartStopStatus.accepted, "sessionId": session_id}


def session_view(session: Session, tx: Transaction, settings: Settings, now: datetime | None = None) -> dict:
    """A session with energy, duration, power (while running), cost and its per-band breakdown."""
    now = now or utcnow()
    cp_identity, station_id = session.execute(
        select(ChargePoint.identity, ChargePoint.station_id).where(ChargePoint.id == tx.charge_point_id)
    ).one()
    station_name = session.scalar(select(Station.name).where(Station.id == station_id)) if station_id else None
    end = tx.stop_timestamp or now
    charge = (
        None if tx.is_active else session.scalar(select(SessionCharge).where(SessionCharge.transaction_id == tx.id))
    )
    if charge is not None:
        total, breakdown = charge.total_minor, charge.breakdown
    else:
        pricing = price_transaction(session, tx)
        total = pricing.total_minor
        breakdown = [{**row, "from": iso(row["from"]), "to": iso(row["to"])} for row in pricing.breakdown]
    energy = tx.energy_wh or 0.0
    return {
        "id": tx.id,
        "status": "active" if tx.is_active else "finished",
        "chargePointId": cp_identity,
        "connectorId": tx.connector_id,
        "stationId": station_id,
        "stationName": station_name,
        "startedAt": iso(tx.start_timestamp),
        "stoppedAt": iso(tx.stop_timestamp),
        "durationSeconds": max(0, int((end - tx.start_timestamp).total_seconds())),
        "energyKwh": round(energy / 1000, 3),
        "powerKw": round((tx.last_power_w or 0.0) / 1000, 3) if tx.is_active else 0.0,
        "cost": minor_to_amount(total),
        "currency": settings.currency,
        "stopReason": tx.stop_reason,
        "breakdown": [
            {
                "from": b["from"],
                "to": b["to"],
                "label": b["label"],
                "pricePerKwh": b["pricePerKwh"],
                "energyKwh": round(b["energyWh"] / 1000, 3),
                "cost": minor_to_amount(b["costMinor"]),
            }
            for b in breakdown
        ],
    }


def sessions(
    session: Session, user: User, settings: Settings, *, status: str | None = None, limit: int = 20, offset: int = 0
) -> list[dict]:
    """The driver's sessions, newest first; ``status`` active or finished filters."""
    q = select(Transaction).where(Transaction.user_id == user.id)
    if status == "active":
        q = q.where(Transaction.stop_timestamp.is_(None))
    elif status == "finished":
        q = q.where(Transaction.stop_timestamp.is_not(None))
    rows = session.scalars(
        q.order_by(Transaction.start_timestamp.desc(), Transaction.id.desc()).limit(limit).offset(offset)
    )
    return [session_view(session, tx, settings) for tx in rows]


def charging_session(session: Session, user: User, settings: Settings, session_id: int) -> dict:
    return session_view(session, _own_session(session, user, session_id), settings)
