"""Hostile input over OCPP-S 1.5 and 1.6 (issue 17): every envelope that cannot be read or does not fit the
WSDL gets a SOAP Sender fault (HTTP 400 in SOAP 1.2, 500 in SOAP 1.1 as its binding says), values the CMS
cannot store get the OCPP code the OCPP-J charger would hear, and the log gets no stack trace.

Property-based (hypothesis, generators in tests.support.fuzz) over every operation of both versions, posted
in-process through the WSGI mount and spyne; a smaller set over HTTP; then the cases of the issue, and a real
server failure, which alone is a Receiver fault."""

from __future__ import annotations

import logging
import random

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import select

from cms.models import ChargePoint, MessageLogEntry, Transaction, UnmatchedStop
from soap.schema import load
from tests.support.fuzz import (
    CHARGER_ACTIONS,
    SOAP11,
    SOAP12,
    SOAP_PATHS,
    HypothesisSource,
    RandomSource,
    envelope,
    hostile_envelope,
    soap_body,
    soap_reply_kind,
    valid_envelope,
)
from tests.support.scrape import parse, total

IDENTITY = "FUZZS"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CONTENT_TYPE = {SOAP12: "application/soap+xml; charset=utf-8", SOAP11: "text/xml; charset=utf-8"}


@pytest.fixture
def booted(client, rt, add_charger, add_tag):
    """FUZZS registered and booted over SOAP 1.6; tag T1."""
    add_charger(IDENTITY)
    add_tag("T1")
    boot = envelope("1.6", soap_body(RandomSource(random.Random(1)), "1.6", "BootNotification"), IDENTITY)
    assert post(client, "1.6", boot).status_code == 200
    return rt


def post(client, version: str, data: bytes, soap_ns: str = SOAP12):
    return client.post(SOAP_PATHS[version], data=data, headers={"Content-Type": CONTENT_TYPE[soap_ns]})


def assert_answer_fits_the_binding(status: int, body: bytes) -> tuple[str, str | None]:
    """A 200 answer, or a Sender fault with its binding's status; never a Receiver fault or a bare error."""
    kind, code = soap_reply_kind(status, body)
    assert kind in ("ok", "sender"), (status, body[:600])
    if kind == "sender":
        fault_ns = etree.QName(etree.fromstring(body)).namespace
        assert status == (400 if fault_ns == SOAP12 else 500), (status, body[:300])
        assert code and code != "InternalError"
    return kind, code


def internal_errors(client) -> float:
    """InternalError answers (Receiver faults) counted in the metrics so far."""
    return total(parse(client.get("/metrics").get_data(as_text=True)), "cms_charger_internal_errors_total")


def assert_quiet(records) -> None:
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records if r.exc_info]
    assert not [r for r in records if r.levelno >= logging.ERROR], [r.getMessage() for r in records]


ACTIONS = {
    version: [a for a in CHARGER_ACTIONS if a in load(version, "CentralSystemService").operations]
    for version in ("1.5", "1.6")
}


@pytest.mark.parametrize("version", ["1.5", "1.6"])
def test_hostile_envelopes_get_a_sender_fault_or_an_answer(client, booted, caplog, version):
    """Each example posts every operation of the version once, hostile or mangled, in SOAP 1.2 or 1.1."""

    @FUZZ
    @given(st.data())
    def check(data):
        src = HypothesisSource(data.draw)
        for action in ACTIONS[version]:
            soap_ns = src.choice([SOAP12, SOAP12, SOAP11])
            body = hostile_envelope(src, version, action, IDENTITY, soap_ns)
            before = len(caplog.records)
            resp = post(client, version, body, soap_ns)
            assert_answer_fits_the_binding(resp.status_code, resp.data)
            assert_quiet(caplog.records[before:])

    check()
    assert internal_errors(client) == 0


@pytest.mark.parametrize("version", ["1.5", "1.6"])
def test_valid_envelopes_are_still_accepted(client, booted, caplog, version):
    desc = load(version, "CentralSystemService")

    @settings(FUZZ, max_examples=8)
    @given(st.data())
    def check(data):
        src = HypothesisSource(data.draw)
        for action in ACTIONS[version]:
            soap_ns = src.choice([SOAP12, SOAP11])
            before = len(caplog.records)
            resp = post(client, version, valid_envelope(src, version, action, IDENTITY, soap_ns), soap_ns)
            assert resp.status_code == 200, resp.data[:600]
            (answer,) = etree.fromstring(resp.data).find(f"{{{soap_ns}}}Body")
            assert etree.QName(answer).localname == desc.operations[action].response_element
            assert_quiet(caplog.records[before:])

    check()


