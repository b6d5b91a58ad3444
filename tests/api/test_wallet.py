"""Wallet: balance, idempotent sandbox top-ups, the ledger, refusals."""

from __future__ import annotations

import pytest


def test_balance_and_sandbox_top_up(client, driver, rt):
    w = client.get("/api/v1/wallet", headers=driver.headers).get_json()
    assert w == {
        "balance": 0.0,
        "currency": "EUR",
        "minimumToCharge": rt.settings.min_balance_to_charge,
        "canCharge": False,
    }
    r = client.post("/api/v1/wallet/top-ups", json={"amount": 12.5}, headers=driver.headers)
    assert r.status_code == 201
    top = r.get_json()
    assert top["status"] == "succeeded" and top["provider"] == "sandbox" and top["amount"] == 12.5
    assert client.get("/api/v1/wallet", headers=driver.headers).get_json()["balance"] == 12.5
    assert client.get(f"/api/v1/wallet/top-ups/{top['id']}", headers=driver.headers).get_json()["id"] == top["id"]
    assert [t["id"] for t in client.get("/api/v1/wallet/top-ups", headers=driver.headers).get_json()] == [top["id"]]


def test_idempotency_key_never_charges_twice(client, driver):
    headers = {**driver.headers, "Idempotency-Key": "order-42"}
    first = client.post("/api/v1/wallet/top-ups", json={"amount": 10}, headers=headers)
    again = client.post("/api/v1/wallet/top-ups", json={"amount": 10}, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["id"] == again.get_json()["id"]
    assert client.get("/api/v1/wallet", headers=driver.headers).get_json()["balance"] == 10.0
    assert len(client.get("/api/v1/wallet/ledger", headers=driver.headers).get_json()) == 1
    r = client.post("/api/v1/wallet/top-ups", json={"amount": 11}, headers=headers)
    assert r.status_code == 409
    bad = {**driver.headers, "Idempotency-Key": "has space"}
    assert client.post("/api/v1/wallet/top-ups", json={"amount": 10}, headers=bad).status_code == 422


@pytest.mark.parametrize("amount", [0, 0.5, 500.01, 1.234, "ten", None, True])
def test_top_up_amount_refusals(client, driver, amount):
    r = client.post("/api/v1/wallet/top-ups", json={"amount": amount}, headers=driver.headers)
    assert r.status_code == 422
    assert client.get("/api/v1/wallet", headers=driver.headers).get_json()["balance"] == 0.0


def test_wallet_needs_a_driver_token(client, owner_token):
    assert client.get("/api/v1/wallet").status_code == 401
    assert client.get("/api/v1/wallet", headers={"Authorization": f"Bearer {owner_token}"}).status_code == 403


def test_top_ups_of_others_are_invisible(client, sign_up, fund):
    a, b = sign_up("a@example.com"), sign_up("b@example.com")
    top = fund(a, 5)
    assert client.get(f"/api/v1/wallet/top-ups/{top['id']}", headers=b.headers).status_code == 404
    assert client.get("/api/v1/wallet/ledger", headers=b.headers).get_json() == []
