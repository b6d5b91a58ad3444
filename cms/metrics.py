"""The metrics port: what the CMS counts and times, whoever exposes it.

Collaborators (the charger service, the group committer, the heartbeat batcher, the dispatcher, the SOAP mount)
take a :class:`Metrics` when they are built; ``create_app`` builds one per app (``cms.prometheus``, served on
``/metrics``). The default, :data:`NO_METRICS`, records nothing, so the core and its unit tests need no metrics
library. Implementations bound every label value they are given with :func:`action_label` and
:func:`outcome_label`: an action name or an error code can come from a charger, and a label value it could
choose freely would let it grow the number of series without end.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from typing import Protocol

from .schemas import ocpp_actions

RESULT = "result"  # the outcome of a message or command that was answered normally
INTERNAL_ERROR = "InternalError"  # the OCPP-J code (SOAP: a Receiver fault) of the server's own failures
NO_ACTION = "none"  # a message too broken to name its action (not JSON, not a SOAP envelope of the WSDL)
OTHER = "other"  # an action or code outside the vocabulary

# Outcomes of a CMS-initiated command (cms.dispatcher), besides RESULT.
CHARGER_CALL_ERROR = "charger_call_error"  # the charger answered with a CALLERROR or a SOAP fault
TIMEOUT = "timeout"  # no answer in time
NOT_CONNECTED = "not_connected"  # nothing holds a connection to the charger
FAILED = "error"  # anything else (the command could not be sent: a SOAP version lacks it, Redis failed, ...)

# An error or fault code is written by the server (OcppError codes, SOAP fault codes): an identifier, bounded
# anyway in case a code ever carries something else.
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")


def action_label(action: str | None) -> str:
    """``action`` when it is an OCPP 1.6 action, :data:`NO_ACTION` for none, else :data:`OTHER`."""
    if not action:
        return NO_ACTION
    # any OCPP 1.6 action, in either direction: a charger may send any of them
    return action if action in ocpp_actions() else OTHER


def outcome_label(outcome: str | None) -> str:
    """``result`` or an error/fault code (``SecurityError``, ``FormationViolation``...); :data:`OTHER` else."""
    if outcome and _CODE.fullmatch(outcome):
        return outcome
    return OTHER


class Metrics(Protocol):
    """What the CMS records. Every method is cheap and never raises into the caller's work."""

    def charger_message(self, transport: str, action: str | None, outcome: str, seconds: float | None = None) -> None:
        """A message from a charger was answered: ``outcome`` is :data:`RESULT` or the OCPP error code (SOAP:
        the fault's OCPP code) it was answered with; ``seconds`` how long the CMS took to handle it (None: it
        was refused before it was handled). Called once per message; :data:`INTERNAL_ERROR` is also counted
        on its own."""

    def internal_error(self, transport: str) -> None:
        """An InternalError (SOAP: a Receiver fault) was answered for a message already counted with another
        outcome (its answer could not be encoded)."""

    def command_sent(self, action: str, outcome: str, seconds: float) -> None:
        """A CMS-initiated call ended: ``outcome`` is :data:`RESULT`, :data:`CHARGER_CALL_ERROR`,
        :data:`TIMEOUT`, :data:`NOT_CONNECTED` or :data:`FAILED`; ``seconds`` its round trip."""

    def group_committed(self, size: int) -> None:
        """A group of ``size`` charger messages was committed in one transaction (cms.group_commit)."""

    def heartbeat_batch_written(self, size: int, lag_seconds: float) -> None:
        """``size`` chargers' heartbeat times were written together; the oldest waited ``lag_seconds``."""

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """What ``GET /metrics`` answers: the body and its content type (by the ``Accept`` header)."""
        ...


class NoMetrics:
    """Records nothing: the default of every collaborator, and what the unit tests of the core use."""

    def charger_message(self, transport: str, action: str | None, outcome: str, seconds: float | None = None) -> None:
        pass

    def internal_error(self, transport: str) -> None:
        pass

    def command_sent(self, action: str, outcome: str, seconds: float) -> None:
        pass

    def group_committed(self, size: int) -> None:
        pass

    def heartbeat_batch_written(self, size: int, lag_seconds: float) -> None:
        pass

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        return b"", "text/plain; version=0.0.4; charset=utf-8"


NO_METRICS: Metrics = NoMetrics()  # stateless, so one instance serves everybody


# ----- who may read the metrics (GET /metrics) -----

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``CMS_METRICS_ALLOW``: comma-separated addresses or CIDR networks; raises ValueError naming a bad one."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"CMS_METRICS_ALLOW: {item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


class MetricsAccess:
    """The metrics are readable from the allowed networks, or by anyone presenting the Bearer token (when one
    is configured). Anything else is refused."""

    def __init__(self, networks: tuple[IPNetwork, ...], token: str = ""):
        self.networks = networks
        self._token = token.encode()

    @classmethod
    def from_settings(cls, settings) -> MetricsAccess:
        return cls(parse_networks(settings.metrics_allow), settings.metrics_token)

    def allows(self, address: str | None, authorization: str | None) -> bool:
        """``address``: the client's (after the proxy rules); ``authorization``: its Authorization header."""
        if self._token and authorization:
            scheme, _, presented = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), self._token):
                return True
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket is 127.0.0.1
        return any(ip in net for net in self.networks)
