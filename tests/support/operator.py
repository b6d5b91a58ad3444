"""Operator API test helpers: JSON clients holding one person's Bearer token (owner, another owner, an
administrator, a driver, nobody), and charging sessions recorded through the charger service layer (the path
every transport takes). Import the fixtures a module needs from here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest


@dataclass
class Api:
    """The Flask test client with one caller's token: ``api.get("/stations")`` -> response."""

    client: object
    token: str | None

    def _call(self, method: str, path: str, **kw):
        headers = kw.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return getattr(self.client, method)(f"/api/v1{path}", headers=headers, **kw)

    def get(self, path: str, **kw):
        return self._call("get", path, **kw)

    def post(self, path: str, json=None, **kw):
        return self._call("post", path, json=json, **kw)

    def put(self, path: str, json=None, **kw):
        return self._call("put", path, json=json, **kw)

    def patch(self, path: str, json=None, **kw):
        return self._call("patch", path, json=json, **kw)

    def delete(self, path: str, **kw):
        return self._call("delete", path, **kw)


def make_user(rt, email: str, role: str = "owner"):
    """A verified account and a Bearer token for it, as ``cms owner create`` and ``cms token create`` make them."""
    from cms.accounts import create_user, issue_token

    with rt.db.uow() as uow:
        user = create_user(uow.session, email, f"{role}-password", role=role, verified=True)
        token = issue_token(uow.session, user, name="tests")
        uow.commit()
    return user, token


@pytest.fixture
def as_owner(client, owner_token) -> Api:
    return Api(client, owner_token)


@pytest.fixture
def other_owner(rt):
    return make_user(rt, "other@example.com")


@pytest.fixture
def as_other(client, other_owner) -> Api:
    return Api(client, other_owner[1])


@pytest.fixture
def as_admin(client, rt) -> Api:
    return Api(client, make_user(rt, "admin@example.com", "admin")[1])


@pytest.fixture
def as_driver(client, rt) -> Api:
    return Api(client, make_user(rt, "driver@example.com", "driver")[1])


@pytest.fixture
def as_nobody(client) -> Api:
    return Api(client, None)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@pytest.fixture
def sessions(rt):
    """``sessions(identity, tag, starts)`` boots the charger and runs a session per start time through the charger
    service (the same calls a WebSocket or SOAP message makes): each starts at its time on connector 1 or 2 and,
    unless ``open_`` holds its index, stops 30 minutes later after 1000 Wh. Returns the transaction ids."""
    from cms.handlers import Charger

    def _run(identity: str, tag: str, starts: list[datetime], open_: set[int] = frozenset()) -> list[int]:
        svc, cp = rt.pipeline, Charger(identity)
        assert (
            svc.handle(cp, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})["status"]
            == "Accepted"
        )
        ids = []
        for n, start in enumerate(starts):
            answer = svc.handle(
                cp,
                "StartTransaction",
                {"connectorId": 1 + n % 2, "idTag": tag, "meterStart": n, "timestamp": iso(start)},
            )
            assert answer["idTagInfo"]["status"] in ("Accepted", "ConcurrentTx"), answer
            tx = answer["transactionId"]
            if n not in open_:
                svc.handle(
                    cp,
                    "StopTransaction",
                    {
                        "transactionId": tx,
                        "meterStop": n + 1000,
                        "reason": "Local",
                        "timestamp": iso(start + timedelta(minutes=30)),
                    },
                )
            ids.append(tx)
        return ids

    return _run
