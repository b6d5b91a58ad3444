"""Envelope-level checks (spyne's SOAP 1.2 is experimental upstream): raw XML posted for every operation of
both versions, in SOAP 1.2 and 1.1, and the answer read as XML; then the bad-input and security cases."""

from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import func, select

from cms.models import ChargePoint, MessageLogEntry, StatusEvent, Transaction
from soap.schema import load

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
NS = {"1.5": "urn://Ocpp/Cs/2012/06/", "1.6": "urn://Ocpp/Cs/2015/10/"}
PATH = {"1.5": "/soap/ocpp15", "1.6": "/soap/ocpp16"}
TS = "2025-03-01T12:00:00Z"

_METER_15 = (
    f'<values><timestamp>{TS}</timestamp><value unit="Wh" measurand="Energy.Active.Import.Register">'
    "1500</value></values>"
)
_METER_16 = (
    f"<meterValue><timestamp>{TS}</timestamp><sampledValue><value>1500</value><unit>Wh</unit>"
    "</sampledValue></meterValue>"
)
BODIES = {
    "Authorize": "<idTag>TAG1</idTag>",
    "BootNotification": "<chargePointVendor>Acme</chargePointVendor><chargePointModel>X1</chargePointModel>",
    "DataTransfer": "<vendorId>com.example</vendorId><data>hi</data>",
    "DiagnosticsStatusNotification": "<status>Uploaded</status>",
    "FirmwareStatusNotification": "<status>Downloaded</status>",
    "Heartbeat": "",
    "MeterValues": {
        "1.5": "<connectorId>1</connectorId>" + _METER_15,
        "1.6": "<connectorId>1</connectorId>" + _METER_16,
    },
    "StartTransaction": f"<connectorId>1</connectorId><idTag>TAG1</idTag><timestamp>{TS}</timestamp>"
    "<meterStart>100</meterStart>",
    "StatusNotification": {
        "1.5": "<connectorId>1</connectorId><status>Occupied</status><errorCode>NoError</errorCode>",
        "1.6": "<connectorId>1</connectorId><errorCode>NoError</errorCode><status>Charging</status>",
    },
    "StopTransaction": f"<transactionId>999</transactionId><timestamp>{TS}</timestamp><meterStop>200</meterStop>",
}
# What each response must hold (child element -> text), beyond being the right element.
ANSWERS = {
    "Authorize": {"idTagInfo/status": "Accepted"},
    "BootNotification": {"status": "Accepted"},
    "DataTransfer": {"status": "UnknownVendorId"},
    "StartTransaction": {"idTagInfo/status": "Accepted"},
}


def envelope(
    version: str,
    op: str,
    body: str,
    identity: str | None = "ENV1",
    soap: str = SOAP12,
    message_id: str = "urn:uuid:req-1",
    ns: str | None = None,
) -> bytes:
    ns = ns or NS[version]
    element = load(version, "CentralSystemService").operations[op].request_element if op in BODIES else op
    ident = f"<o:chargeBoxIdentity>{identity}</o:chargeBoxIdentity>" if identity else ""
    inner = "".join(_qualify(body))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{soap}" xmlns:a="{WSA}" xmlns:o="{ns}">'
        f"<s:Header>{ident}<a:MessageID>{message_id}</a:MessageID><a:Action>/{op}</a:Action>"
        f"<a:From><a:Address>http://10.1.1.1:8080/cp</a:Address></a:From><a:To>http://cms</a:To></s:Header>"
        f"<s:Body><o:{element}>{inner}</o:{element}></s:Body></s:Envelope>"
    ).encode()


def _qualify(body: str):
    """Put every element of a body snippet in the ``o:`` namespace."""
    return [body.replace("</", "\0").replace("<", "<o:").replace("\0", "</o:")]


def post(client, version, data: bytes, soap: str = SOAP12):
    ctype = "application/soap+xml; charset=utf-8" if soap == SOAP12 else "text/xml; charset=utf-8"
    return client.post(PATH[version], data=data, headers={"Content-Type": ctype})


def fault_of(resp, soap=SOAP12):
    doc = etree.fromstring(resp.data)
    fault = doc.find(f"{{{soap}}}Body/{{{soap}}}Fault")
    assert fault is not None, resp.data
    return fault


