"""The pipeline's rules against fakes (tests/unit/fakes.py): validation, the registration gate, group commit or
a unit of work of its own, the heartbeat fast path, after-commit observers. No app, no database."""

from __future__ import annotations

import dataclasses

import pytest

from cms.config import Settings
from cms.errors import InternalFailure, OcppError
from cms.handlers import HANDLERS, Charger, Handler, on
from cms.message_runner import AcceptedChargers, CommittedMessage, MessageRunner
from cms.pipeline import CHARGER_OPERATIONS, ChargerPipeline
from cms.schemas import PayloadValidator
from tests.unit.fakes import FakeBatcher, FakeDatabase, FakeGroupCommit, FakeMetrics, charger_row

VALIDATOR = PayloadValidator()  # pure: the OCPP 1.6 JSON schemas of the ocpp package
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
START = {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": "2030-01-01T12:00:00Z"}


def _handlers(calls: list) -> dict[str, Handler]:
    """Every action handled by a fake that records what it got and answers {"ok": action}."""

    def fake(action):
        def run(ctx, payload):
            calls.append((action, ctx.row.identity, payload))
            return {"ok": action}

        return run

    return {a: dataclasses.replace(h, run=fake(a)) for a, h in HANDLERS.items()}


def _pipeline(
    *,
    row=charger_row(),
    settings: Settings | None = None,
    batching: bool = False,
    group_commit=None,
    observers=(),
):
    settings = settings or Settings(message_log_limit=0)
    calls: list = []
    handlers = _handlers(calls)
    db = FakeDatabase(row)
    batcher = FakeBatcher() if batching else None
    accepted = AcceptedChargers() if batching else None
    runner = MessageRunner(db, settings, accepted=accepted, heartbeats=batcher, observers=observers, handlers=handlers)
    metrics = FakeMetrics()
    pipeline = ChargerPipeline(
        runner,
        VALIDATOR,
        settings,
        group_commit=group_commit,
        heartbeats=batcher,
        accepted=accepted,
        metrics=metrics,
        handlers=handlers,
    )
    return pipeline, calls, db, metrics, batcher


def test_every_charger_initiated_action_has_one_handler_in_a_feature_module():
    assert set(CHARGER_OPERATIONS) == {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
    }
    assert {a for a, h in HANDLERS.items() if h.transaction_message} == {
        "StartTransaction",
        "StopTransaction",
        "MeterValues",
    }
    assert {a for a, h in HANDLERS.items() if h.runs_alone} == {"DataTransfer"}
    assert all(h.run.__module__.startswith("cms.handlers.") for h in HANDLERS.values())


def test_an_action_cannot_be_handled_twice():
    with pytest.raises(ValueError, match="handled twice"):
        on("Heartbeat")(lambda ctx, p: {})


def test_a_valid_message_runs_its_handler_in_one_committed_unit_of_work():
    pipeline, calls, db, metrics, _ = _pipeline()
    assert pipeline.handle(Charger("CP1"), "StatusNotification", STATUS) == {"ok": "StatusNotification"}
    assert calls == [("StatusNotification", "CP1", STATUS)]
    assert len(db.sessions) == 1 and db.sessions[0].committed
    assert metrics.messages == [("json", "StatusNotification", "result")]


@pytest.mark.parametrize(("action", "code"), [("Reset", "NotSupported"), ("FlyToTheMoon", "NotImplemented")])
def test_an_action_a_charger_may_not_send_is_refused(action, code):
    pipeline, calls, db, metrics, _ = _pipeline()
    with pytest.raises(OcppError) as e:
        pipeline.handle(Charger("CP1"), action, {})
    assert e.value.code == code and calls == [] and db.sessions == []
    assert metrics.messages == [("json", action, code)]


def test_a_message_that_does_not_fit_its_schema_is_refused_before_any_unit_of_work():
    pipeline, calls, db, _, _ = _pipeline()
    with pytest.raises(OcppError) as e:
        pipeline.handle(Charger("CP1"), "StatusNotification", {**STATUS, "status": "Sleeping"})
    assert e.value.code in ("PropertyConstraintViolation", "FormationViolation", "TypeConstraintViolation")
    assert calls == [] and db.sessions == []


def test_a_value_no_column_can_hold_is_refused_with_its_field():
    pipeline, calls, _, _, _ = _pipeline()
    with pytest.raises(OcppError) as e:
        pipeline.handle(Charger("CP1"), "StatusNotification", {**STATUS, "connectorId": 10**20})
    assert e.value.details == {"field": "connectorId"} and calls == []


def test_a_transaction_message_with_flaws_is_processed_as_far_as_usable():
    pipeline, calls, _, _, _ = _pipeline()
    stop = {"transactionId": 10**20, "meterStop": 10, "timestamp": "2030-01-01T13:00:00Z"}
    assert pipeline.handle(Charger("CP1"), "StopTransaction", stop) == {"ok": "StopTransaction"}
    ((action, _, payload),) = calls
    assert action == "StopTransaction" and payload.problem("transactionId") is not None


def test_a_start_whose_own_facts_cannot_be_stored_is_refused():
    pipeline, calls, _, _, _ = _pipeline()
    with pytest.raises(OcppError) as e:
        pipeline.handle(Charger("CP1"), "StartTransaction", {**START, "meterStart": 10**20})
    assert e.value.details == {"field": "meterStart"} and calls == []


def test_the_registration_gate_lets_a_rejected_charger_boot_and_send_transactions_only():
    pipeline, calls, _, _, _ = _pipeline(row=charger_row(status="Rejected"))
    with pytest.raises(OcppError) as e:
        pipeline.handle(Charger("CP1"), "StatusNotification", STATUS)
    assert e.value.code == "SecurityError"
    pipeline.handle(Charger("CP1"), "StartTransaction", START)
    pipeline.handle(Charger("CP1"), "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    assert [c[0] for c in calls] == ["StartTransaction", "BootNotification"]


def test_an_unknown_charger_may_only_boot():
    pipeline, calls, db, _, _ = _pipeline(row=None)
    with pytest.raises(OcppError) as e:
        pipeline.handle(Charger("NEW"), "Heartbeat", {})
    assert e.value.code == "SecurityError" and calls == []
    pipeline.handle(Charger("NEW"), "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    (new,) = db.sessions[-1].added  # recorded, not registered, so an owner can add it
    assert new.identity == "NEW" and new.registered is False and new.registration_status == "Rejected"


def test_with_group_commit_database_work_joins_the_next_group_and_the_rest_runs_alone():
    group = FakeGroupCommit()
    pipeline, calls, _, _, _ = _pipeline(group_commit=group)
    assert pipeline.handle(Charger("CP1"), "StatusNotification", STATUS) == {"grouped": "StatusNotification"}
    pipeline.handle(Charger("CP1"), "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    pipeline.handle(Charger("CP1"), "DataTransfer", {"vendorId": "acme"})
    # A reconnect storm is thousands of boots at once: they share commit groups too.
    assert group.submitted == ["StatusNotification", "BootNotification"]
    assert [c[0] for c in calls] == ["DataTransfer"]


def test_a_heartbeat_of_a_charger_known_accepted_is_answered_without_a_unit_of_work():
    pipeline, calls, db, metrics, batcher = _pipeline(batching=True, settings=Settings(message_log_limit=10))
    pipeline.handle(Charger("CP1"), "Heartbeat", {})  # first: the full path, which remembers the charger
    assert len(db.sessions) == 1 and [c[0] for c in calls] == ["Heartbeat"]
    assert len(batcher.log_rows) == 2  # its log copies (request, answer) go with the next batch
    answer = pipeline.handle(Charger("CP1"), "Heartbeat", {}, unique_id="42")
    assert set(answer) == {"currentTime"} and len(db.sessions) == 1 and len(calls) == 1
    ((cp_id, _, rows),) = batcher.heartbeats
    assert cp_id == 7 and [r["unique_id"] for r in rows] == ["42", "42"]
    assert [m[2] for m in metrics.messages] == ["result", "result"]
    # The same charger through another transport is read afresh.
    pipeline.handle(Charger("CP1", transport="soap"), "Heartbeat", {})
    assert len(db.sessions) == 2


def test_accepted_chargers_are_trusted_for_the_ttl_from_their_read():
    clock = [0.0]
    accepted = AcceptedChargers(ttl=300, clock=lambda: clock[0])
    from cms.handlers import ChargerRow

    row = ChargerRow(*charger_row())
    accepted.remember(row, Charger("CP1"), "StatusNotification", {}, cached=False)
    clock[0] = 200
    assert accepted.known(Charger("CP1")) is not None
    accepted.remember(row, Charger("CP1"), "StatusNotification", {}, cached=True)  # keeps the read's time
    clock[0] = 301
    assert accepted.known(Charger("CP1")) is None
    accepted.remember(row, Charger("CP1"), "BootNotification", {"status": "Rejected"}, cached=False)
    assert accepted.known(Charger("CP1")) is None


def test_observers_see_each_committed_message_and_cannot_break_it():
    seen: list[CommittedMessage] = []

    def broken(message):
        raise RuntimeError("an observer's bug")

    pipeline, _, _, _, _ = _pipeline(observers=[seen.append, broken])
    assert pipeline.handle(Charger("CP1"), "StatusNotification", STATUS) == {"ok": "StatusNotification"}
    (message,) = seen
    assert (message.identity, message.charge_point_id, message.action) == ("CP1", 7, "StatusNotification")
    assert message.request == STATUS and message.response == {"ok": "StatusNotification"}


def test_observers_see_nothing_of_a_refused_message():
    seen: list = []
    pipeline, _, _, _, _ = _pipeline(row=charger_row(status="Rejected"), observers=[seen.append])
    with pytest.raises(OcppError):
        pipeline.handle(Charger("CP1"), "StatusNotification", STATUS)
    assert seen == []


def test_a_server_failure_in_a_handler_is_an_internal_failure_and_nothing_is_committed():
    pipeline, _, db, metrics, _ = _pipeline()

    def bug(ctx, payload):
        raise KeyError("a bug")

    pipeline.handlers["StatusNotification"] = dataclasses.replace(HANDLERS["StatusNotification"], run=bug)
    with pytest.raises(InternalFailure):
        pipeline.handle(Charger("CP1"), "StatusNotification", STATUS)
    assert not db.sessions[0].committed
    assert metrics.messages == [("json", "StatusNotification", "InternalError")]
