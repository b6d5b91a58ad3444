"""OCPP-J message frames: ``[2, id, action, payload]``, ``[3, id, payload]``, ``[4, id, code, desc, details]``."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from cms.errors import OcppError

CALL, CALLRESULT, CALLERROR = 2, 3, 4


@dataclass(slots=True)
class Frame:
    type: int
    unique_id: str
    action: str | None = None
    payload: dict | None = None
    error_code: str | None = None
    error_description: str | None = None
    error_details: dict | None = None


class FrameError(OcppError):
    """A frame we cannot read; ``unique_id`` is what we could recover of it (or "-1").

    ``answer``: whether the charger is told (CALLERROR). OCPP-J answers only CALLs: a frame that is recognisably
    a CALLRESULT, a CALLERROR or of an unknown message type is ignored, however malformed; one whose type cannot
    be told (not JSON, not an array) might be a CALL and is answered."""

    def __init__(self, code: str, description: str, unique_id: str = "-1", *, answer: bool = True):
        super().__init__(code, description)
        self.unique_id = unique_id
        self.answer = answer


def parse(text: str | bytes) -> Frame:
    """Decode one frame, raising :class:`FrameError` with the OCPP 1.6 code for what is wrong with it."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError("FormationViolation", "Message is not valid JSON") from None
    if not isinstance(msg, list) or len(msg) < 2:
        raise FrameError(
            "FormationViolation",
            "An OCPP-J message is a JSON array [type, id, ...]",
            answer=not (isinstance(msg, list) and msg and not _maybe_call(msg[0])),
        )
    kind, uid = msg[0], msg[1]
    if not isinstance(uid, str) or not uid or len(uid) > 36:
        raise FrameError(
            "FormationViolation",
            "UniqueId must be a string of at most 36 characters",
            uid if isinstance(uid, str) else "-1",
            answer=_maybe_call(kind),
        )
    if kind == CALL:
        if len(msg) != 4:
            raise FrameError(
                "ProtocolError" if len(msg) < 4 else "FormationViolation",
                "A CALL is [2, uniqueId, action, payload]",
                uid,
            )
        if not isinstance(msg[2], str):
            raise FrameError("FormationViolation", "Action must be a string", uid)
        if not isinstance(msg[3], dict):
            raise FrameError("TypeConstraintViolation", "Payload must be a JSON object", uid)
        return Frame(CALL, uid, msg[2], msg[3])
    if kind == CALLRESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            raise FrameError("FormationViolation", "A CALLRESULT is [3, uniqueId, payload]", uid, answer=False)
        return Frame(CALLRESULT, uid, payload=msg[2])
    if kind == CALLERROR:
        if len(msg) < 4:
            raise FrameError(
                "FormationViolation", "A CALLERROR is [4, uniqueId, code, description, details]", uid, answer=False
            )
        details = msg[4] if len(msg) > 4 and isinstance(msg[4], dict) else {}
        return Frame(CALLERROR, uid, error_code=str(msg[2]), error_description=str(msg[3]), error_details=details)
    # OCPP-J 1.6, 4.1.3: a message of a type not in the list is ignored.
    raise FrameError("FormationViolation", f"Unknown MessageTypeId {kind!r}", uid, answer=False)


def _maybe_call(kind) -> bool:
    """Whether a frame whose MessageTypeId reads ``kind`` may be a CALL (and so be answered): a number or
    text other than 2 names another type; anything else (an object, null) tells nothing."""
    if isinstance(kind, bool) or not isinstance(kind, int | float | str):
        return True
    return kind == CALL


def call(unique_id: str, action: str, payload: dict) -> str:
    return orjson.dumps([CALL, unique_id, action, payload]).decode()


def call_result(unique_id: str, payload: dict) -> str:
    return orjson.dumps([CALLRESULT, unique_id, payload]).decode()


def call_error(unique_id: str, code: str, description: str = "", details: dict | None = None) -> str:
    return orjson.dumps([CALLERROR, unique_id, code, description[:255], details or {}]).decode()
