"""Engine, sessions and migrations of the control-plane database.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on, and every
transaction starts with `BEGIN IMMEDIATE`: SQLite then serialises writers up front instead of
failing a read transaction that later tries to write, which is what makes the ledger's
check-then-charge atomic across threads and processes. PostgreSQL runs at READ COMMITTED and the
services take row locks (`SELECT ... FOR NO KEY UPDATE`) where a decision depends on a read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from trusted_env.errors import UserError
from trusted_env.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works: it only has to be the same in every process migrating one database.
MIGRATION_LOCK_KEY = 7_363_011


def normalise_url(url: str) -> URL:
    """Parse a database URL; plain `postgresql://` URLs use the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except Exception:
        raise UserError(
            f"The database URL '{url}' is not valid.",
            hint="Use sqlite:///path/to/file.db or postgresql://user@host:5432/name "
            "(TRE_DATABASE_URL).",
        ) from None
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise UserError(
            f"Database '{parsed.get_backend_name()}' is not supported.",
            hint="Use SQLite (the default) or PostgreSQL.",
        )
    return parsed


def _configure_sqlite(engine: Engine, busy_timeout_seconds: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions itself: we emit BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_seconds * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, busy_timeout_seconds: float = 30.0) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"timeout": busy_timeout_seconds, "check_same_thread": False},
        )
        _configure_sqlite(engine, busy_timeout_seconds)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the latest migration; safe when several processes start at once."""
    # Imported here: Alembic is only needed when migrating, and it is slow to import.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    """The control-plane database: one per process, shared by its threads."""

    def __init__(self, url: str, *, busy_timeout_seconds: float = 30.0, migrate: bool = True):
        self.engine = make_engine(url, busy_timeout_seconds=busy_timeout_seconds)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            upgrade(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.effective_database_url(),
            busy_timeout_seconds=settings.sqlite_busy_timeout_seconds,
        )

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
