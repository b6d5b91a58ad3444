"""Reading ``/metrics`` in tests: samples parsed with prometheus_client's own parser, and what moved between two
scrapes."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset]


def key(name: str, **labels: str) -> Key:
    return name, frozenset(labels.items())


def parse(text: str) -> dict[Key, float]:
    """Every sample of an exposition: ``{(sample name, frozenset of labels): value}``."""
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def moved(before: dict[Key, float], after: dict[Key, float], prefix: str) -> dict[Key, float]:
    """The samples named ``prefix...`` whose value changed, and by how much (new series count from 0)."""
    out = {}
    for k, value in after.items():
        if k[0].startswith(prefix) and value != before.get(k, 0.0):
            out[k] = value - before.get(k, 0.0)
    return out


def total(samples: dict[Key, float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


@contextlib.contextmanager
def table_missing(database_url: str, table: str):
    """The database fails every statement on ``table`` (renamed away) until the block ends: a real failure of
    the server's own, for InternalError paths."""
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as c:
        c.execute(sa.text(f'ALTER TABLE "{table}" RENAME TO "{table}_away"'))
    try:
        yield
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f'ALTER TABLE "{table}_away" RENAME TO "{table}"'))
        engine.dispose()
