"""SOAP chargers (zeep, built from the official CentralSystemService WSDLs) running whole sessions against a
live server, version by version, and what the database holds afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from zeep.exceptions import Fault

from cms.models import (
    ChargePoint,
    Connector,
    DataTransferRecord,
    MessageLogEntry,
    MeterValue,
    StatusEvent,
    Transaction,
)
from tests.soap.charger import SoapCharger

VERSIONS = ["1.5", "1.6"]
CP_URL = "http://127.0.0.1:9/ChargePointService"


@pytest.fixture(params=VERSIONS)
def version(request):
    return request.param


def _cp(rt, identity):
    with rt.db.uow() as uow:
        cp = uow.session.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
        uow.session.expunge(cp)
        return cp


def test_full_session(version, rt, live_server, add_charger, add_tag):
    add_charger("SOAP1")
    add_tag("TAG1")
    c = SoapCharger(live_server.url, "SOAP1", version, endpoint_url=CP_URL)

    boot = c.boot("Acme", "Wallbox", firmwareVersion="1.2.3", chargePointSerialNumber="SN-9")
    assert boot["status"] == "Accepted"
    assert boot["heartbeatInterval" if version == "1.5" else "interval"] == 300
    assert c.heartbeat()["currentTime"] is not None
    c.status(1, "Available")
    assert c.authorize("TAG1")["idTagInfo"]["status"] == "Accepted"
    assert c.authorize("NOPE")["idTagInfo"]["status"] == "Invalid"

    started = c.start(1, "TAG1", meter_start=1000)
    assert started["idTagInfo"]["status"] == "Accepted"
    tx_id = started["transactionId"]
    c.status(1, "Occupied" if version == "1.5" else "Charging")
    c.meter(1, tx_id, 2500.0, 7200.0)
    c.meter(1, tx_id, 4000.0, 7100.0)
    stop_kw = {} if version == "1.5" else {"reason": "EVDisconnected"}
    stopped = c.stop(tx_id, 5000, id_tag="TAG1", **stop_kw)
    assert stopped["idTagInfo"]["status"] == "Accepted"
    c.status(1, "Available")
    dt = c.call("DataTransfer", vendorId="com.example", messageId="hello", data="payload")
    assert dt["status"] == "UnknownVendorId"
    c.call("DiagnosticsStatusNotification", status="Uploaded")
    c.call("FirmwareStatusNotification", status="Installed")

    cp = _cp(rt, "SOAP1")
    assert (cp.transport, cp.ocpp_version, cp.endpoint_url) == ("soap", version, CP_URL)
    assert (cp.vendor, cp.model, cp.firmware_version, cp.serial_number) == ("Acme", "Wallbox", "1.2.3", "SN-9")
    assert cp.registration_status == "Accepted"
    assert cp.last_heartbeat_at is not None
    assert (cp.diagnostics_status, cp.firmware_status) == ("Uploaded", "Installed")
    with rt.db.uow() as uow:
        s = uow.session
        tx = s.get(Transaction, tx_id)
        assert (tx.meter_start, tx.meter_stop, tx.id_tag, tx.connector_id) == (1000, 5000, "TAG1", 1)
        assert tx.stop_timestamp is not None
        assert tx.stop_reason == ("Local" if version == "1.5" else "EVDisconnected")
        energy = s.scalars(
            select(MeterValue.value)
            .where(
                MeterValue.transaction_id == tx_id,
                MeterValue.measurand == "Energy.Active.Import.Register",
            )
            .order_by(MeterValue.id)
        ).all()
        assert energy == [2500.0, 4000.0]
        power = s.scalars(
            select(MeterValue.value).where(
                MeterValue.transaction_id == tx_id, MeterValue.measurand == "Power.Active.Import"
            )
        ).all()
        assert power == [7200.0, 7100.0]
        statuses = s.scalars(
            select(StatusEvent.status).where(StatusEvent.connector_id == 1).order_by(StatusEvent.id)
        ).all()
        assert statuses == ["Available", "Charging", "Available"]
        conn = s.scalar(select(Connector).where(Connector.charge_point_id == cp.id, Connector.connector_id == 1))
        assert conn.status == "Available"
        record = s.scalar(select(DataTransferRecord).where(DataTransferRecord.charge_point_id == cp.id))
        assert (record.vendor_id, record.message_id, record.data, record.status) == (
            "com.example",
            "hello",
            "payload",
            "UnknownVendorId",
        )
        logged = s.scalars(
            select(MessageLogEntry.action).where(
                MessageLogEntry.charge_point_id == cp.id, MessageLogEntry.direction == "in"
            )
        ).all()
        assert "StartTransaction" in logged and "StopTransaction" in logged


def test_stop_with_transaction_data(version, rt, live_server, add_charger, add_tag):
    """Readings sent inside StopTransaction (1.5: TransactionData/values, 1.6: transactionData) are kept."""
    add_charger("SOAP2")
    add_tag("TAG2")
    c = SoapCharger(live_server.url, "SOAP2", version, endpoint_url=CP_URL)
    c.boot()
    tx_id = c.start(2, "TAG2", meter_start=0)["transactionId"]
    ts = "2025-01-01T10:00:00Z"
    if version == "1.5":
        data = [
            {"values": [{"timestamp": ts, "value": [{"_value_1": "3.5", "unit": "kWh", "context": "Transaction.End"}]}]}
        ]
    else:
        data = [{"timestamp": ts, "sampledValue": [{"value": "3.5", "unit": "kWh", "context": "Transaction.End"}]}]
    c.stop(tx_id, 3500, transactionData=data)
    with rt.db.uow() as uow:
        cols = (MeterValue.value, MeterValue.unit, MeterValue.context, MeterValue.connector_id)
        rows = uow.session.execute(select(*cols).where(MeterValue.transaction_id == tx_id)).all()
    assert [tuple(r) for r in rows] == [(3500.0, "Wh", "Transaction.End", 2)]


def test_unknown_charger_boot_rejected_and_recorded(version, rt, live_server):
    c = SoapCharger(live_server.url, "STRANGER", version, endpoint_url=CP_URL)
    assert c.boot()["status"] == "Rejected"
    cp = _cp(rt, "STRANGER")
    assert cp.registered is False and cp.registration_status == "Rejected"
    with pytest.raises(Fault) as e:
        c.heartbeat()
    assert [q.localname for q in e.value.subcodes] == ["SecurityError"]


def test_not_accepted_charger_gets_security_error(version, rt, live_server, add_charger):
    add_charger("SOAP3")
    c = SoapCharger(live_server.url, "SOAP3", version, endpoint_url=CP_URL)
    with pytest.raises(Fault) as e:
        c.authorize("TAG")
    assert e.value.code.endswith("Sender")
    assert [q.localname for q in e.value.subcodes] == ["SecurityError"]
    assert e.value.subcodes[0].namespace == ("urn://Ocpp/Cs/2012/06/" if version == "1.5" else "urn://Ocpp/Cs/2015/10/")


def test_endpoint_follows_latest_from_address(version, rt, live_server, add_charger):
    add_charger("SOAP4")
    SoapCharger(live_server.url, "SOAP4", version, endpoint_url="http://10.0.0.1/cp").boot()
    SoapCharger(live_server.url, "SOAP4", version, endpoint_url="http://10.0.0.2/cp").heartbeat()
    assert _cp(rt, "SOAP4").endpoint_url == "http://10.0.0.2/cp"
