"""The pipeline every charger-initiated message of every transport goes through, in one explicit order:

1. count it (metrics) and take the heartbeat fast path (an accepted charger's Heartbeat, batching on);
2. validate: an unknown action is NotImplemented / NotSupported, the payload is checked against the OCPP 1.6
   JSON schema and against what the database can hold (:mod:`cms.limits`); strict with the wire, lenient with
   the facts: transaction messages go on as far as usable;
3. run it (:class:`cms.message_runner.MessageRunner`: registration gate, its handler from
   :data:`cms.handlers.HANDLERS`, message log) in a unit of work of its own or, when group commit is on, in
   the next commit group (:class:`cms.group_commit.GroupCommitter`);
4. answer once committed; after-commit observers see it.

Transports decode a message into an OCPP 1.6 payload (camelCase dict) and call :meth:`ChargerPipeline.handle`;
the answer is an OCPP 1.6 response payload, or an :class:`OcppError` the charger must hear. Every collaborator
is given at construction (:func:`cms.runtime.build_runtime`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from time import perf_counter
from typing import Any

import orjson
from ocpp.v16.enums import Action

from . import limits, message_log
from .commands import COMMANDS_16
from .config import Settings
from .errors import OcppError
from .group_commit import GroupCommitter
from .handlers import HANDLERS, Charger, Handler
from .heartbeats import HeartbeatBatcher
from .message_runner import AcceptedChargers, MessageRunner
from .metrics import INTERNAL_ERROR, NO_METRICS, RESULT, Metrics
from .models import utcnow
from .schemas import PayloadValidator
from .timeutil import iso

log = logging.getLogger(__name__)

# The charger-initiated operations of OCPP 1.5 and 1.6 (core, firmware, local auth list).
CHARGER_OPERATIONS = tuple(sorted(HANDLERS))
# Actions a charger may not send but that OCPP 1.6 knows (CMS-initiated ones, security extensions):
# answered NotSupported rather than NotImplemented.
KNOWN_UNSUPPORTED = frozenset(
    {"SecurityEventNotification", "LogStatusNotification", "SignCertificate", "SignedFirmwareStatusNotification"}
) | (COMMANDS_16 - HANDLERS.keys())
# The facts a StartTransaction is refused for when they cannot be stored (a missing one is processed as 0 / "").
_START_FACTS = ("connectorId", "meterStart", "idTag")


def _refusal(problem: limits.Violation) -> OcppError:
    """The OCPP error a charger hears for a value the CMS cannot store."""
    return OcppError(problem.code, str(problem), {"field": problem.field})


class ChargerPipeline:
    """validate -> registration gate -> unit of work or commit group -> log, for every charger message.

    ``group_commit``: messages of many chargers share a unit of work (None: each its own). ``heartbeats`` with
    ``accepted``: heartbeats of accepted chargers are answered at once and written in batches.
    """

    def __init__(
        self,
        runner: MessageRunner,
        validator: PayloadValidator,
        settings: Settings,
        *,
        group_commit: GroupCommitter | None = None,
        heartbeats: HeartbeatBatcher | None = None,
        accepted: AcceptedChargers | None = None,
        metrics: Metrics = NO_METRICS,
        handlers: Mapping[str, Handler] = HANDLERS,
    ):
        if (heartbeats is None) != (accepted is None):
            raise ValueError("batched heartbeats need the cache of accepted chargers, and only they use it")
        self.runner = runner
        self.validator = validator
        self.settings = settings
        self.group_commit = group_commit
        self.heartbeats = heartbeats
        self.accepted = accepted
        self.metrics = metrics
        self.handlers = handlers

    @property
    def data_transfer(self):
        """Vendor extensions (DataTransfer handlers by vendorId / messageId): register them here."""
        return self.runner.data_transfer

    def handle(
        self,
        charger: Charger,
        action: str,
        payload: dict[str, Any],
        *,
        unique_id: str | None = None,
        raw: str | None = None,
    ) -> dict:
        """Validate and run ``action`` for ``charger``. Raises :class:`OcppError` for anything the charger must hear.

        Every message of every transport passes here once: it is counted in the metrics with its outcome (an
        exception other than OcppError reaches the charger as InternalError) and how long it took.
        """
        started = perf_counter()
        outcome = INTERNAL_ERROR
        try:
            if action == Action.heartbeat and self.heartbeats is not None:
                answered = self._batched_heartbeat(charger, action, payload, unique_id, raw)
                if answered is not None:
                    outcome = RESULT
                    return answered
            handler = self.handlers.get(action)
            if handler is None:
                if action in KNOWN_UNSUPPORTED:
                    raise OcppError("NotSupported", f"{action} is not supported by this central system")
                raise OcppError("NotImplemented", f"Unknown action {action}")
            charger = self._storable_charger(charger)
            payload = self._valid(handler, charger, payload, unique_id, raw)
            if self.group_commit is not None and not handler.runs_alone:
                response = self.group_commit.submit(charger, action, payload, unique_id, raw)
            else:
                response = self.runner.run_alone(charger, action, payload, unique_id, raw, utcnow())
            outcome = RESULT
            return response
        except OcppError as e:
            outcome = e.code
            raise
        finally:
            self.metrics.charger_message(charger.transport, action, outcome, perf_counter() - started)

    def _valid(
        self, handler: Handler, charger: Charger, payload: dict[str, Any], unique_id: str | None, raw: str | None
    ) -> dict[str, Any]:
        """The payload to run, or raises the OcppError to refuse it with.

        Strict with the wire, lenient with the facts: a message that does not fit its schema is refused with
        the OCPP 1.6 code, except transaction messages, which are processed whatever their flaws (a refused
        StopTransaction is retried, then dropped, and billing data is lost) unless they are unusable.
        """
        action = handler.action
        try:
            self.validator.validate(action, payload)
            invalid = None
        except OcppError as e:
            invalid = e
        # Then what the database can hold (cms.limits): 10^20 fits "type": "integer", not a column.
        problems = limits.problems(action, payload)
        if not handler.transaction_message:
            if invalid is None and problems:
                invalid = _refusal(problems[0])
            if invalid is not None:
                self.runner.log_failed(charger, action, unique_id, raw, payload)
                raise invalid
            return payload
        if invalid is not None or problems:
            return self._usable_transaction_message(charger, action, payload, unique_id, raw, invalid)
        return payload

    def _storable_charger(self, charger: Charger) -> Charger:
        """Refuse an identity no charge point of this CMS can have; forget an address that cannot be kept."""
        reason = limits.identity_problem(charger.identity)
        if reason is not None:
            raise OcppError("SecurityError", f"Unknown charge point: {reason}")
        if charger.endpoint_url:
            reason = limits.endpoint_problem(charger.endpoint_url)
            if reason is not None:
                log.warning("%s: %s; the address is not kept", charger.identity, reason)
                return dataclasses.replace(charger, endpoint_url=None)
        return charger

    def _usable_transaction_message(
        self,
        charger: Charger,
        action: str,
        payload: dict[str, Any],
        unique_id: str | None,
        raw: str | None,
        invalid: OcppError | None,
    ) -> limits.FittedPayload:
        """A transaction message with flaws, as far as it can be used (one WARNING line says what was wrong).

        Its operation gets what can be stored: an unusable transactionId is an unknown transaction (answered,
        kept for review), an unusable meterStop or timestamp is a missing one, sampled-value attributes are
        cut to fit. Only a StartTransaction whose own facts cannot be stored is refused (see below)."""
        usable = limits.fitted(action, payload)
        if action == Action.start_transaction:
            for field in _START_FACTS:
                problem = usable.problem(field)
                if problem is not None:
                    # A transaction cannot be opened on a connector or meter reading that cannot exist (nor
                    # billed to a tag that cannot be one). The charger retries the start up to its
                    # TransactionMessageAttempts, hears the same answer and drops it; the session goes on
                    # locally and its StopTransaction comes with an unknown transactionId (or -1), which is
                    # answered and kept as an UnmatchedStop for review. Every attempt stays in the message log.
                    self.runner.log_failed(charger, action, unique_id, raw, payload)
                    raise _refusal(problem)
        reasons = ([invalid.description] if invalid is not None else []) + [str(v) for v in usable.problems]
        log.warning(
            "%s %s from %s does not fit, processed as far as usable: %s",
            action,
            limits.brief(unique_id, 80),
            charger.identity,
            limits.brief("; ".join(reasons), 1000),
        )
        return usable

    def _batched_heartbeat(
        self, charger: Charger, action: str, payload: dict[str, Any], unique_id: str | None, raw: str | None
    ) -> dict | None:
        """Answer a Heartbeat of a charger known to be accepted (read within ACCEPTED_TTL) and queue its
        writes; None when the charger must go through the full path."""
        assert self.heartbeats is not None and self.accepted is not None
        row = self.accepted.known(charger)
        if row is None:
            return None
        self.validator.validate(action, payload)
        now = utcnow()
        response = {"currentTime": iso(now)}
        log_rows = []
        if self.settings.message_log_limit > 0:
            log_rows = message_log.exchange_rows(
                row.id,
                action,
                unique_id,
                raw if raw is not None else orjson.dumps(payload).decode(),
                orjson.dumps(response).decode(),
                now,
            )
        self.heartbeats.record(row.id, now, log_rows)
        return response
