"""Top-ups through a hosted-checkout provider, confirmed by its HMAC-signed webhook."""

from __future__ import annotations

import json

import pytest

from cms.payments import SIGNATURE_HEADER, sign

SECRET = "webhook-test-secret"


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "payment_provider": "hosted",
        "payment_webhook_secret": SECRET,
        "payment_checkout_url": "https://pay.example/checkout/{ref}",
    }


def _webhook(client, payload: dict, secret: str = SECRET):
    raw = json.dumps(payload).encode()
    return client.post(
        "/api/v1/payments/webhook",
        data=raw,
        content_type="application/json",
        headers={SIGNATURE_HEADER: sign(secret, raw)},
    )


def test_hosted_payment_is_credited_once_by_a_signed_webhook(client, driver):
    r = client.post("/api/v1/wallet/top-ups", json={"amount": 25}, headers=driver.headers)
    assert r.status_code == 201
    top = r.get_json()
    assert top["status"] == "pending" and top["checkoutUrl"] == f"https://pay.example/checkout/{top['reference']}"
    assert client.get("/api/v1/wallet", headers=driver.headers).get_json()["balance"] == 0.0
    # Forged, unsigned or unknown: refused, nothing credited.
    assert _webhook(client, {"reference": top["reference"], "status": "succeeded"}, "wrong").status_code == 401
    raw = json.dumps({"reference": top["reference"], "status": "succeeded"}).encode()
    assert client.post("/api/v1/payments/webhook", data=raw, content_type="application/json").status_code == 401
    assert _webhook(client, {"reference": "pay_unknown", "status": "succeeded"}).status_code == 404
    assert _webhook(client, {"reference": top["reference"], "status": "maybe"}).status_code == 401
    assert client.get("/api/v1/wallet", headers=driver.headers).get_json()["balance"] == 0.0
    # Genuine: credited; a retried webhook credits nothing more, a late failure changes nothing.
    for _ in range(2):
        r = _webhook(client, {"reference": top["reference"], "status": "succeeded"})
        assert r.status_code == 200 and r.get_json()["status"] == "succeeded"
    assert _webhook(client, {"reference": top["reference"], "status": "failed"}).get_json()["status"] == "succeeded"
    assert client.get("/api/v1/wallet", headers=driver.headers).get_json()["balance"] == 25.0
    ledger = client.get("/api/v1/wallet/ledger", headers=driver.headers).get_json()
    assert [(e["kind"], e["amount"], e["topUpId"]) for e in ledger] == [("topup", 25.0, top["id"])]


def test_hosted_payment_failure_is_recorded(client, driver):
    top = client.post("/api/v1/wallet/top-ups", json={"amount": 5}, headers=driver.headers).get_json()
    r = _webhook(client, {"reference": top["reference"], "status": "failed", "reason": "card declined"})
    assert r.get_json()["status"] == "failed" and r.get_json()["failureReason"] == "card declined"
    assert client.get("/api/v1/wallet", headers=driver.headers).get_json()["balance"] == 0.0