@pytest.fixture
def accepted(add_charger, add_tag, client):
    """Charger ENV1, registered and booted, with tag TAG1."""
    add_charger("ENV1")
    add_tag("TAG1")


@pytest.mark.parametrize("soap", [SOAP12, SOAP11], ids=["soap12", "soap11"])
@pytest.mark.parametrize("version", ["1.5", "1.6"])
@pytest.mark.parametrize("op", sorted(BODIES))
def test_operation_envelope(client, rt, accepted, version, op, soap):
    assert (
        post(client, version, envelope(version, "BootNotification", BODIES["BootNotification"]), soap).status_code
        == 200
    )
    body = BODIES[op][version] if isinstance(BODIES[op], dict) else BODIES[op]
    resp = post(client, version, envelope(version, op, body, soap=soap, message_id="urn:uuid:abc"), soap)
    assert resp.status_code == 200, resp.data
    assert resp.headers["Content-Type"].startswith("application/soap+xml" if soap == SOAP12 else "text/xml")
    doc = etree.fromstring(resp.data)
    assert doc.tag == f"{{{soap}}}Envelope"
    header = doc.find(f"{{{soap}}}Header")
    assert header.findtext(f"{{{WSA}}}Action") == f"/{op}Response"
    assert header.findtext(f"{{{WSA}}}RelatesTo") == "urn:uuid:abc"
    assert header.find(f"{{{NS[version]}}}chargeBoxIdentity") is None
    desc = load(version, "CentralSystemService")
    (answer,) = doc.find(f"{{{soap}}}Body")
    assert answer.tag == f"{{{NS[version]}}}{desc.operations[op].response_element}"
    for path, text in ANSWERS.get(op, {}).items():
        assert answer.findtext("/".join(f"{{{NS[version]}}}{p}" for p in path.split("/"))) == text
    if op in ("BootNotification", "Heartbeat"):
        assert answer.findtext(f"{{{NS[version]}}}currentTime")
    if op == "BootNotification":
        assert answer.findtext(f"{{{NS[version]}}}{'heartbeatInterval' if version == '1.5' else 'interval'}") == "300"


def test_status_mapping_and_message_log(client, rt, accepted):
    post(client, "1.5", envelope("1.5", "BootNotification", BODIES["BootNotification"]))
    post(
        client,
        "1.5",
        envelope(
            "1.5",
            "StatusNotification",
            "<connectorId>2</connectorId><status>Occupied</status><errorCode>Mode3Error</errorCode>",
        ),
    )
    with rt.db.uow() as uow:
        ev = uow.session.scalar(select(StatusEvent).where(StatusEvent.connector_id == 2))
        assert (ev.status, ev.error_code) == ("Charging", "EVCommunicationError")
        raw = uow.session.scalars(
            select(MessageLogEntry.payload).where(
                MessageLogEntry.action == "StatusNotification", MessageLogEntry.direction == "in"
            )
        ).first()
    assert "Mode3Error" in raw  # the envelope as received is what the log keeps


def _count(rt, model):
    with rt.db.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


BAD = {
    "malformed": b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body><oops></s:Body>",
    "not xml": b"hello there",
    "empty": b"",
    "billion laughs": b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">
]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&lol3;</s:Body></s:Envelope>""",
    "external entity": b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&xxe;</s:Body></s:Envelope>""",
    "dtd only": b"""<?xml version="1.0"?><!DOCTYPE s:Envelope SYSTEM "http://evil.example/x.dtd">
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Body></s:Envelope>""",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_xml_is_a_fault_and_stores_nothing(client, rt, accepted, case):
    before = _count(rt, MessageLogEntry)
    resp = post(client, "1.6", BAD[case])
    assert resp.status_code in (400, 500), resp.data
    fault = fault_of(resp)
    assert fault.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text")
    if case in ("billion laughs", "external entity", "dtd only"):
        assert b"DTD" in resp.data and b"root:" not in resp.data
    assert _count(rt, MessageLogEntry) == before
    # and the service keeps running
    ok = post(client, "1.6", envelope("1.6", "BootNotification", BODIES["BootNotification"]))
    assert ok.status_code == 200


