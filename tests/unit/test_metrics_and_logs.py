"""The metrics port and its Prometheus implementation, the dispatcher's command outcomes, the multiprocess
directory of ``cms serve``, and the JSON log format, each on its own."""

from __future__ import annotations

import contextlib
import io
import logging
import os

import orjson
import pytest

from cms.config import load_settings
from cms.dispatcher import Dispatcher
from cms.gateway import ChargerCallError, ChargerNotConnected, ChargerTimeout
from cms.logs import JsonFormatter, bind_charger, configure_logging, unbind_charger
from cms.metrics import MetricsAccess, action_label, outcome_label, parse_networks
from cms.prometheus import OnlineChargersCollector, PrometheusMetrics
from cms.serve_metrics import prepare_multiprocess_dir, remove_multiprocess_dir, worker_exited
from soap.wsgi import fault_outcome
from tests.support.scrape import key, parse


def samples(metrics: PrometheusMetrics) -> dict:
    body, _ = metrics.exposition()
    return parse(body.decode())


# ----- labels -----


def test_labels_are_bounded_whatever_a_charger_sends():
    assert action_label("StartTransaction") == "StartTransaction"
    assert action_label("Reset") == "Reset"  # an OCPP action, even in the wrong direction
    assert action_label("Start-Transaction") == "other"
    assert action_label("x" * 1000) == "other"
    assert action_label(None) == action_label("") == "none"
    assert outcome_label("result") == "result"
    assert outcome_label("OccurenceConstraintViolation") == "OccurenceConstraintViolation"
    assert outcome_label('bad"code\n') == outcome_label("x" * 100) == outcome_label(None) == "other"


def test_messages_internal_errors_and_commands_are_recorded_with_their_labels():
    m = PrometheusMetrics()
    m.charger_message("json", "Heartbeat", "result", 0.002)
    m.charger_message("json", "Heartbeat", "result", 0.004)
    m.charger_message("soap", "StatusNotification", "InternalError", 0.5)
    m.charger_message("json", None, "FormationViolation")  # refused before it was handled: no latency
    m.internal_error("soap")
    m.command_sent("Reset", "timeout", 30.0)
    s = samples(m)
    assert s[key("cms_charger_messages_total", transport="json", action="Heartbeat", outcome="result")] == 2
    assert s[key("cms_charger_messages_total", transport="json", action="none", outcome="FormationViolation")] == 1
    assert s[key("cms_charger_message_duration_seconds_count", action="Heartbeat")] == 2
    assert s[key("cms_charger_message_duration_seconds_sum", action="Heartbeat")] == pytest.approx(0.006)
    assert key("cms_charger_message_duration_seconds_count", action="none") not in s
    assert s[key("cms_charger_internal_errors_total", transport="soap")] == 2
    assert s[key("cms_commands_total", action="Reset", outcome="timeout")] == 1
    assert s[key("cms_command_round_trip_seconds_bucket", action="Reset", le="10.0")] == 0
    assert s[key("cms_command_round_trip_seconds_bucket", action="Reset", le="30.0")] == 1


def test_each_app_has_its_own_registry():
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.group_committed(3)
    assert samples(first)[key("cms_group_commit_messages_count")] == 1
    assert samples(second)[key("cms_group_commit_messages_count")] == 0


def test_online_chargers_are_read_at_each_scrape_and_a_failed_read_spoils_nothing(caplog):
    answers = [{("json", "1.6"): 4}, RuntimeError("database down")]

    def counts():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    m = PrometheusMetrics(counts)
    s = samples(m)
    assert s[key("cms_chargers_connected", transport="json", ocpp_version="1.6")] == 4
    assert s[key("cms_chargers_connected", transport="soap", ocpp_version="1.5")] == 0
    s = samples(m)
    assert not [k for k in s if k[0] == "cms_chargers_connected"]
    assert s[key("cms_charger_internal_errors_total", transport="json")] == 0  # the rest is there
    assert "cms_group_commit_messages_count" in {k[0] for k in s}
    assert "chargers online could not be read: RuntimeError" in caplog.text
    assert OnlineChargersCollector(counts).describe()[0].name == "cms_chargers_connected"


# ----- commands -----


class _Recorder:
    def __init__(self):
        self.commands = []

    def command_sent(self, action, outcome, seconds):
        self.commands.append((action, outcome))
        assert seconds >= 0


class _Gateway:
    name = "fake"

    def __init__(self, answer):
        self.answer = answer

    def holds(self, identity):
        return identity != "NOBODY"

    def call(self, identity, action, payload, timeout):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    "answer,outcome",
    [
        ({"status": "Accepted"}, "result"),
        (ChargerCallError("NotSupported", "no"), "charger_call_error"),
        (ChargerTimeout("late"), "timeout"),
        (ChargerNotConnected("gone"), "not_connected"),
        (RuntimeError("redis went away"), "error"),
    ],
)
def test_every_command_is_counted_with_its_outcome(answer, outcome):
    rec = _Recorder()
    dispatcher = Dispatcher(db=None, validator=None, metrics=rec)
    dispatcher.add_gateway(_Gateway(answer))
    if isinstance(answer, Exception):
        with pytest.raises(type(answer)):
            dispatcher.route("CP1", "Reset", {"type": "Soft"})
    else:
        assert dispatcher.route("CP1", "Reset", {"type": "Soft"}) == answer
    assert rec.commands == [("Reset", outcome)]


def test_a_charger_nobody_holds_is_not_connected():
    rec = _Recorder()
    dispatcher = Dispatcher(db=None, validator=None, metrics=rec)
    dispatcher.add_gateway(_Gateway({}))
    with pytest.raises(ChargerNotConnected):
        dispatcher.route("NOBODY", "ClearCache", {})
    assert rec.commands == [("ClearCache", "not_connected")]


