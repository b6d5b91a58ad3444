"""The ports of the core: what it needs from the outside, as Protocols, and who provides each.

=====================  ============================================  ==========================================
port                   what the core does with it                    provided by
=====================  ============================================  ==========================================
``ChargerGateway``     reach a charger connected to this process     ``json_ws.connection.WsGateway``,
                                                                     ``soap.gateway.SoapGateway``
``Router``             reach a charger held by another process       ``cms.node_routing.RedisRouter``
``MailSender``         send (or keep in the outbox) a mail           ``cms.mail.Mailer``
``PaymentProvider``    take drivers' payments                        ``cms.payments`` (sandbox, hosted checkout)
``LocalConnections``   close this process's charger connections      ``json_ws.connection.ConnectionRegistry``
``Metrics``            count what happens                            ``cms.prometheus``
=====================  ============================================  ==========================================
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from .gateway import ChargerGateway
from .metrics import Metrics
from .models import OutboxMail
from .payments import PaymentProvider


class Router(Protocol):
    """The way to chargers held by other processes or nodes, and this process's presence among them."""

    def call(self, identity: str, action: str, payload: dict, timeout: float) -> dict:
        """Deliver a CMS-initiated call to the process holding ``identity``; raise a ``CallFailed``."""
        ...

    def announce(self, identity: str, token: str) -> None:
        """This process holds ``identity`` (its connection ``token``)."""
        ...

    def await_announcement(self, identity: str, token: str) -> bool:
        """Wait (bounded) until the announcement of ``identity`` through ``token`` is written; False if it timed out."""
        ...

    def withdraw(self, identity: str, token: str) -> None:
        """This process no longer holds ``identity`` through ``token``."""
        ...

    def withdraw_all(self) -> int:
        """Forget every charger this process announced; how many."""
        ...

    def start(self) -> None:
        """Serve calls addressed to this process."""
        ...

    def stop(self) -> None:
        """Stop serving calls addressed to this process."""
        ...

    @property
    def subscribed(self) -> bool:
        """Calls addressed to this process can reach it right now (readiness)."""
        ...


class MailSender(Protocol):
    """Outgoing mail; every mail is kept in the outbox either way."""

    @property
    def uses_smtp(self) -> bool:
        """True when mail leaves the machine (SMTP configured)."""
        ...

    def send(self, session: Session, recipient: str, subject: str, body: str) -> OutboxMail:
        """Record the mail and deliver it when SMTP is configured."""
        ...


class LocalConnections(Protocol):
    """The charger connections this process holds (JSON chargers)."""

    def identities(self) -> list[str]:
        """The chargers connected here."""
        ...

    def held(self) -> list[tuple[str, str]]:
        """(identity, connection token) of every open connection here, for the router's announcements."""
        ...

    def go_away_all(self, deadline: float) -> int:
        """Close every connection once its messages are answered, by ``deadline`` (``time.monotonic()``)."""
        ...


__all__ = ["ChargerGateway", "LocalConnections", "MailSender", "Metrics", "PaymentProvider", "Router"]
