"""``/metrics`` after sessions of a real OCPP-J charger (the ocpp package's ChargePoint), a raw WebSocket
charger that gets things wrong, and a SOAP charger (zeep with the official WSDL): every counter moved by
exactly what happened; and who may read the metrics."""

from __future__ import annotations

import pytest
import requests
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.v16 import call
from websockets.sync.client import connect as ws_connect
from zeep.exceptions import Fault

from tests.soap.charger import SoapCharger
from tests.support.scrape import key, moved, parse, table_missing, total

MSG = "cms_charger_messages_total"


@pytest.fixture
def app_config(app_config):
    # Heartbeats batched, the batch written when the test says (flush), so its size and lag are known.
    # connected flags written at once: the gauge is read right after connecting
    return {**app_config, "heartbeat_batch_seconds": 3600, "connection_flags_batch_seconds": 0}


def scrape(client) -> dict:
    r = client.get("/metrics")
    assert r.status_code == 200, r.data
    return parse(r.get_data(as_text=True))


def raw_call(ws, text: str) -> list:
    import json

    ws.send(text)
    return json.loads(ws.recv(timeout=10))


def test_a_session_on_each_transport_moves_the_counters_by_exactly_what_happened(
    rt, client, live_server, database_url, add_charger, add_tag, connect, owner_token
):
    for identity in ("MJ1", "MJ2", "MJ3", "MS1"):
        add_charger(identity)
    add_tag("TAG1")
    before = scrape(client)

    # A JSON charger's whole session.
    j = connect("MJ1")
    assert j.boot().status == "Accepted"
    assert j.call(call.Heartbeat()).current_time  # answered by the batcher
    j.status(1, "Available")
    assert j.call(call.Authorize(id_tag="TAG1")).id_tag_info["status"] == "Accepted"
    tx = j.start(1, "TAG1", meter_start=100).transaction_id
    j.meter(1, tx, [{"value": "600", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}])
    j.stop(tx, 1100)

    # A JSON charger that gets things wrong: each answered with its CALLERROR code.
    with ws_connect(f"{live_server.ws_url}/ocpp/MJ2", subprotocols=["ocpp1.6"]) as ws:
        assert raw_call(ws, '[2, "h1", "Heartbeat", {}]')[2] == "SecurityError"  # before its boot
        assert raw_call(ws, '[2, "u1", "FooBar", {}]')[2] == "NotImplemented"
        assert raw_call(ws, '[2, "d1", "DataTransfer", {}]')[2] == "OccurenceConstraintViolation"
        assert raw_call(ws, "this is not JSON")[2] == "FormationViolation"
        online = scrape(client)
        assert online[key("cms_chargers_connected", transport="json", ocpp_version="1.6")] == 2

    # Commands: answered, a CALLERROR from the charger, a charger that is not connected.
    headers = {"Authorization": f"Bearer {owner_token}"}
    j.cp.answers["ClearCache"] = NotSupportedError(description="not here")
    for identity, action, payload, status in (
        ("MJ1", "Reset", {"type": "Soft"}, 200),
        ("MJ1", "ClearCache", {}, 502),
        ("MJ3", "Reset", {"type": "Soft"}, 409),
    ):
        r = client.post(f"/api/v1/charge-points/{identity}/commands/{action}", json=payload, headers=headers)
        assert r.status_code == status, r.data

    # A SOAP 1.6 charger's session, an unknown one, and envelopes that never reach an operation.
    s = SoapCharger(live_server.url, "MS1", "1.6")
    assert s.boot()["status"] == "Accepted"
    s.heartbeat()
    s.status(1, "Available")
    soap_tx = s.start(1, "TAG1", meter_start=0)["transactionId"]
    s.stop(soap_tx, 500)
    with pytest.raises(Fault):
        SoapCharger(live_server.url, "MS-UNKNOWN", "1.6").heartbeat()
    soap = {"Content-Type": "application/soap+xml"}
    assert requests.post(f"{live_server.url}/soap/ocpp16", data=b"not xml", headers=soap, timeout=10).status_code in (
        400,
        500,
    )
    envelope = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        b'<NoSuchRequest xmlns="urn://Ocpp/Cs/2015/10/"/></s:Body></s:Envelope>'
    )
    assert requests.post(f"{live_server.url}/soap/ocpp16", data=envelope, headers=soap, timeout=10).status_code >= 400

    # The database fails (the server's own fault): InternalError on both transports, counted as such.
    with table_missing(database_url, "status_events"):
        with pytest.raises(OCPPError) as e:
            j.status(1, "Charging")
        assert e.value.code == "InternalError"
        with pytest.raises(Fault):
            s.status(1, "Charging")
    assert rt.heartbeats.flush() == 2  # MJ1's and MS1's heartbeats, in one batch

    after = scrape(client)
    messages = moved(before, after, MSG)
    expected = {
        ("json", "BootNotification", "result"): 1,
        ("json", "Heartbeat", "result"): 1,
        ("json", "StatusNotification", "result"): 1,
        ("json", "Authorize", "result"): 1,
        ("json", "StartTransaction", "result"): 1,
        ("json", "MeterValues", "result"): 1,
        ("json", "StopTransaction", "result"): 1,
        ("json", "Heartbeat", "SecurityError"): 1,
        ("json", "other", "NotImplemented"): 1,
        ("json", "DataTransfer", "OccurenceConstraintViolation"): 1,
        ("json", "none", "FormationViolation"): 1,
        ("json", "StatusNotification", "InternalError"): 1,
        ("soap", "BootNotification", "result"): 1,
        ("soap", "Heartbeat", "result"): 1,
        ("soap", "StatusNotification", "result"): 1,
        ("soap", "StartTransaction", "result"): 1,
        ("soap", "StopTransaction", "result"): 1,
        ("soap", "Heartbeat", "SecurityError"): 1,
        ("soap", "StatusNotification", "InternalError"): 1,
    }
    unparsed_soap = {
        k: v for k, v in messages.items() if dict(k[1])["transport"] == "soap" and dict(k[1])["action"] == "none"
    }
    # The two broken envelopes: each counted once, as a refusal (whatever fault code the SOAP layer gives).
    assert sum(unparsed_soap.values()) == 2 and all(dict(k[1])["outcome"] != "result" for k in unparsed_soap)
    assert {k: v for k, v in messages.items() if k not in unparsed_soap} == {
        key(MSG, transport=t, action=a, outcome=o): n for (t, a, o), n in expected.items()
    }

    # Latency: one observation per handled message, none for those refused before the service layer.
    for action in (
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "StopTransaction",
        "DataTransfer",
        "other",
        "none",
    ):
        handled = sum(n for (t, a, o), n in expected.items() if a == action and a != "none")
        assert (
            after.get(key("cms_charger_message_duration_seconds_count", action=action), 0)
            - before.get(key("cms_charger_message_duration_seconds_count", action=action), 0)
            == handled
        ), action

    assert moved(before, after, "cms_charger_internal_errors_total") == {
        key("cms_charger_internal_errors_total", transport="json"): 1,
        key("cms_charger_internal_errors_total", transport="soap"): 1,
    }

    assert moved(before, after, "cms_commands_total") == {
        key("cms_commands_total", action="Reset", outcome="result"): 1,
        key("cms_commands_total", action="ClearCache", outcome="charger_call_error"): 1,
        key("cms_commands_total", action="Reset", outcome="not_connected"): 1,
    }
    assert total(after, "cms_command_round_trip_seconds_count", action="Reset") == 2
    assert total(after, "cms_command_round_trip_seconds_count", action="ClearCache") == 1

    # Group commit: every message but batched heartbeats and those refused before they run is written in a
    # group; one charger at a time here, so groups of one: JSON 6 + 1 (MJ2's early heartbeat, refused inside
    # its group), SOAP 4 + 1 (the unknown charger's); the two failed groups are not counted.
    assert total(after, "cms_group_commit_messages_count") - total(before, "cms_group_commit_messages_count") == 12
    assert total(after, "cms_group_commit_messages_sum") - total(before, "cms_group_commit_messages_sum") == 12
    assert total(after, "cms_group_commit_messages_bucket", le="1.0") == 12

    assert total(after, "cms_heartbeat_batch_heartbeats_count") == 1
    assert total(after, "cms_heartbeat_batch_heartbeats_sum") == 2
    assert 0 < total(after, "cms_heartbeat_batch_lag_seconds_sum") < 60

    assert after[key("cms_chargers_connected", transport="json", ocpp_version="1.6")] == 1  # MJ2 has gone
    assert after[key("cms_chargers_connected", transport="soap", ocpp_version="1.6")] == 1
    assert after[key("cms_chargers_connected", transport="soap", ocpp_version="1.5")] == 0
    assert after[key("cms_db_pool_size_connections")] > 0
    assert after[key("cms_db_pool_checked_out_connections")] == 0  # all back (the scrape's own read is done)