# ----- SOAP faults -----


class _Fault:
    def __init__(self, faultcode):
        self.faultcode = faultcode


@pytest.mark.parametrize(
    "code,outcome",
    [
        ("Client.SecurityError", "SecurityError"),
        ("Client.SchemaValidationError", "SchemaValidationError"),
        ("soap:Client.ProtocolError", "ProtocolError"),
        ("Client", "Sender"),
        ("Server", "InternalError"),
        ("Server.InternalError", "InternalError"),
        ("senv:Receiver", "InternalError"),
        (None, "InternalError"),
    ],
)
def test_soap_faults_become_outcomes(code, outcome):
    assert fault_outcome(_Fault(code)) == outcome


# ----- access -----


def test_access_by_network_or_token():
    access = MetricsAccess(parse_networks("127.0.0.0/8, ::1, 10.1.0.0/16"), "tok")
    assert access.allows("127.0.0.5", None)
    assert access.allows("::1", None)
    assert access.allows("fe80::1%eth0", "Bearer tok")
    assert access.allows("10.1.2.3", None)
    assert not access.allows("10.2.0.1", None)
    assert not access.allows("10.2.0.1", "Bearer tok2")
    assert access.allows("10.2.0.1", "bearer tok")
    assert not access.allows(None, None)
    assert not access.allows("not-an-address", None)
    assert not MetricsAccess(parse_networks(""), "").allows("127.0.0.1", "Bearer ")


def test_bad_settings_stop_the_start():
    with pytest.raises(ValueError, match="CMS_METRICS_ALLOW: 'localhost'"):
        load_settings(environ={"CMS_METRICS_ALLOW": "localhost"})
    with pytest.raises(ValueError, match="CMS_LOG_FORMAT"):
        load_settings(environ={"CMS_LOG_FORMAT": "xml"})
    s = load_settings(environ={"CMS_LOG_FORMAT": "json", "CMS_METRICS_TOKEN": "t"})
    assert (s.log_format, s.metrics_token, s.metrics_allow) == ("json", "t", "127.0.0.0/8,::1/128")


# ----- the multiprocess directory of `cms serve` -----


def test_a_directory_is_made_for_the_run_and_removed_at_exit():
    env: dict = {}
    path = prepare_multiprocess_dir(env)
    assert env["PROMETHEUS_MULTIPROC_DIR"] == path and os.path.isdir(path)
    remove_multiprocess_dir(env)
    assert not os.path.exists(path)


def test_an_operators_directory_is_emptied_not_removed(tmp_path):
    (tmp_path / "counter_99.db").write_bytes(b"old run")
    (tmp_path / "keep.txt").write_text("not ours")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    assert prepare_multiprocess_dir(env) == str(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]
    (tmp_path / "histogram_7.db").write_bytes(b"this run")
    remove_multiprocess_dir(env)
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]


def test_a_dead_workers_gauges_go_and_its_counters_stay(tmp_path):
    for name in ("counter_41.db", "histogram_41.db", "gauge_liveall_41.db", "gauge_liveall_42.db"):
        (tmp_path / name).write_bytes(b"")
    worker_exited(41, {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert sorted(os.listdir(tmp_path)) == ["counter_41.db", "gauge_liveall_42.db", "histogram_41.db"]


# ----- JSON logs -----


def _record(msg="hello %s", args=("world",), exc_info=None, **extra) -> logging.LogRecord:
    record = logging.LogRecord("cms.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_time_level_logger_message_and_the_charger():
    line = JsonFormatter().format(_record())
    entry = orjson.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "cms.test" and entry["message"] == "hello world"
    assert entry["time"].endswith("Z") and entry["pid"] == os.getpid()
    assert "charger" not in entry and "exception" not in entry and "\n" not in line
    token = bind_charger("CP-7")
    try:
        assert orjson.loads(JsonFormatter().format(_record()))["charger"] == "CP-7"
        assert orjson.loads(JsonFormatter().format(_record(charger="CP-8")))["charger"] == "CP-8"
    finally:
        unbind_charger(token)
    assert "charger" not in orjson.loads(JsonFormatter().format(_record()))


def test_a_json_line_carries_the_exception_text_in_one_line():
    try:
        raise ZeroDivisionError("the server's own fault")
    except ZeroDivisionError:
        import sys

        line = JsonFormatter().format(_record("failed", (), sys.exc_info()))
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["exception"].startswith("Traceback")
    assert "ZeroDivisionError: the server's own fault" in entry["exception"]


def test_a_message_argument_json_cannot_hold_is_written_as_text():
    entry = orjson.loads(JsonFormatter().format(_record("%s", (object,))))
    assert entry["message"] == "<class 'object'>"


@contextlib.contextmanager
def bare_root():
    """The root logger as a fresh process has it: pytest's capture handlers (added around each test's call)
    set aside for the block."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        yield root
    finally:
        root.handlers = saved
        root.setLevel(level)


def test_logging_is_configured_once_whatever_the_number_of_apps():
    first, second = io.StringIO(), io.StringIO()
    with bare_root() as root:
        configure_logging("plain", stream=first)
        configure_logging("json", stream=second)  # a second app in the same process: replaced, not stacked
        assert len(root.handlers) == 1
        logging.getLogger("cms.x").info("one line")
        with pytest.raises(ValueError):
            configure_logging("yaml")
    assert first.getvalue() == ""
    assert orjson.loads(second.getvalue())["message"] == "one line"


def test_a_root_logger_configured_by_someone_else_is_left_alone():
    theirs = logging.StreamHandler(io.StringIO())
    with bare_root() as root:
        root.addHandler(theirs)
        configure_logging("json", stream=io.StringIO())
        assert root.handlers == [theirs]
