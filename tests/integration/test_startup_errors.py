"""Start-up errors: each is one line on stderr, a non-zero exit status and no traceback. Most run the ``cms``
commands in this process (click's runner: an escaping exception would fail the test); a few run the real command
and a gunicorn worker started without ``cms serve``, as an operator would."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cms.cli import gunicorn_command, main
from tests.support.processes import free_port

SERVE = ("serve", "--host", "127.0.0.1", "--port", str(free_port()))


def _env(tmp_path, **cms) -> dict:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CMS_DATA_DIR": str(tmp_path / "data"),
        "CMS_DATABASE_URL": f"sqlite:///{tmp_path}/cms.sqlite3",
    }
    env.update({f"CMS_{k.upper()}": v for k, v in cms.items()})
    return env


class _Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture(autouse=True)
def _no_server(monkeypatch):
    """`cms serve` past its checks would replace this process with gunicorn."""

    def refuse(*args):
        raise AssertionError("the checks passed and the server would start")

    monkeypatch.setattr(os, "execv", refuse)


def _cms(env: dict, *args: str, cwd=None) -> _Result:
    """``cms ARGS`` in this process, with exactly ``env`` as its CMS_* environment."""
    cleared = {k: None for k in os.environ if k.startswith("CMS_")}
    previous = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        out = CliRunner().invoke(main, list(args), env={**cleared, **env}, catch_exceptions=False)
    finally:
        os.chdir(previous)
    return _Result(out.exit_code, out.stdout, out.stderr)


def _real_cms(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cms.cli", *args], env=env, capture_output=True, text=True, timeout=60)


def _one_line_failure(out) -> str:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture
def migrated(tmp_path):
    env = _env(tmp_path)
    assert _cms(env, "db", "upgrade").returncode == 0
    return env


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HEARTBEAT_INTERVAL", "soon", "CMS_HEARTBEAT_INTERVAL must be a whole number, 0 or more, not 'soon'"),
        ("CALL_TIMEOUT", "-3", "CMS_CALL_TIMEOUT must be a number, 0 or more, not '-3'"),
        ("AUTO_REGISTER", "maybe", "CMS_AUTO_REGISTER must be 1/0, true/false, yes/no or on/off, not 'maybe'"),
        ("CURRENCY", "euro", "CMS_CURRENCY must be an ISO 4217 code such as EUR, not 'euro'"),
        (
            "PAYMENT_PROVIDER",
            "no_such_module:Provider",
            "CMS_PAYMENT_PROVIDER='no_such_module:Provider' cannot be used",
        ),
    ],
)
def test_a_bad_setting_names_the_variable_and_the_value(migrated, variable, value, expected):
    line = _one_line_failure(_cms({**migrated, f"CMS_{variable}": value}, *SERVE))
    assert expected in line


def test_the_real_command_prints_one_line_on_stderr(tmp_path):
    """As an operator sees it: a bad value, then an unreachable database, from the installed command."""
    line = _one_line_failure(_real_cms(_env(tmp_path, ws_ping_interval="1m"), *SERVE))
    assert line == "Error: CMS_WS_PING_INTERVAL must be a number, 0 or more, not '1m'"
    env = _env(tmp_path, database_url=f"postgresql://cms@127.0.0.1:{free_port()}/cms")
    line = _one_line_failure(_real_cms(env, *SERVE))
    assert "cannot reach the database postgresql://cms@127.0.0.1" in line


def test_other_commands_refuse_a_bad_setting_too(migrated):
    line = _one_line_failure(
        _cms(
            {**migrated, "CMS_MESSAGE_LOG_LIMIT": "lots"},
            "owner",
            "create",
            "ann@example.com",
            "--password",
            "ann-password",
        )
    )
    assert "CMS_MESSAGE_LOG_LIMIT" in line and "'lots'" in line


def test_an_empty_number_means_the_default(migrated):
    out = _cms(
        {**migrated, "CMS_HEARTBEAT_INTERVAL": ""}, "owner", "create", "ann@example.com", "--password", "ann-password"
    )
    assert out.returncode == 0, out.stderr


def test_no_database_file_says_to_migrate(tmp_path):
    line = _one_line_failure(_cms(_env(tmp_path), *SERVE, cwd=tmp_path))
    assert "no database at" in line and "run `cms db upgrade`" in line
    assert not (tmp_path / "cms.sqlite3").exists()  # the check created nothing


def test_an_empty_database_says_to_migrate(tmp_path):
    sqlite3.connect(tmp_path / "cms.sqlite3").close()
    env = _env(tmp_path)
    for args in (SERVE, ("token", "create", "ann@example.com"), ("outbox",)):
        line = _one_line_failure(_cms(env, *args))
        assert "has no CMS tables yet: run `cms db upgrade`" in line


def test_an_older_database_says_which_revision_and_what_to_run(tmp_path):
    from alembic.script import ScriptDirectory

    from cms.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    env = _env(tmp_path)
    assert _cms(env, "db", "upgrade", "--revision", previous).returncode == 0
    line = _one_line_failure(_cms(env, *SERVE))
    assert f"is at revision {previous}, this CMS needs {head}: run `cms db upgrade`" in line
    assert _cms(env, "db", "upgrade").returncode == 0
    assert _cms(env, "owner", "create", "ann@example.com", "--password", "ann-password").returncode == 0


def test_a_newer_database_is_a_warning_not_a_refusal(migrated, tmp_path):
    """A rolling upgrade: another node's newer release migrated the database; this one keeps working."""
    with sqlite3.connect(tmp_path / "cms.sqlite3") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    out = _cms(migrated, "owner", "create", "ann@example.com", "--password", "ann-password")
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("Warning: ") and "9999_from_the_future, newer than this CMS knows" in out.stderr


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path):
    env = _env(tmp_path, database_url=f"postgresql+psycopg://cms:s3cret@127.0.0.1:{free_port()}/cms")
    for args in (SERVE, ("db", "upgrade"), ("owner", "create", "ann@example.com", "--password", "ann-password")):
        line = _one_line_failure(_cms(env, *args))
        assert "cannot reach the database postgresql+psycopg://cms:***@127.0.0.1" in line
        assert "s3cret" not in line


