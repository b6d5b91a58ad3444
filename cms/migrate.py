"""Schema migrations (Alembic) run from code: ``cms db upgrade``, the tests and ``make run``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from .db import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``."""
    make_engine(url).dispose()  # creates the SQLite directory if needed
    command.upgrade(alembic_config(url), revision)


def revision(url: str, message: str) -> None:
    """Autogenerate a migration from the models (developers: ``python -m cms.migrate "message"``)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


if __name__ == "__main__":  # pragma: no cover
    import sys

    from .config import load_settings

    revision(load_settings().database_url, " ".join(sys.argv[1:]) or "change")
