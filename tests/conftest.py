"""Fixtures: an app per test with its own database (SQLite, or PostgreSQL when CMS_TEST_DATABASE=postgres),
a live server, owners and chargers created through the same use cases the CLI and dashboard use."""

from __future__ import annotations

import os
import re

import pytest

from tests.support import databases
from tests.support.server import LiveServer

BACKEND = os.environ.get("CMS_TEST_DATABASE", "sqlite")


def pytest_report_header(config):
    return f"CMS test database backend: {BACKEND}"


@pytest.fixture(scope="session")
def _db_template(tmp_path_factory, worker_id):
    if BACKEND == "postgres":
        reason = databases.postgres_available()
        if reason:
            pytest.skip(reason)
        # One database per pytest process: parallel runs (xdist workers, developers) never share one.
        name = f"cms_test_{worker_id}_{os.getpid()}"
        url = databases.create_postgres_database(name)
        yield url
        databases.drop_postgres_database(name)
        return
    yield databases.sqlite_template(str(tmp_path_factory.mktemp("dbtemplate")))


@pytest.fixture
def database_url(_db_template, tmp_path, request):
    if BACKEND == "postgres":
        databases.truncate_all(_db_template)
        return _db_template
    return databases.sqlite_copy(_db_template, str(tmp_path), re.sub(r"\W", "_", request.node.name)[:60])


@pytest.fixture
def app_config(database_url, tmp_path):
    """Override in a test module to change settings."""
    return {
        "database_url": database_url,
        "secret_key": "test-secret",
        "ws_ping_interval": 0,
        "maintenance_interval": 0,
        "heartbeat_batch_seconds": 0,
        "call_timeout": 5.0,
        "data_dir": str(tmp_path / "data"),
        "public_url": "http://127.0.0.1",
    }


@pytest.fixture
def app(app_config):
    from app import create_app

    application = create_app(app_config)
    application.config["TESTING"] = True
    yield application
    application.extensions["cms"].db.dispose()


@pytest.fixture
def rt(app):
    """The app's runtime: db, services, dispatcher."""
    return app.extensions["cms"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    if app.extensions["cms"].settings.public_url == "http://127.0.0.1":
        app.extensions["cms"].settings.public_url = server.url
    yield server
    server.stop()


@pytest.fixture
def owner(rt):
    from cms.accounts import create_user

    with rt.db.uow() as uow:
        user = create_user(uow.session, "owner@example.com", "owner-password", name="Olive Owner", verified=True)
        uow.commit()
    return user


@pytest.fixture
def owner_token(rt, owner):
    from cms.accounts import issue_token

    with rt.db.uow() as uow:
        token = issue_token(uow.session, owner, name="tests")
        uow.commit()
    return token


@pytest.fixture
def add_charger(rt, owner):
    """``add_charger("CP1", password=None, station="Depot")`` registers a charge point for ``owner``."""
    from cms.chargepoints import add_charge_point

    def _add(identity: str, password: str | None = None, station: str | None = "Depot", user=None):
        with rt.db.uow() as uow:
            cp = add_charge_point(uow.session, identity, user or owner, password=password, station_name=station)
            uow.commit()
            return cp

    return _add


@pytest.fixture
def add_tag(rt):
    from cms.idtags import add_id_tag

    def _add(tag: str, **kw):
        with rt.db.uow() as uow:
            row = add_id_tag(uow.session, tag, **kw)
            uow.commit()
            return row

    return _add


@pytest.fixture
def connect(live_server):
    """``connect("CP1")`` opens a real OCPP-J connection (ocpp ChargePoint); closed after the test."""
    from tests.support.charger import ChargerClient

    clients = []

    def _connect(identity: str, **kw) -> ChargerClient:
        c = ChargerClient(live_server.ws_url, identity, **kw)
        clients.append(c)
        return c

    yield _connect
    for c in clients:
        c.close()