def test_made_up_actions_share_one_label(rt, client, live_server, add_charger):
    """A charger cannot grow the label space: unknown actions are all 'other', whatever their names."""
    add_charger("MJ4")
    before = scrape(client)
    with ws_connect(f"{live_server.ws_url}/ocpp/MJ4", subprotocols=["ocpp1.6"]) as ws:
        for i in range(5):
            assert raw_call(ws, f'[2, "x{i}", "Made-Up-{i}", {{}}]')[2] == "NotImplemented"
    moved_ = moved(before, scrape(client), MSG)
    assert moved_ == {key(MSG, transport="json", action="other", outcome="NotImplemented"): 5}


# ----- who may read the metrics -----


def test_loopback_reads_the_metrics_by_default_and_others_are_refused(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert refused.status_code == 403
    assert refused.get_data(as_text=True) == "Forbidden\n"
    # No token is configured by default: presenting one changes nothing.
    assert (
        client.get(
            "/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}, headers={"Authorization": "Bearer "}
        ).status_code
        == 403
    )


@pytest.mark.parametrize("overrides", [{"metrics_allow": "10.0.0.0/8, 192.0.2.7", "metrics_token": "s3cret-t0ken"}])
def test_configured_networks_and_the_token_are_let_in(app_config, overrides):
    from app import create_app

    app = create_app({**app_config, **overrides})
    try:
        c = app.test_client()

        def get(addr, token=None):
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            return c.get("/metrics", environ_base={"REMOTE_ADDR": addr}, headers=headers).status_code

        assert get("10.20.30.40") == 200
        assert get("192.0.2.7") == 200
        assert get("::ffff:10.1.1.1") == 200  # an IPv4 client seen on a dual-stack socket
        assert get("192.0.2.8") == 403
        assert get("127.0.0.1") == 403  # loopback is no longer in the list
        assert get("203.0.113.9", "s3cret-t0ken") == 200
        assert get("203.0.113.9", "wrong") == 403
        assert (
            c.get(
                "/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}, headers={"Authorization": "Basic s3cret-t0ken"}
            ).status_code
            == 403
        )
    finally:
        app.extensions["cms"].db.dispose()


def test_a_bad_network_stops_the_start(app_config):
    from app import create_app

    with pytest.raises(ValueError, match="CMS_METRICS_ALLOW"):
        create_app({**app_config, "metrics_allow": "127.0.0.1,10.0.0.0/33"})


def test_the_exposition_is_prometheus_text_or_openmetrics_on_request(client):
    r = client.get("/metrics")
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE cms_charger_messages_total counter" in r.get_data(as_text=True)
    r = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["Content-Type"].startswith("application/openmetrics-text")
    assert r.get_data(as_text=True).rstrip().endswith("# EOF")


def test_a_soap_message_without_its_identity_header_is_counted_once(client):
    before = scrape(client)
    envelope = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        b'<heartbeatRequest xmlns="urn://Ocpp/Cs/2015/10/"/></s:Body></s:Envelope>'
    )
    r = client.post("/soap/ocpp16", data=envelope, content_type="application/soap+xml")
    assert r.status_code >= 400 and b"ProtocolError" in r.data
    assert moved(before, scrape(client), MSG) == {
        key(MSG, transport="soap", action="Heartbeat", outcome="ProtocolError"): 1
    }


