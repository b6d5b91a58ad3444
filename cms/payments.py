"""Payment providers for wallet top-ups, behind one small interface.

``sandbox`` (the default) confirms every payment at once, for development and tests. ``hosted`` stands for a
real card processor: a payment stays pending until the provider calls the webhook with an HMAC-SHA256
signature of the raw body (``X-Cms-Signature: sha256=<hex>``, key ``CMS_PAYMENT_WEBHOOK_SECRET``). Another
provider plugs in by configuration: ``CMS_PAYMENT_PROVIDER=package.module:ClassName``, a class taking the
settings and offering ``create`` and ``parse_webhook`` like the ones below.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .config import Settings

SIGNATURE_HEADER = "X-Cms-Signature"


class WebhookRejected(Exception):
    """A webhook call that is unsigned, wrongly signed or unreadable; nothing is changed."""


@dataclass
class ProviderPayment:
    """What the provider says about a payment it has just been asked for."""

    provider_ref: str
    status: str  # succeeded | pending | failed
    checkout_url: str | None = None
    reason: str = ""


@dataclass
class WebhookEvent:
    """A confirmed outcome of a payment, from a verified webhook call."""

    provider_ref: str
    status: str  # succeeded | failed
    reason: str = ""


class PaymentProvider(Protocol):
    name: str

    def create(self, payment_id: int, amount_minor: int, currency: str, description: str) -> ProviderPayment:
        """Ask for ``amount_minor`` of ``currency``; answer at once (sandbox) or pending a webhook."""

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify and decode a webhook call; raise :class:`WebhookRejected` when it is not genuine."""


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _verified_event(secret: str, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
    if not secret:
        raise WebhookRejected("Webhooks are disabled: CMS_PAYMENT_WEBHOOK_SECRET is not set")
    given = headers.get(SIGNATURE_HEADER) or ""
    if not hmac.compare_digest(given.encode(), sign(secret, body).encode()):
        raise WebhookRejected("Bad or missing signature")
    try:
        data = json.loads(body)
    except ValueError:
        raise WebhookRejected("The body is not JSON") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("reference"), str)
        or data.get("status") not in ("succeeded", "failed")
    ):
        raise WebhookRejected('Expected {"reference": str, "status": "succeeded" | "failed"}')
    reason = data.get("reason")
    return WebhookEvent(data["reference"], data["status"], reason if isinstance(reason, str) else "")


class SandboxProvider:
    """Confirms every payment immediately; also accepts signed webhooks, like a real provider would."""

    name = "sandbox"

    def __init__(self, settings: Settings):
        self.settings = settings

    def create(self, payment_id: int, amount_minor: int, currency: str, description: str) -> ProviderPayment:
        return ProviderPayment(f"sbx_{payment_id}_{secrets.token_hex(8)}", "succeeded")

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return _verified_event(self.settings.payment_webhook_secret, body, headers)


class HostedCheckoutProvider:
    """A provider with a hosted checkout page: payments are pending until its signed webhook confirms them."""

    name = "hosted"

    def __init__(self, settings: Settings):
        self.settings = settings

    def create(self, payment_id: int, amount_minor: int, currency: str, description: str) -> ProviderPayment:
        ref = f"pay_{secrets.token_urlsafe(16)}"
        url = self.settings.payment_checkout_url.replace("{ref}", ref) if self.settings.payment_checkout_url else None
        return ProviderPayment(ref, "pending", url)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return _verified_event(self.settings.payment_webhook_secret, body, headers)


_BUILT_IN: dict[str, Callable[[Settings], PaymentProvider]] = {
    "sandbox": SandboxProvider,
    "hosted": HostedCheckoutProvider,
}


def load_provider(settings: Settings) -> PaymentProvider:
    """The provider named by ``CMS_PAYMENT_PROVIDER``: a built-in name or ``module:Class``."""
    name = (settings.payment_provider or "sandbox").strip()
    if name in _BUILT_IN:
        return _BUILT_IN[name](settings)
    module, _, cls = name.partition(":")
    if not module or not cls:
        raise ValueError(f"CMS_PAYMENT_PROVIDER={name!r}: use sandbox, hosted or package.module:ClassName")
    return getattr(importlib.import_module(module), cls)(settings)