def test_a_database_url_that_is_not_one(tmp_path):
    line = _one_line_failure(_cms(_env(tmp_path, database_url="localhost:5432/cms"), *SERVE))
    assert "CMS_DATABASE_URL='localhost:5432/cms' is not a database URL" in line


def test_an_unreachable_redis_is_one_line(migrated):
    env = {**migrated, "CMS_REDIS_URL": f"redis://:pw@127.0.0.1:{free_port()}/1"}
    line = _one_line_failure(_cms(env, *SERVE, "--workers", "2"))
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in line and "(CMS_REDIS_URL)" in line


def test_a_redis_url_that_is_not_one(migrated):
    line = _one_line_failure(_cms({**migrated, "CMS_REDIS_URL": "127.0.0.1:6379"}, *SERVE))
    assert "CMS_REDIS_URL=127.0.0.1:6379 is not a Redis URL" in line


def test_the_gunicorn_worker_fails_clearly_too(tmp_path):
    """gunicorn started without `cms serve` (its checks skipped): the worker runs them, says why in one line,
    and gunicorn stops instead of restarting workers that fail with a traceback each."""
    sqlite3.connect(tmp_path / "cms.sqlite3").close()  # exists, not migrated
    out = subprocess.run(
        gunicorn_command("127.0.0.1", free_port(), 1), env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    ours = [line for line in out.stderr.splitlines() if "run `cms db upgrade`" in line]
    assert ours == [f"the database sqlite:///{tmp_path}/cms.sqlite3 has no CMS tables yet: run `cms db upgrade`"]
    assert "App failed to load" in out.stderr
