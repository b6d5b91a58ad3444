"""The database pool gauges of the Prometheus metrics, on a real SQLAlchemy pool."""

from __future__ import annotations

import sqlalchemy as sa

from cms.prometheus import PrometheusMetrics
from tests.support.scrape import key, parse


def samples(metrics: PrometheusMetrics) -> dict:
    body, _ = metrics.exposition()
    return parse(body.decode())


def test_pool_gauges_follow_connections_in_and_out(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/pool.db")
    m = PrometheusMetrics()
    m.watch_pool(engine)
    assert samples(m)[key("cms_db_pool_size_connections")] == engine.pool.size()
    with engine.connect():
        with engine.connect():
            assert samples(m)[key("cms_db_pool_checked_out_connections")] == 2
        assert samples(m)[key("cms_db_pool_checked_out_connections")] == 1
    assert samples(m)[key("cms_db_pool_checked_out_connections")] == 0
    engine.dispose()
