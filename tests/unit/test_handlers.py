"""Handlers of charger-initiated messages against a fake context (tests/unit/fakes.py): no app, no database."""

from __future__ import annotations

from cms.config import Settings
from cms.datatransfer import DataTransferRegistry
from cms.handlers import HANDLERS
from cms.models import DataTransferRecord
from tests.unit.fakes import FakeContext

BOOT = {
    "chargePointVendor": "Acme",
    "chargePointModel": "W1",
    "chargePointSerialNumber": "S-1",
    "firmwareVersion": "1.2.3",
    "meterType": "M",
}


def _run(action: str, ctx: FakeContext, payload: dict) -> dict:
    return HANDLERS[action].run(ctx, payload)


def test_boot_of_a_registered_charger_is_accepted_with_the_configured_interval_and_kept():
    ctx = FakeContext(Settings(heartbeat_interval=123))
    answer = _run("BootNotification", ctx, BOOT)
    assert answer == {"status": "Accepted", "currentTime": "2030-01-01T12:00:00.000Z", "interval": 123}
    assert ctx.charger_updates == [
        {
            "vendor": "Acme",
            "model": "W1",
            "serial_number": "S-1",
            "charge_box_serial_number": None,
            "firmware_version": "1.2.3",
            "iccid": None,
            "imsi": None,
            "meter_type": "M",
            "meter_serial_number": None,
            "last_boot_at": ctx.now,
            "ocpp_version": "1.6",
            "transport": "json",
            "registration_status": "Accepted",
        }
    ]


def test_boot_of_an_unregistered_charger_is_rejected_and_its_own_interval_wins():
    ctx = FakeContext(registered=False, heartbeat_interval=30)
    answer = _run("BootNotification", ctx, BOOT)
    assert answer["status"] == "Rejected" and answer["interval"] == 30
    assert ctx.charger_updates[0]["registration_status"] == "Rejected"


def test_heartbeat_keeps_its_time():
    ctx = FakeContext()
    assert _run("Heartbeat", ctx, {}) == {"currentTime": "2030-01-01T12:00:00.000Z"}
    assert ctx.charger_updates == [{"last_heartbeat_at": ctx.now}]


def test_firmware_and_diagnostics_statuses_are_kept_with_their_time():
    ctx = FakeContext()
    assert _run("FirmwareStatusNotification", ctx, {"status": "Installing"}) == {}
    assert _run("DiagnosticsStatusNotification", ctx, {"status": "Uploaded"}) == {}
    assert ctx.charger_updates == [
        {"firmware_status": "Installing", "firmware_status_at": ctx.now},
        {"diagnostics_status": "Uploaded", "diagnostics_status_at": ctx.now},
    ]


def test_data_transfer_is_answered_by_its_vendor_handler_and_kept():
    registry = DataTransferRegistry()
    registry.register("acme", "ping", lambda identity, message_id, data: ("Accepted", f"pong {identity} {data}"))
    ctx = FakeContext(data_transfer=registry)
    answer = _run("DataTransfer", ctx, {"vendorId": "acme", "messageId": "ping", "data": "1"})
    assert answer == {"status": "Accepted", "data": "pong CP1 1"}
    (record,) = ctx.session.added
    assert isinstance(record, DataTransferRecord)
    assert (record.vendor_id, record.message_id, record.status, record.response_data) == (
        "acme",
        "ping",
        "Accepted",
        "pong CP1 1",
    )


def test_data_transfer_of_an_unknown_vendor_or_message_says_so():
    registry = DataTransferRegistry()
    registry.register("acme", "ping", lambda *a: ("Accepted", None))
    assert _run("DataTransfer", FakeContext(data_transfer=registry), {"vendorId": "other"}) == {
        "status": "UnknownVendorId"
    }
    assert _run("DataTransfer", FakeContext(data_transfer=registry), {"vendorId": "acme", "messageId": "x"}) == {
        "status": "UnknownMessageId"
    }
