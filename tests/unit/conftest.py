"""The unit layer: rules tested alone, with fakes where they need collaborators. No app, no database.

A test here that asks for the app or a database (directly or through another fixture), connects through
SQLAlchemy, opens SQLite or PostgreSQL itself, or builds a Flask app fails: it belongs in tests/service/ (the
core's use cases on a real database) or tests/integration/. This is what keeps `make test-unit` in seconds.
"""

from __future__ import annotations

import sqlite3

import flask
import pytest
import sqlalchemy.engine

# The root conftest's fixtures that create a database or an app; every fixture built on them depends on these.
FORBIDDEN_FIXTURES = frozenset({"_db_template", "database_url", "app_config", "app"})


class NotAUnitTest(AssertionError):
    """Raised when a test under tests/unit reaches for a database or an app."""


def pytest_runtest_setup(item: pytest.Item) -> None:
    used = sorted(FORBIDDEN_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if used:
        pytest.fail(
            f"{item.nodeid} uses {', '.join(used)}: a unit test needs no app and no database "
            "(move it to tests/service/ or tests/integration/)",
            pytrace=False,
        )


def _forbidden(what: str):
    def refuse(*_args, **_kwargs):
        raise NotAUnitTest(f"a unit test {what}: move it to tests/service/ or tests/integration/")

    return refuse


@pytest.fixture(autouse=True)
def _no_database_and_no_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlalchemy.engine.Engine, "raw_connection", _forbidden("connected to a database"))
    monkeypatch.setattr(sqlite3, "connect", _forbidden("opened an SQLite database"))
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a runtime dependency
        pass
    else:
        monkeypatch.setattr(psycopg, "connect", _forbidden("connected to PostgreSQL"))
        monkeypatch.setattr(psycopg.Connection, "connect", _forbidden("connected to PostgreSQL"))
    monkeypatch.setattr(flask.Flask, "__init__", _forbidden("built a Flask app"))