def test_an_answer_that_cannot_be_encoded_is_an_internal_error_counted_once(
    client, live_server, add_charger, connect, monkeypatch
):
    """The service layer answered (and counted the message so), but the transport could not write the answer:
    the charger hears InternalError, and the InternalError counter says so."""
    import json_ws.framing
    import soap.central_system

    add_charger("ENC-J")
    add_charger("ENC-S")
    j = connect("ENC-J")
    j.boot()
    s = SoapCharger(live_server.url, "ENC-S", "1.6")
    s.boot()
    before = scrape(client)

    def unencodable(*_):
        raise TypeError("cannot encode")

    monkeypatch.setattr(json_ws.framing, "call_result", unencodable)
    monkeypatch.setattr(soap.central_system, "from_dict", unencodable)
    with pytest.raises(OCPPError) as e:
        j.status(1, "Available")
    assert e.value.code == "InternalError"
    with pytest.raises(Fault):
        s.heartbeat()  # (StatusNotification's SOAP answer is empty: nothing to encode)
    after = scrape(client)
    assert moved(before, after, "cms_charger_internal_errors_total") == {
        key("cms_charger_internal_errors_total", transport="json"): 1,
        key("cms_charger_internal_errors_total", transport="soap"): 1,
    }
    assert moved(before, after, MSG) == {
        key(MSG, transport="json", action="StatusNotification", outcome="result"): 1,
        key(MSG, transport="soap", action="Heartbeat", outcome="result"): 1,
    }