def test_wrong_namespace_unknown_operation_missing_identity(client, rt, accepted):
    wrong_ns = envelope("1.6", "BootNotification", BODIES["BootNotification"], ns="urn://Ocpp/Cs/2012/06/")
    assert fault_of(post(client, "1.6", wrong_ns)) is not None
    unknown = envelope("1.6", "frobnicateRequest", "<x>1</x>")
    assert fault_of(post(client, "1.6", unknown)) is not None
    anonymous = envelope("1.6", "BootNotification", BODIES["BootNotification"], identity=None)
    fault = fault_of(post(client, "1.6", anonymous))
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Subcode/{{{SOAP12}}}Value").endswith("ProtocolError")
    assert _count(rt, MessageLogEntry) == 0
    assert _count(rt, Transaction) == 0
    assert ok_boot(client)


def ok_boot(client) -> bool:
    return post(client, "1.6", envelope("1.6", "BootNotification", BODIES["BootNotification"])).status_code == 200


def test_unknown_charger_fault_in_soap11(client, rt):
    resp = post(client, "1.6", envelope("1.6", "Heartbeat", "", identity="NOBODY", soap=SOAP11), SOAP11)
    fault = fault_of(resp, SOAP11)
    assert fault.findtext("faultcode").endswith("Client.SecurityError")
    with rt.db.uow() as uow:
        assert uow.session.scalar(select(ChargePoint).where(ChargePoint.identity == "NOBODY")) is None


def test_security_error_subcode_is_qualified(client, rt, add_charger):
    add_charger("ENV2")  # registered but never booted
    resp = post(client, "1.6", envelope("1.6", "Authorize", "<idTag>T</idTag>", identity="ENV2"))
    fault = fault_of(resp)
    value = fault.find(f"{{{SOAP12}}}Code/{{{SOAP12}}}Subcode/{{{SOAP12}}}Value")
    prefix, local = value.text.split(":")
    assert (value.nsmap[prefix], local) == (NS["1.6"], "SecurityError")
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value").endswith("Sender")
    header = etree.fromstring(resp.data).find(f"{{{SOAP12}}}Header")
    assert header.findtext(f"{{{WSA}}}Action") == f"{WSA}/soap/fault"
    assert header.findtext(f"{{{WSA}}}RelatesTo") == "urn:uuid:req-1"


@pytest.mark.parametrize("version", ["1.5", "1.6"])
def test_wsdl_matches_the_official_messages(client, version):
    resp = client.get(PATH[version] + "?wsdl")
    assert resp.status_code == 200
    served = etree.fromstring(resp.data)
    official = etree.parse(str(load(version, "CentralSystemService").path)).getroot()
    wsdl = "http://schemas.xmlsoap.org/wsdl/"
    xs = "http://www.w3.org/2001/XMLSchema"

    def ops(doc):
        return sorted(o.get("name") for o in doc.iter(f"{{{wsdl}}}portType") for o in o)

    def elements(doc):
        return {e.get("name") for e in doc.iter(f"{{{xs}}}schema") for e in e.findall(f"{{{xs}}}element")}

    assert ops(served) == ops(official)
    assert elements(official) <= elements(served)
    assert served.get("targetNamespace") == NS[version]


@pytest.mark.parametrize("version", ["1.5", "1.6"])
def test_served_wsdl_drives_a_zeep_client(live_server, rt, version):
    """A client generated from ``?wsdl`` alone (header, actions, address) talks to the service."""
    import zeep
    from zeep.wsa import WsAddressingPlugin

    client = zeep.Client(f"{live_server.url}{PATH[version]}?wsdl", plugins=[WsAddressingPlugin()])
    header = etree.Element(f"{{{NS[version]}}}chargeBoxIdentity")
    header.text = "FROM-WSDL"
    answer = client.service.BootNotification(chargePointVendor="V", chargePointModel="M", _soapheaders=[header])
    assert answer.status == "Rejected"  # unknown charger: recorded, not accepted
    with rt.db.uow() as uow:
        assert (
            uow.session.scalar(select(ChargePoint.ocpp_version).where(ChargePoint.identity == "FROM-WSDL")) == version
        )
