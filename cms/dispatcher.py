"""One way to send a CMS-initiated call to any charger, whichever transport, process or node holds it."""

from __future__ import annotations

import logging
from time import perf_counter
from typing import TYPE_CHECKING

from sqlalchemy import select

from .db import Database
from .errors import InvalidInput, NotFound, OcppError
from .gateway import CallFailed, ChargerCallError, ChargerGateway, ChargerNotConnected, ChargerTimeout
from .metrics import CHARGER_CALL_ERROR, FAILED, NO_METRICS, NOT_CONNECTED, RESULT, TIMEOUT, Metrics
from .models import ChargePoint
from .schemas import PayloadValidator

if TYPE_CHECKING:
    from .ports import Router

log = logging.getLogger(__name__)

_OUTCOMES = {ChargerCallError: CHARGER_CALL_ERROR, ChargerTimeout: TIMEOUT, ChargerNotConnected: NOT_CONNECTED}


class Dispatcher:
    """Routes calls to the first gateway that holds the charger; a remote router (Redis) comes last."""

    def __init__(
        self, db: Database, validator: PayloadValidator, timeout: float = 30.0, *, metrics: Metrics = NO_METRICS
    ):
        self.db = db
        self.metrics = metrics
        self.validator = validator
        self.timeout = timeout
        self._gateways: list[ChargerGateway] = []
        # Set when several processes share chargers (cms.node_routing.RedisRouter, which delivers the calls
        # addressed to this process through call_local).
        self.remote: Router | None = None

    def add_gateway(self, gateway: ChargerGateway) -> None:
        self._gateways.append(gateway)

    def validate(self, action: str, payload: dict) -> None:
        """Raise :class:`InvalidInput` when ``payload`` is not a valid OCPP 1.6 ``action`` request."""
        if not self.validator.knows(action):
            raise InvalidInput(f"Unknown OCPP 1.6 action {action}")
        try:
            self.validator.validate(action, payload)
        except OcppError as e:
            raise InvalidInput(f"{e.code}: {e.description}") from None

    def call_local(self, identity: str, action: str, payload: dict, timeout: float) -> dict:
        """Deliver through a gateway of this process, or raise :class:`ChargerNotConnected`."""
        for gw in self._gateways:
            if gw.holds(identity):
                return gw.call(identity, action, payload, timeout)
        raise ChargerNotConnected(f"{identity} is not connected here")

    def holds_locally(self, identity: str) -> bool:
        return any(gw.holds(identity) for gw in self._gateways)

    def call(self, identity: str, action: str, payload: dict, timeout: float | None = None) -> dict:
        """Validate, then send ``action`` to the charger and return its response payload.

        Raises NotFound (unknown charger), InvalidInput, or a :class:`cms.gateway.CallFailed`.
        """
        timeout = self.timeout if timeout is None else timeout
        self.validate(action, payload)
        with self.db.uow() as uow:
            exists = uow.session.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity))
        if exists is None:
            raise NotFound(f"Unknown charge point {identity}")
        return self.route(identity, action, payload, timeout)

    def route(self, identity: str, action: str, payload: dict, timeout: float | None = None) -> dict:
        """Deliver an already validated call to a known charger: here if this process holds it, else remotely.

        Counted in the metrics once, by the process that sent it, with its outcome and round trip."""
        started = perf_counter()
        outcome = FAILED
        try:
            response = self._route(identity, action, payload, timeout)
            outcome = RESULT
            return response
        except CallFailed as failure:
            outcome = next((label for cls, label in _OUTCOMES.items() if isinstance(failure, cls)), FAILED)
            raise
        finally:
            self.metrics.command_sent(action, outcome, perf_counter() - started)

    def _route(self, identity: str, action: str, payload: dict, timeout: float | None) -> dict:
        timeout = self.timeout if timeout is None else timeout
        if self.holds_locally(identity):
            return self.call_local(identity, action, payload, timeout)
        if self.remote is not None:
            return self.remote.call(identity, action, payload, timeout)
        raise ChargerNotConnected(f"{identity} is not connected")
