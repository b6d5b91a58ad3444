"""The ``SetChargingProfile`` payloads load management sends (OCPP 1.6, in amperes).

A ``TxProfile`` per session on its connector (bound to its transaction, one stack level above the owner's own
TxProfiles on that charger), and a ``TxDefaultProfile`` on connector 0 with the safe fallback: what every
connector may draw when the CMS is unreachable. Limits are rounded down to 0.1 A, the schema's step; 0 A pauses.
Both are ``Relative`` schedules of one period that never ends, so the payload depends on the limit only (a limit
that did not change gives the same payload).
"""

from __future__ import annotations

import math

from .state import TX_DEFAULT_PROFILE_ID, TX_PROFILE_ID_BASE

# The stack level of the fallback profile: above 0 so that a charger's factory default profile yields to it.
TX_DEFAULT_STACK_LEVEL = 1


def tenth_down(amperes: float) -> float:
    """``amperes`` rounded down to 0.1 A (never below 0)."""
    return max(0.0, math.floor(round(amperes * 10, 6)) / 10)


def _schedule(limit_a: float, phases: int) -> dict:
    return {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": tenth_down(limit_a), "numberPhases": phases}],
    }


def tx_profile(connector_id: int, transaction_id: int, limit_a: float, phases: int, owner_stack_level: int) -> dict:
    """The ``SetChargingProfile`` request limiting one session to ``limit_a`` per phase."""
    return {
        "connectorId": connector_id,
        "csChargingProfiles": {
            "chargingProfileId": TX_PROFILE_ID_BASE + connector_id,
            "transactionId": transaction_id,
            "stackLevel": max(0, owner_stack_level) + 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": _schedule(limit_a, phases),
        },
    }


def tx_default_profile(limit_a: float, phases: int) -> dict:
    """The ``SetChargingProfile`` request giving every connector of a charge point the fallback ``limit_a``."""
    return {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": TX_DEFAULT_PROFILE_ID,
            "stackLevel": TX_DEFAULT_STACK_LEVEL,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": _schedule(limit_a, phases),
        },
    }


def profile_limit(payload: dict) -> float:
    """The limit of a profile built here."""
    return payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