def test_hostile_envelopes_over_http(live_server, booted, caplog):
    src = RandomSource(random.Random(12))
    with requests.Session() as http:
        for _ in range(40):
            version = src.choice(["1.5", "1.6"])
            action = src.choice(ACTIONS[version])
            soap_ns = src.choice([SOAP12, SOAP11])
            resp = http.post(
                live_server.url + SOAP_PATHS[version],
                timeout=10,
                data=hostile_envelope(src, version, action, IDENTITY, soap_ns),
                headers={"Content-Type": CONTENT_TYPE[soap_ns]},
            )
            assert_answer_fits_the_binding(resp.status_code, resp.content)
    assert_quiet(caplog.records)


# ------------------------------------------------------------------------------------------------ the cases
NS16 = load("1.6", "CentralSystemService").namespace
NOW = "2026-01-01T10:00:00Z"


def _request(action: str, fields: str, version: str = "1.6") -> etree._Element:
    desc = load(version, "CentralSystemService")
    element = desc.operations[action].request_element
    return etree.fromstring(f'<o:{element} xmlns:o="{desc.namespace}">{fields}</o:{element}>')


START = (
    "<o:connectorId>1</o:connectorId><o:idTag>T1</o:idTag><o:timestamp>2026-01-01T10:00:00Z</o:timestamp>"
    "<o:meterStart>{meter}</o:meterStart>"
)
GOOD_START = envelope("1.6", _request("StartTransaction", START.format(meter=10)), IDENTITY)
BROKEN = {
    "truncated": GOOD_START[: len(GOOD_START) // 2],
    "truncated in the body": GOOD_START[:-30],
    "empty body": GOOD_START.split(b"<s:Body>")[0] + b"<s:Body/></s:Envelope>",
    "no body": GOOD_START.split(b"<s:Body>")[0] + b"</s:Envelope>",
    "two requests": GOOD_START.replace(b"</s:Body>", b"<o:heartbeatRequest/></s:Body>"),
    "text in the body": GOOD_START.replace(b"<s:Body>", b"<s:Body>hello"),
    "not an envelope": b"<hello/>",
    "wrong namespace": GOOD_START.replace(NS16.encode(), b"urn://Ocpp/Cs/2012/06/"),
    "unknown request": GOOD_START.replace(b"startTransactionRequest", b"makeCoffeeRequest"),
    "NUL character": GOOD_START.replace(b"<o:idTag>T1", b"<o:idTag>T&#0;1"),
}


@pytest.mark.parametrize("soap_ns", [SOAP12, SOAP11], ids=["soap12", "soap11"])
def test_envelopes_that_cannot_be_read_are_sender_faults(client, booted, caplog, soap_ns):
    for case, data in BROKEN.items():
        caplog.clear()
        resp = post(client, "1.6", data.replace(SOAP12.encode(), soap_ns.encode()), soap_ns)
        kind, code = assert_answer_fits_the_binding(resp.status_code, resp.data)
        assert kind == "sender" and code in ("FormationViolation", "NotImplemented"), (case, resp.data)
        expected_ns = SOAP11 if soap_ns == SOAP11 and case != "not an envelope" else SOAP12
        assert etree.QName(etree.fromstring(resp.data)).namespace == expected_ns, case
        (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("soap")]
        assert line.levelno == logging.WARNING and not line.exc_info, case


def test_start_with_an_impossible_meter_start_is_a_sender_fault(client, booted, caplog):
    for meter, code in (
        ("100000000000000000000", "TypeConstraintViolation"),
        (str(1 << 40), "PropertyConstraintViolation"),
        ("abc", "TypeConstraintViolation"),
    ):
        resp = post(client, "1.6", envelope("1.6", _request("StartTransaction", START.format(meter=meter)), IDENTITY))
        assert resp.status_code == 400
        assert soap_reply_kind(resp.status_code, resp.data) == ("sender", code)
    with booted.db.uow() as uow:
        assert uow.session.scalar(select(Transaction)) is None
    assert_quiet(caplog.records)


@pytest.mark.parametrize("version", ["1.5", "1.6"])
def test_stop_for_a_transaction_that_cannot_exist_is_answered_and_kept(client, booted, version):
    resp = post(
        client,
        version,
        envelope(
            version,
            _request(
                "StopTransaction",
                f"<o:transactionId>{1 << 40}</o:transactionId><o:timestamp>{NOW}</o:timestamp>"
                "<o:meterStop>20</o:meterStop>",
                version,
            ),
            IDENTITY,
        ),
    )
    assert resp.status_code == 200, resp.data
    with booted.db.uow() as uow:
        (stop,) = uow.session.scalars(select(UnmatchedStop)).all()
        assert stop.reported_transaction_id == -1 and stop.payload["transactionId"] == 1 << 40


def test_identity_and_headers_past_their_columns(client, booted):
    too_long = envelope("1.6", soap_body(RandomSource(random.Random(2)), "1.6", "BootNotification"), "X" * 65)
    assert soap_reply_kind(*_sent(client, too_long)) == ("sender", "SecurityError")
    heartbeat = envelope(
        "1.6",
        _request("Heartbeat", ""),
        IDENTITY,
        message_id="urn:uuid:" + "m" * 300,
        from_address="http://cp.example/" + "a" * 600,
    )
    assert _sent(client, heartbeat)[0] == 200
    with booted.db.uow() as uow:
        assert uow.session.scalar(select(ChargePoint).where(ChargePoint.identity == "X" * 65)) is None
        assert (
            uow.session.scalar(select(ChargePoint.endpoint_url).where(ChargePoint.identity == IDENTITY))
            == "http://10.9.9.9:8080/cp"
        )  # the address that fits is kept, the one that does not is ignored
        ids = uow.session.scalars(select(MessageLogEntry.unique_id).where(MessageLogEntry.action == "Heartbeat"))
        assert {len(i) for i in ids} == {64}


def _sent(client, data: bytes) -> tuple[int, bytes]:
    resp = post(client, "1.6", data)
    return resp.status_code, resp.data


def test_a_date_time_past_year_9999_is_a_sender_fault(client, booted):
    status = _request(
        "StatusNotification",
        "<o:connectorId>1</o:connectorId><o:errorCode>NoError</o:errorCode>"
        "<o:status>Available</o:status>"
        "<o:timestamp>9999-12-31T23:59:59-05:00</o:timestamp>",
    )
    assert soap_reply_kind(*_sent(client, envelope("1.6", status, IDENTITY))) == (
        "sender",
        "PropertyConstraintViolation",
    )


def test_only_a_server_failure_is_a_receiver_fault(client, booted, caplog, monkeypatch):
    def outage(*_args, **_kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(booted.pipeline.runner, "apply", outage)
    caplog.clear()
    status, body = _sent(client, envelope("1.6", _request("Heartbeat", ""), IDENTITY))
    assert status == 500 and soap_reply_kind(status, body) == ("receiver", "InternalError")
    assert [r for r in caplog.records if r.name == "soap.central_system" and r.levelno == logging.ERROR]
    assert internal_errors(client) == 1


def test_an_envelope_in_utf16_is_logged_as_it_reads(client, booted):
    """Valid XML in UTF-16 read as UTF-8 would put NUL characters in the message log (refused by PostgreSQL)."""
    data = envelope("1.6", _request("Heartbeat", ""), IDENTITY, message_id="urn:uuid:utf16")
    data = data.decode().replace("encoding='UTF-8'", "encoding='UTF-16'").encode("utf-16")
    assert _sent(client, data)[0] == 200
    with booted.db.uow() as uow:
        logged = uow.session.scalar(
            select(MessageLogEntry.payload).where(
                MessageLogEntry.unique_id == "urn:uuid:utf16", MessageLogEntry.direction == "in"
            )
        )
    assert "heartbeatRequest" in logged and "\x00" not in logged


@pytest.mark.parametrize("version", ["1.5", "1.6"])
def test_a_structure_where_a_value_belongs_is_a_sender_fault(client, booted, version):
    status = _request(
        "StatusNotification",
        "<o:connectorId>1</o:connectorId><o:status><o:x>1</o:x></o:status><o:errorCode><o:y/></o:errorCode>",
        version,
    )
    resp = post(client, version, envelope(version, status, IDENTITY))
    assert soap_reply_kind(resp.status_code, resp.data) == ("sender", "TypeConstraintViolation")
