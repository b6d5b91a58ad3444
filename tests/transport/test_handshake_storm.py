"""Reconnect storms (issue 12): handshakes beyond what the process can take are refused at once with HTTP
503 (the charger retries), and a registered charger known from an earlier handshake reconnects without a
database round trip or a password hash; a password changed here applies at once."""

from __future__ import annotations

import pytest
import websockets.sync.client as ws_client
from sqlalchemy import event
from websockets.exceptions import InvalidStatus

import cms.charger_auth as charger_auth
from tests.support.databases import statements_run


@pytest.fixture
def app_config(app_config):
    return {**app_config, "max_pending_handshakes": 2, "max_pending_known_handshakes": 2}


def knock(live_server, identity: str, password: str | None = None) -> int:
    """Open and close a WebSocket to ``identity``: 101 when it was accepted, else the refusal's status."""
    headers = {}
    if password is not None:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()
    try:
        with ws_client.connect(
            f"{live_server.ws_url}/ocpp/{identity}",
            subprotocols=["ocpp1.6"],
            additional_headers=headers,
            open_timeout=5,
        ):
            return 101
    except InvalidStatus as e:
        return e.response.status_code


def test_beyond_the_limit_handshakes_are_refused_at_once(rt, add_charger, live_server):
    add_charger("STORM1")
    gates = [rt.admission, rt.admission_known]  # whether the handshake cache knows it yet or not
    held = [gate.enter() for gate in gates for _ in range(2)]  # two handshakes in progress: the limit
    assert knock(live_server, "STORM1") == 503
    assert sum(gate.refused for gate in gates) == 1
    for ticket in held:
        ticket.release()
    assert knock(live_server, "STORM1") == 101


def test_every_handshake_releases_its_place(rt, add_charger, live_server):
    add_charger("STORM2")
    for _ in range(5):  # more than the limit, one after the other: each gives its place back
        assert knock(live_server, "STORM2") == 101
        assert knock(live_server, "NOBODY") == 404
    for gate in (rt.admission, rt.admission_known):
        assert gate.in_progress == 0 and gate.refused == 0


def test_a_known_charger_is_not_held_up_by_handshakes_that_read_the_database(rt, add_charger, live_server):
    """Handshakes that read their charge point get few places (they draw on the pool); a charger the handshake
    cache knows needs no database and has a gate of its own (CMS_MAX_PENDING_KNOWN_HANDSHAKES)."""
    add_charger("KNOWN2")
    assert knock(live_server, "KNOWN2") == 101  # known to the cache from now on
    held = [rt.admission.enter(), rt.admission.enter()]  # the database gate is full
    try:
        assert knock(live_server, "KNOWN2") == 101
        assert knock(live_server, "NOBODY") == 503  # unknown: it would read the database
    finally:
        for ticket in held:
            ticket.release()
    assert rt.admission_known.in_progress == 0 and rt.admission_known.refused == 0


def test_a_known_charger_reconnects_without_reading_its_credentials(rt, add_charger, live_server):
    add_charger("KNOWN1")
    assert knock(live_server, "KNOWN1") == 101
    with statements_run(rt.db.engine) as seen:
        assert knock(live_server, "KNOWN1") == 101
    assert not [s for s in seen if "password_hash" in s], seen


def test_a_known_password_is_not_hashed_again_and_a_changed_one_applies_at_once(
    rt, client, add_charger, owner_token, live_server, monkeypatch
):
    add_charger("PW1", password="secret-one-1234567")
    calls = []
    real = charger_auth.verify_password
    monkeypatch.setattr(charger_auth, "verify_password", lambda h, p: calls.append(p) or real(h, p))
    assert knock(live_server, "PW1", "secret-one-1234567") == 101
    assert knock(live_server, "PW1", "secret-one-1234567") == 101
    assert calls == ["secret-one-1234567"]  # hashed once
    assert knock(live_server, "PW1", "wrong-password-0000") == 401  # another password: to the hash, refused
    assert knock(live_server, "PW1") == 401
    r = client.patch(
        "/api/v1/charge-points/PW1",
        json={"password": "secret-two-4567890"},
        headers={"Authorization": f"Bearer {owner_token}"},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert knock(live_server, "PW1", "secret-one-1234567") == 401  # the old one no longer opens
    assert knock(live_server, "PW1", "secret-two-4567890") == 101


def test_after_the_cache_is_loaded_a_chargers_first_handshake_reads_no_credentials(rt, add_charger, live_server):
    add_charger("LOADED1")
    assert rt.handshake_cache.load_all(rt.db) >= 1  # what a starting process does (Runtime.start)
    with statements_run(rt.db.engine) as seen:
        assert knock(live_server, "LOADED1") == 101
    assert not [s for s in seen if "password_hash" in s], seen


def test_a_reload_keeps_a_known_password_and_skips_a_charger_changed_while_it_read(
    rt, add_charger, live_server, monkeypatch
):
    add_charger("PW2", password="secret-one-1234567")
    add_charger("RACE1")
    cache = rt.handshake_cache
    assert knock(live_server, "PW2", "secret-one-1234567") == 101
    calls = []
    monkeypatch.setattr(charger_auth, "verify_password", lambda h, p: calls.append(p) or True)

    def changed_meanwhile(conn, cursor, statement, *args):
        if "password_hash" in statement:
            cache.invalidate("RACE1")  # as a commit in this process would, while the rows are being read

    event.listen(rt.db.engine, "before_cursor_execute", changed_meanwhile)
    try:
        cache.load_all(rt.db)
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", changed_meanwhile)
    assert cache.get("RACE1") is None  # the row read may be older than the change: not kept
    assert cache.get("PW2") is not None
    assert knock(live_server, "PW2", "secret-one-1234567") == 101
    assert calls == []  # the password known before the reload is still known: not hashed again
