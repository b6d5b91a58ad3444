"""Driver accounts: sign-up with email verification, log-in, tokens, profile, vehicles, and every refusal."""

from __future__ import annotations

from sqlalchemy import select

from cms.authorization import authorize
from cms.models import IdTag

from .conftest import verification_token


def test_register_verify_login_profile(client, rt):
    r = client.post(
        "/api/v1/auth/register",
        json={"email": "New@Example.com", "password": "long-enough", "name": "Nia", "phone": "+49 30 1234"},
    )
    assert r.status_code == 201
    body = r.get_json()
    assert body["email"] == "new@example.com" and body["emailVerified"] is False and body["idTag"]
    # Not verified yet: no log-in.
    r = client.post("/api/v1/auth/login", json={"email": "new@example.com", "password": "long-enough"})
    assert r.status_code == 403 and r.get_json()["error"] == "email_not_verified"
    # The mailed link verifies.
    token = verification_token(rt, "new@example.com")
    r = client.get("/api/v1/auth/verify", query_string={"token": token})
    assert r.status_code == 200 and r.get_json()["emailVerified"] is True
    r = client.post("/api/v1/auth/login", json={"email": "new@example.com", "password": "long-enough"})
    assert r.status_code == 200
    tokens = r.get_json()
    assert tokens["tokenType"] == "Bearer" and tokens["expiresIn"] == rt.settings.driver_access_token_ttl
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['accessToken']}"}).get_json()
    assert me["name"] == "Nia" and me["phone"] == "+49 30 1234" and me["idTag"] == body["idTag"]


def test_driver_tag_is_accepted_on_any_charger(rt, driver, add_charger):
    cp = add_charger("CP-ANY")
    with rt.db.uow() as uow:
        tag = uow.session.scalar(select(IdTag).where(IdTag.tag == driver.id_tag))
        assert tag.owner_id == driver.user_id
        from cms.models import utcnow

        assert authorize(uow.session, driver.id_tag, cp, utcnow())["status"] == "Accepted"


def test_register_refusals(client, driver):
    r = client.post("/api/v1/auth/register", json={"email": driver.email, "password": "another-one"})
    assert r.status_code == 409
    r = client.post("/api/v1/auth/register", json={"email": "not-an-email", "password": "long-enough"})
    assert r.status_code == 422
    r = client.post("/api/v1/auth/register", json={"email": "x@example.com", "password": "short"})
    assert r.status_code == 422
    r = client.post("/api/v1/auth/register", json={"email": "x@example.com", "password": 12345678})
    assert r.status_code == 422
    r = client.post("/api/v1/auth/register", data="nope", content_type="text/plain")
    assert r.status_code == 422
    r = client.post("/api/v1/auth/verify", json={"token": "forged"})
    assert r.status_code == 422


def test_login_refusals_and_owner_accounts(client, driver, owner):
    r = client.post("/api/v1/auth/login", json={"email": driver.email, "password": "wrong-password"})
    assert r.status_code == 401 and r.get_json()["error"] == "unauthorized"
    r = client.post("/api/v1/auth/login", json={"email": "owner@example.com", "password": "owner-password"})
    assert r.status_code == 403


def test_too_many_failed_logins_are_refused(client, driver, rt):
    for _ in range(rt.settings.login_max_failures):
        assert (
            client.post("/api/v1/auth/login", json={"email": driver.email, "password": "nope-nope"}).status_code == 401
        )
    r = client.post("/api/v1/auth/login", json={"email": driver.email, "password": driver.password})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_refresh_rotates_and_revoke_logs_out(client, driver):
    r = client.post("/api/v1/auth/refresh", json={"refreshToken": driver.refresh})
    assert r.status_code == 200
    fresh = r.get_json()
    # The refresh token is used up; an access token is not a refresh token.
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": driver.refresh}).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": fresh["accessToken"]}).status_code == 401
    headers = {"Authorization": f"Bearer {fresh['accessToken']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    # Revoking the refresh token of someone else's is not possible; one's own is.
    assert client.post("/api/v1/auth/revoke", json={"token": "unknown"}, headers=headers).status_code == 404
    assert client.post("/api/v1/auth/revoke", json={"token": fresh["refreshToken"]}, headers=headers).status_code == 200
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": fresh["refreshToken"]}).status_code == 401
    # Revoking the Bearer token itself logs out.
    assert client.post("/api/v1/auth/revoke", json={"token": fresh["accessToken"]}, headers=headers).status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_profile_update_and_password_change(client, driver):
    r = client.patch("/api/v1/me", json={"name": "Dana", "phone": "0123 456"}, headers=driver.headers)
    assert r.status_code == 200 and r.get_json()["name"] == "Dana"
    assert client.patch("/api/v1/me", json={"phone": "call me"}, headers=driver.headers).status_code == 422
    r = client.patch(
        "/api/v1/me", json={"currentPassword": "wrong", "newPassword": "new-password-1"}, headers=driver.headers
    )
    assert r.status_code == 422
    r = client.patch(
        "/api/v1/me", json={"currentPassword": driver.password, "newPassword": "new-password-1"}, headers=driver.headers
    )
    assert r.status_code == 200
    assert (
        client.post("/api/v1/auth/login", json={"email": driver.email, "password": "new-password-1"}).status_code == 200
    )


def test_auth_is_required_and_owner_tokens_are_not_driver_tokens(client, owner_token):
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {owner_token}"})
    assert r.status_code == 403 and r.get_json()["error"] == "forbidden"


def test_vehicles_belong_to_their_driver(client, sign_up):
    a, b = sign_up("a@example.com"), sign_up("b@example.com")
    r = client.post(
        "/api/v1/me/vehicles",
        json={"name": "Daily", "make": "VW", "model": "ID.3", "connectorType": "CCS2", "batteryKwh": 58},
        headers=a.headers,
    )
    assert r.status_code == 201
    vid = r.get_json()["id"]
    assert client.get("/api/v1/me/vehicles", headers=a.headers).get_json()[0]["model"] == "ID.3"
    assert client.get("/api/v1/me/vehicles", headers=b.headers).get_json() == []
    assert client.get(f"/api/v1/me/vehicles/{vid}", headers=b.headers).status_code == 404
    assert client.patch(f"/api/v1/me/vehicles/{vid}", json={"plate": "X"}, headers=b.headers).status_code == 404
    assert client.delete(f"/api/v1/me/vehicles/{vid}", headers=b.headers).status_code == 404
    r = client.patch(f"/api/v1/me/vehicles/{vid}", json={"plate": "B-EV 1", "batteryKwh": None}, headers=a.headers)
    assert r.status_code == 200 and r.get_json()["plate"] == "B-EV 1" and r.get_json()["batteryKwh"] is None
    assert client.post("/api/v1/me/vehicles", json={"connectorType": "Plug"}, headers=a.headers).status_code == 422
    assert client.post("/api/v1/me/vehicles", json={}, headers=a.headers).status_code == 422
    assert client.delete(f"/api/v1/me/vehicles/{vid}", headers=a.headers).status_code == 204
    assert client.get(f"/api/v1/me/vehicles/{vid}", headers=a.headers).status_code == 404
