"""The Alembic migrations build exactly the schema the models describe, on the test backend."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cms.models import Base


def test_migrations_match_the_models(rt):
    with rt.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
