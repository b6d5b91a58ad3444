"""Outgoing mail: through SMTP when ``CMS_SMTP_HOST`` is set, else into the local outbox table.

Every mail is recorded in the outbox either way, so an operator (dashboard or CLI) can see what was sent.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import Settings
from .models import OutboxMail, utcnow

log = logging.getLogger(__name__)


class Mailer:
    """Sends mail with the SMTP settings of ``settings``; made once per app."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @property
    def uses_smtp(self) -> bool:
        return bool(self.settings.smtp_host)

    def send(self, session: Session, recipient: str, subject: str, body: str) -> OutboxMail:
        """Record the mail and, with SMTP configured, deliver it now; a refusal is recorded, not raised,
        so that e.g. a sign-up still succeeds and the mail can be resent."""
        row = OutboxMail(recipient=recipient, subject=subject[:255], body=body, delivery="outbox")
        session.add(row)
        if self.uses_smtp:
            try:
                self._deliver(recipient, subject, body)
                row.delivery, row.sent_at = "smtp", utcnow()
            except (OSError, smtplib.SMTPException) as e:
                log.warning("SMTP delivery to %s failed: %s", recipient, e)
                row.delivery, row.error = "failed", f"{e.__class__.__name__}: {e}"[:500]
        session.flush()
        return row

    def _deliver(self, recipient: str, subject: str, body: str) -> None:
        s = self.settings
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = s.smtp_from, recipient, subject
        msg.set_content(body)
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(msg)


def outbox(session: Session, recipient: str | None = None, limit: int = 50) -> list[dict]:
    """The newest mails (to ``recipient`` when given) as plain values, newest first."""
    q = select(OutboxMail).order_by(OutboxMail.id.desc()).limit(limit)
    if recipient:
        q = q.where(OutboxMail.recipient == recipient.strip().lower())
    return [
        {
            "id": m.id,
            "recipient": m.recipient,
            "subject": m.subject,
            "body": m.body,
            "created_at": m.created_at,
            "delivery": m.delivery,
            "error": m.error,
        }
        for m in session.scalars(q)
    ]
