"""OCPP 1.5 <-> 1.6 at the edge: the core only ever sees and answers OCPP 1.6 payloads.

Charger-initiated: a 1.5 request becomes its 1.6 equivalent (``request_to_16``) and the 1.6 answer is told
back in 1.5 terms (``response_to_15``). CMS-initiated: the other way round (``command_to_15``,
``command_result_to_16``). Fields 1.5 lacks are dropped by the encoder; what needs a real translation is here.
"""

from __future__ import annotations

# 1.5 ChargePointStatus -> 1.6. "Occupied" (a connector in use) has no single 1.6 value; it is reported
# as Charging, the 1.6 state a connector in use is in unless the charger says more (1.5 chargers cannot).
_STATUS_TO_16 = {"Occupied": "Charging"}
# 1.5 ChargePointErrorCode -> 1.6: Mode3Error is the IEC 61851 control-pilot failure, EVCommunicationError.
_ERROR_CODE_TO_16 = {"Mode3Error": "EVCommunicationError"}
# 1.5 UnitOfMeasure names that 1.6 renamed.
_UNIT_TO_16 = {"Amp": "A", "Volt": "V"}
# 1.6 RegistrationStatus -> 1.5 (which has no Pending: a charger told Rejected retries, as with Pending).
_REGISTRATION_TO_15 = {"Pending": "Rejected"}
# 1.5 UnlockStatus -> 1.6.
_UNLOCK_TO_16 = {"Accepted": "Unlocked", "Rejected": "UnlockFailed"}
# 1.5 UpdateStatus -> 1.6 (1.5's HashError is a failed update of the list).
_UPDATE_STATUS_TO_16 = {"HashError": "Failed"}

# The CMS-initiated operations OCPP 1.5 does not define (1.6 has 19, 1.5 these 15 fewer 4).
MISSING_IN_15 = frozenset({"ClearChargingProfile", "SetChargingProfile", "GetCompositeSchedule", "TriggerMessage"})


def _meter_value_to_16(mv):
    """A 1.5 MeterValue (``value`` elements with attributes) as a 1.6 one (``sampledValue`` objects).
    Anything else is passed on as it is, for the service layer to judge like any OCPP-J payload."""
    if not isinstance(mv, dict) or not isinstance(mv.get("value", []), list):
        return mv
    samples = []
    for v in mv.get("value") or []:
        if not isinstance(v, dict):
            samples.append(v)
            continue
        sample = {"value": v.get("text", "")}
        for attr in ("context", "format", "measurand", "location"):
            if v.get(attr) is not None:
                sample[attr] = v[attr]
        if v.get("unit") is not None:
            sample["unit"] = _renamed(v["unit"], _UNIT_TO_16)
        samples.append(sample)
    out = {k: v for k, v in mv.items() if k not in ("value", "timestamp")}  # unknown elements stay visible
    out["sampledValue"] = samples
    if mv.get("timestamp") is not None:
        out["timestamp"] = mv["timestamp"]
    return out


def _meter_values_to_16(values):
    return [_meter_value_to_16(mv) for mv in values] if isinstance(values, list) else values


def _transaction_data_to_16(data):
    """1.5 wraps the readings in TransactionData elements, each holding ``values``; 1.6 lists them."""
    if not isinstance(data, list):
        return data
    readings: list = []
    for td in data:
        values = td.get("values") or [] if isinstance(td, dict) else [td]
        readings += _meter_values_to_16(values) if isinstance(values, list) else [values]
    return readings


def request_to_16(action: str, p: dict) -> dict:
    """A charger-initiated 1.5 request payload as the 1.6 payload the service layer takes."""
    p = dict(p)
    if action == "MeterValues" and "values" in p:
        p["meterValue"] = _meter_values_to_16(p.pop("values"))
    elif action == "StopTransaction" and "transactionData" in p:
        p["transactionData"] = _transaction_data_to_16(p.pop("transactionData"))
    elif action == "StatusNotification":
        for field, table in (("status", _STATUS_TO_16), ("errorCode", _ERROR_CODE_TO_16)):
            if field in p:
                p[field] = _renamed(p[field], table)
    return p


def _renamed(value, table: dict):
    """A 1.5 value by its 1.6 name; anything else (another value, a structure) as it is."""
    return table.get(value, value) if isinstance(value, str) else value


def response_to_15(action: str, r: dict) -> dict:
    """The service layer's 1.6 response as the 1.5 response."""
    r = dict(r)
    if action == "BootNotification":
        r["heartbeatInterval"] = r.pop("interval", None)
        r["status"] = _renamed(r.get("status"), _REGISTRATION_TO_15)
    return r


def command_to_15(action: str, p: dict) -> dict:
    """A CMS-initiated 1.6 request payload as the 1.5 request."""
    p = dict(p)
    if action == "SendLocalList":
        p["localAuthorisationList"] = p.pop("localAuthorizationList", None) or []
    return p


def command_result_to_16(action: str, r: dict) -> dict:
    """A 1.5 charger's answer to a CMS-initiated call as the 1.6 response payload."""
    r = dict(r)
    if action == "UnlockConnector":
        r["status"] = _renamed(r.get("status"), _UNLOCK_TO_16)
    elif action == "SendLocalList":
        r.pop("hash", None)
        r["status"] = _renamed(r.get("status"), _UPDATE_STATUS_TO_16)
    return r
