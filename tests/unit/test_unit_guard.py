"""The guard of tests/unit (its conftest) refuses what would make a unit test slow or dependent on a server."""

from __future__ import annotations

import sqlite3

import flask
import pytest
import sqlalchemy as sa

from tests.unit.conftest import NotAUnitTest


def test_connecting_through_sqlalchemy_fails():
    engine = sa.create_engine("sqlite://")
    with pytest.raises(NotAUnitTest, match="connected to a database"):
        engine.connect()


def test_opening_sqlite_directly_fails():
    with pytest.raises(NotAUnitTest, match="SQLite"):
        sqlite3.connect(":memory:")


def test_building_a_flask_app_fails():
    with pytest.raises(NotAUnitTest, match="Flask app"):
        flask.Flask("not-here")
