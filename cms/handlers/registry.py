"""The table every charger-initiated message ends in: action name -> its handler, filled by ``@on(Action)``.

Both transports (OCPP-J, OCPP-S 1.5 and 1.6) reach a handler through :class:`cms.pipeline.ChargerPipeline`; a
later feature adds an action by decorating a function in a module of this package (and importing the module
in ``cms/handlers/__init__.py``), the way the ``ocpp`` package's ``@on(Action)`` marks a ChargePoint method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .context import OperationContext

# A handler takes the context and the OCPP 1.6 request payload (camelCase) and returns the response payload.
HandlerFunction = Callable[[OperationContext, Any], dict]


@dataclass(frozen=True, slots=True)
class Handler:
    """One action's rule and how the pipeline runs it."""

    action: str
    run: HandlerFunction
    # Never refused for the charger's registration state or for flaws in its content (a refused
    # StopTransaction is retried, then dropped, and billing data is lost): processed as far as usable.
    transaction_message: bool = False
    # Runs in a unit of work of its own, never in a commit group with other chargers' messages (it does more
    # than database work, or may raise an OcppError after writing).
    runs_alone: bool = False


HANDLERS: dict[str, Handler] = {}


def on(
    action: str, *, transaction_message: bool = False, runs_alone: bool = False
) -> Callable[[HandlerFunction], HandlerFunction]:
    """Register the decorated function as the handler of charger-initiated ``action``."""

    def register(fn: HandlerFunction) -> HandlerFunction:
        if action in HANDLERS:
            raise ValueError(f"{action} is handled twice: {HANDLERS[action].run.__qualname__} and {fn.__qualname__}")
        HANDLERS[str(action)] = Handler(str(action), fn, transaction_message, runs_alone)
        return fn

    return register
