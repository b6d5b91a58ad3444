"""CMS-initiated OCPP commands: validation, routing through the dispatcher, and what the CMS keeps of each answer.

Whatever the charger speaks (OCPP-J, SOAP 1.5, SOAP 1.6), a command is an OCPP 1.6 request payload; the
transport's gateway maps it. Effects of answers (configuration cache, charging profiles, reservations, local
list versions) are applied here, once, for every transport.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from ocpp.v16.enums import (
    CancelReservationStatus,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    UpdateStatus,
)
from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.orm import Session

from . import message_log, visibility
from .errors import Conflict, InvalidInput, NotFound
from .gateway import CallFailed
from .models import (
    ChargePoint,
    ChargerConfigurationKey,
    ChargingProfileRecord,
    DataTransferRecord,
    LocalListEntry,
    Reservation,
    User,
    utcnow,
)
from .timeutil import parse_timestamp

log = logging.getLogger(__name__)

COMMANDS_15 = frozenset(
    {
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "DataTransfer",
        "GetConfiguration",
        "GetDiagnostics",
        "GetLocalListVersion",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "UnlockConnector",
        "UpdateFirmware",
    }
)
COMMANDS_16 = COMMANDS_15 | {"ClearChargingProfile", "SetChargingProfile", "GetCompositeSchedule", "TriggerMessage"}
COMMANDS_BY_VERSION = {"1.5": COMMANDS_15, "1.6": COMMANDS_16}

if TYPE_CHECKING:
    from .runtime import Runtime


def commands_for(version: str) -> frozenset[str]:
    """The CMS-initiated actions a charger of OCPP ``version`` understands."""
    return COMMANDS_BY_VERSION.get(version, COMMANDS_16)


@dataclass
class CommandContext:
    session: Session
    charge_point: ChargePoint
    request: dict
    response: dict


# --------------------------------------------------------------------------------------------------------
# Before sending: fill in what the CMS provides, create the rows the answer will update.
# --------------------------------------------------------------------------------------------------------


def _prepare_reserve_now(s: Session, cp: ChargePoint, payload: dict) -> None:
    rid = payload["reservationId"]
    expiry = parse_timestamp(payload["expiryDate"])
    if expiry is None:
        raise InvalidInput("expiryDate is not a readable date-time")
    r = s.get(Reservation, rid)
    if r is None:
        s.add(
            Reservation(
                id=rid,
                charge_point_id=cp.id,
                connector_id=payload["connectorId"],
                id_tag=payload["idTag"],
                parent_id_tag=payload.get("parentIdTag"),
                expiry_date=expiry,
            )
        )
    elif r.charge_point_id != cp.id:
        raise Conflict(f"Reservation {rid} belongs to another charge point")
    else:  # ReserveNow with a known id replaces the reservation (OCPP 1.6, 5.13)
        r.connector_id, r.id_tag, r.expiry_date = payload["connectorId"], payload["idTag"], expiry
        r.parent_id_tag = payload.get("parentIdTag")
        r.status = "Requested"


_PREPARE: dict[str, Callable[[Session, ChargePoint, dict], None]] = {"ReserveNow": _prepare_reserve_now}


# --------------------------------------------------------------------------------------------------------
# After the answer: what the CMS keeps.
# --------------------------------------------------------------------------------------------------------


def _on_cancel_reservation(c: CommandContext) -> None:
    r = c.session.get(Reservation, c.request["reservationId"])
    if (
        r is not None
        and r.charge_point_id == c.charge_point.id
        and c.response.get("status") == CancelReservationStatus.accepted
    ):
        r.status = "Cancelled"


def _on_reserve_now(c: CommandContext) -> None:
    r = c.session.get(Reservation, c.request["reservationId"])
    if r is not None:
        r.status = c.response.get("status", "Rejected")


def _config_row(c: CommandContext, key: str) -> ChargerConfigurationKey:
    row = c.session.scalar(
        select(ChargerConfigurationKey).where(
            ChargerConfigurationKey.charge_point_id == c.charge_point.id, ChargerConfigurationKey.key == key
        )
    )
    if row is None:
        row = ChargerConfigurationKey(charge_point_id=c.charge_point.id, key=key)
        c.session.add(row)
    return row


def _on_change_configuration(c: CommandContext) -> None:
    status = c.response.get("status")
    row = _config_row(c, c.request["key"])
    row.last_change_status = status
    row.updated_at = utcnow()
    if status in (ConfigurationStatus.accepted, ConfigurationStatus.reboot_required):
        row.value = c.request["value"]
        row.unknown = False
    elif status == ConfigurationStatus.not_supported:
        row.unknown = True


def _on_get_configuration(c: CommandContext) -> None:
    for item in c.response.get("configurationKey") or []:
        row = _config_row(c, item["key"])
        row.value = item.get("value")
        row.readonly = bool(item.get("readonly"))
        row.unknown = False
        row.updated_at = utcnow()
    for key in c.response.get("unknownKey") or []:
        row = _config_row(c, key)
        row.unknown = True
        row.updated_at = utcnow()


def _on_set_charging_profile(c: CommandContext) -> None:
    if c.response.get("status") != ChargingProfileStatus.accepted:
        return
    profile = c.request["csChargingProfiles"]
    connector_id = c.request["connectorId"]
    # A new profile replaces one with the same id, or the same stack level and purpose (OCPP 1.6, 3.13.2).
    c.session.execute(
        delete(ChargingProfileRecord).where(
            ChargingProfileRecord.charge_point_id == c.charge_point.id,
            (ChargingProfileRecord.profile_id == profile["chargingProfileId"])
            | (
                (ChargingProfileRecord.stack_level == profile["stackLevel"])
                & (ChargingProfileRecord.purpose == profile["chargingProfilePurpose"])
                & (ChargingProfileRecord.connector_id == connector_id)
            ),
        )
    )
    c.session.add(
        ChargingProfileRecord(
            charge_point_id=c.charge_point.id,
            connector_id=connector_id,
            profile_id=profile["chargingProfileId"],
            stack_level=profile["stackLevel"],
            purpose=profile["chargingProfilePurpose"],
            profile=profile,
        )
    )


def _on_clear_charging_profile(c: CommandContext) -> None:
    if c.response.get("status") != ClearChargingProfileStatus.accepted:
        return
    q = delete(ChargingProfileRecord).where(ChargingProfileRecord.charge_point_id == c.charge_point.id)
    r = c.request
    if r.get("id") is not None:
        q = q.where(ChargingProfileRecord.profile_id == r["id"])
    if r.get("connectorId") is not None:
        q = q.where(ChargingProfileRecord.connector_id == r["connectorId"])
    if r.get("chargingProfilePurpose") is not None:
        q = q.where(ChargingProfileRecord.purpose == r["chargingProfilePurpose"])
    if r.get("stackLevel") is not None:
        q = q.where(ChargingProfileRecord.stack_level == r["stackLevel"])
    c.session.execute(q)


def _on_data_transfer(c: CommandContext) -> None:
    c.session.add(
        DataTransferRecord(
            charge_point_id=c.charge_point.id,
            direction="out",
            vendor_id=c.request["vendorId"],
            message_id=c.request.get("messageId"),
            data=c.request.get("data"),
            status=c.response.get("status"),
            response_data=c.response.get("data"),
        )
    )


def _on_get_local_list_version(c: CommandContext) -> None:
    version = c.response.get("listVersion")
    if isinstance(version, int):
        c.charge_point.local_list_version = version


def _on_send_local_list(c: CommandContext) -> None:
    if c.response.get("status") != UpdateStatus.accepted:
        return
    cp, s = c.charge_point, c.session
    version = c.request["listVersion"]
    if c.request["updateType"] == "Full":
        s.execute(delete(LocalListEntry).where(LocalListEntry.charge_point_id == cp.id))
    for item in c.request.get("localAuthorizationList") or []:
        tag = item["idTag"]
        existing = s.scalar(
            select(LocalListEntry).where(LocalListEntry.charge_point_id == cp.id, LocalListEntry.id_tag == tag)
        )
        info = item.get("idTagInfo")
        if info is None:  # a differential update without idTagInfo removes the tag
            if existing is not None:
                s.delete(existing)
            continue
        if existing is None:
            s.add(LocalListEntry(charge_point_id=cp.id, id_tag=tag, id_tag_info=info, list_version=version))
        else:
            existing.id_tag_info, existing.list_version = info, version
    cp.local_list_version = version


_EFFECTS: dict[str, Callable[[CommandContext], None]] = {
    "CancelReservation": _on_cancel_reservation,
    "ReserveNow": _on_reserve_now,
    "ChangeConfiguration": _on_change_configuration,
    "GetConfiguration": _on_get_configuration,
    "SetChargingProfile": _on_set_charging_profile,
    "ClearChargingProfile": _on_clear_charging_profile,
    "DataTransfer": _on_data_transfer,
    "GetLocalListVersion": _on_get_local_list_version,
    "SendLocalList": _on_send_local_list,
}


# --------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------


def _load_charge_point(s: Session, identity: str) -> ChargePoint:
    cp = s.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
    if cp is None or not cp.registered:
        raise NotFound(f"Unknown charge point {identity}")
    return cp


def check_access(cp: ChargePoint, user: User) -> None:
    """Owners reach their own charge points only; administrators reach all. Others see 404, not 403."""
    if not visibility.may_see(user, cp.owner_id):
        raise NotFound(f"Unknown charge point {cp.identity}")


def execute(
    rt: Runtime, identity: str, action: str, payload: dict, *, timeout: float | None = None, user: User | None = None
) -> dict:
    """Send ``action`` to the charger and apply what its answer tells; returns the response payload.

    With ``user``, the charge point must be theirs (see :func:`check_access`). Raises NotFound, InvalidInput
    (invalid payload or an action the charger's OCPP version lacks), Conflict, or a
    :class:`cms.gateway.CallFailed` (not connected, CALLERROR, timeout).
    """
    with rt.db.uow() as uow:
        cp = _load_charge_point(uow.session, identity)
        if user is not None:
            check_access(cp, user)
        rt.dispatcher.validate(action, payload)
        if action not in commands_for(cp.ocpp_version):
            raise InvalidInput(f"{action} does not exist in OCPP {cp.ocpp_version}, which {identity} speaks")
        prepare = _PREPARE.get(action)
        if prepare is not None:
            prepare(uow.session, cp, payload)
        _log(rt, uow.session, cp.id, "out", action, payload)
        uow.commit()
    # No database transaction is held while the charger thinks.
    try:
        response = rt.dispatcher.route(identity, action, payload, timeout=timeout)
    except CallFailed as failure:
        _record_failure(rt, identity, action, payload, failure)
        raise
    with rt.db.uow() as uow:
        cp = _load_charge_point(uow.session, identity)
        effect = _EFFECTS.get(action)
        if effect is not None:
            effect(CommandContext(uow.session, cp, payload, response))
        _log(rt, uow.session, cp.id, "in", action, response)
        uow.commit()
    return response


def record_calls(rt: Runtime, s: Session, calls: list[tuple[str, str, dict, dict | CallFailed]]) -> None:
    """Keep what :func:`execute` keeps of calls sent straight through the dispatcher (in bulk, by load
    management): for each ``(identity, action, request, response or failure)`` the request and the answer in the
    message log and the answer's effect (e.g. an accepted charging profile is stored). The caller commits.

    Written in a few statements whatever the number of calls: the log rows in one INSERT, accepted
    SetChargingProfile calls as one DELETE of the profiles they replace and one INSERT; other effects one by one."""
    ids: dict[str, int] = {
        identity: cp_id
        for identity, cp_id in s.execute(
            select(ChargePoint.identity, ChargePoint.id).where(ChargePoint.identity.in_({c[0] for c in calls}))
        )
    }
    now = utcnow()
    log_rows: list[dict] = []
    profiles: list[tuple[int, dict]] = []
    for identity, action, payload, answer in calls:
        cp_id = ids.get(identity)
        if cp_id is None:
            continue
        log_rows.append(message_log.row(cp_id, "out", action, orjson.dumps(payload).decode(), now))
        if isinstance(answer, CallFailed):
            failure = {"error": answer.__class__.__name__, "message": str(answer)}
            log_rows.append(message_log.row(cp_id, "error", action, orjson.dumps(failure).decode(), now))
            continue
        log_rows.append(message_log.row(cp_id, "in", action, orjson.dumps(answer).decode(), now))
        if action == "SetChargingProfile":
            if answer.get("status") == "Accepted":
                profiles.append((cp_id, payload))
            continue
        effect = _EFFECTS.get(action)
        if effect is not None:
            cp = s.get(ChargePoint, cp_id)
            assert cp is not None
            effect(CommandContext(s, cp, payload, answer))
    if profiles:
        _store_profiles(s, profiles)
    if log_rows and rt.settings.message_log_limit > 0:
        message_log.record_rows(s, log_rows, limit=rt.settings.message_log_limit)


def _store_profiles(s: Session, accepted: list[tuple[int, dict]]) -> None:
    """Accepted SetChargingProfile requests, as :func:`_on_set_charging_profile` keeps each, in two statements."""
    # Two row-value IN lists rather than an OR per profile: the statement is compiled once, whatever the count.
    by_id = {(cp_id, r["csChargingProfiles"]["chargingProfileId"]) for cp_id, r in accepted}
    by_slot = {
        (
            cp_id,
            r["csChargingProfiles"]["stackLevel"],
            r["csChargingProfiles"]["chargingProfilePurpose"],
            r["connectorId"],
        )
        for cp_id, r in accepted
    }
    s.execute(
        delete(ChargingProfileRecord).where(
            tuple_(ChargingProfileRecord.charge_point_id, ChargingProfileRecord.profile_id).in_(sorted(by_id))
            | tuple_(
                ChargingProfileRecord.charge_point_id,
                ChargingProfileRecord.stack_level,
                ChargingProfileRecord.purpose,
                ChargingProfileRecord.connector_id,
            ).in_(sorted(by_slot))
        )
    )
    # The last of several for the same charge point and profile id wins, as if they had come one by one.
    latest = {(cp_id, r["csChargingProfiles"]["chargingProfileId"]): (cp_id, r) for cp_id, r in accepted}
    s.execute(
        insert(ChargingProfileRecord.__table__),
        [
            {
                "charge_point_id": cp_id,
                "connector_id": r["connectorId"],
                "profile_id": r["csChargingProfiles"]["chargingProfileId"],
                "stack_level": r["csChargingProfiles"]["stackLevel"],
                "purpose": r["csChargingProfiles"]["chargingProfilePurpose"],
                "profile": r["csChargingProfiles"],
                "created_at": utcnow(),
            }
            for cp_id, r in latest.values()
        ],
    )


def _record_failure(rt: Runtime, identity: str, action: str, payload: dict, failure: CallFailed) -> None:
    """Keep the failure in the message log; a reservation that was never confirmed is not left pending."""
    with rt.db.uow() as uow:
        cp = _load_charge_point(uow.session, identity)
        if action == "ReserveNow":
            r = uow.session.get(Reservation, payload["reservationId"])
            if r is not None and r.status == "Requested":
                r.status = "Failed"
        _log(rt, uow.session, cp.id, "error", action, {"error": failure.__class__.__name__, "message": str(failure)})
        uow.commit()


def build_local_list(s: Session, cp: ChargePoint, update_type: str) -> dict:
    """A SendLocalList payload from the owner's id tags: all of them (Full) or what changed since the
    last accepted list (Differential: new or changed tags, and removed ones without idTagInfo)."""
    from .authorization import tag_status
    from .models import IdTag
    from .timeutil import iso

    if update_type not in ("Full", "Differential"):
        raise InvalidInput("updateType is Full or Differential")
    now = utcnow()
    tags = s.scalars(select(IdTag).where(IdTag.owner_id == cp.owner_id).order_by(IdTag.tag)).all()
    wanted: dict[str, dict] = {}
    for t in tags:
        info = {"status": tag_status(t, now)}
        if t.expiry_date is not None:
            info["expiryDate"] = iso(t.expiry_date)
        if t.parent is not None:
            info["parentIdTag"] = t.parent.tag
        wanted[t.tag] = info
    entries: list[dict] = []
    if update_type == "Full":
        entries = [{"idTag": tag, "idTagInfo": info} for tag, info in wanted.items()]
    else:
        sent = {
            e.id_tag: e.id_tag_info
            for e in s.scalars(select(LocalListEntry).where(LocalListEntry.charge_point_id == cp.id))
        }
        entries = [{"idTag": tag, "idTagInfo": info} for tag, info in wanted.items() if sent.get(tag) != info]
        entries += [{"idTag": tag} for tag in sent if tag not in wanted]
    return {"listVersion": cp.local_list_version + 1, "updateType": update_type, "localAuthorizationList": entries}


def sync_local_list(
    rt: Runtime, user: User, identity: str, update_type: str = "Differential", timeout: float | None = None
) -> dict:
    """Build the charger's local list from its owner's id tags and send it; returns payload and answer."""
    with rt.db.uow() as uow:
        cp = _load_charge_point(uow.session, identity)
        check_access(cp, user)
        payload = build_local_list(uow.session, cp, update_type)
    response = execute(rt, identity, "SendLocalList", payload, timeout=timeout, user=user)
    return {"request": payload, "response": response}


def send_command(
    rt: Runtime, user: User, identity: str, action: str, payload: dict, *, timeout: float | None = None
) -> dict:
    """:func:`execute` on behalf of ``user``, who must own the charge point (or be an administrator)."""
    return execute(rt, identity, action, payload, timeout=timeout, user=user)


def _log(rt: Runtime, s: Session, cp_id: int, direction: str, action: str, payload: dict) -> None:
    limit = rt.settings.message_log_limit
    if limit > 0:
        message_log.record(s, cp_id, direction, action, None, orjson.dumps(payload).decode(), limit=limit)
