"""The database layer: migrations match the models, SQLite is configured for concurrency."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from trusted_env.control import Database
from trusted_env.control.db import normalise_url
from trusted_env.control.tables import Base
from trusted_env.errors import UserError
from trusted_env.settings import Settings


def test_migrations_create_exactly_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_reopening_a_migrated_database_keeps_its_rows(db_url: str) -> None:
    first = Database(db_url)
    with first.transaction() as session:
        session.execute(text("UPDATE audit_head SET seq = seq"))
        version = session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    first.dispose()
    second = Database(db_url)
    with second.transaction() as session:
        assert (
            session.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == version
        )
    second.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}", busy_timeout_seconds=12)
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 12_000
    db.dispose()


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state")
    db = Database.from_settings(settings)
    assert db.backend == "sqlite"
    assert (tmp_path / "state" / "control.db").is_file()
    db.dispose()


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    assert normalise_url("postgresql://u@h:5432/d").drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["mysql://u@h/d", "not a url"])
def test_unsupported_database_urls_are_refused(url: str) -> None:
    with pytest.raises(UserError):
        normalise_url(url)
