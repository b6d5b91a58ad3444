"""The database cuts the API's pooled connections (a restart, a failover, pg_terminate_backend): the request that
meets a dead connection gets a 503 JSON error telling the client to retry, never a 500, and the retry is served."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool


def test_a_request_on_a_cut_connection_gets_503_and_its_retry_is_served(rt, client, owner_token):
    if rt.db.engine.dialect.name != "postgresql":
        pytest.skip("connections cut by the server: PostgreSQL")
    h = {"Authorization": f"Bearer {owner_token}"}
    assert client.get("/api/v1/stations", headers=h).status_code == 200  # the pool holds a live connection
    killer = sa.create_engine(rt.db.engine.url, poolclass=NullPool)
    try:
        with killer.connect() as c:
            cut = c.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
    finally:
        killer.dispose()
    assert cut >= 1
    r = client.get("/api/v1/stations", headers=h)
    assert r.status_code == 503, r.get_data(as_text=True)
    assert r.get_json()["error"] == "database_unavailable" and r.headers["Retry-After"] == "1"
    assert client.get("/api/v1/stations", headers=h).status_code == 200
