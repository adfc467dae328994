"""Control-plane fixtures: every test runs against SQLite and against a real PostgreSQL.

PostgreSQL tests use one database per test session (`tre_test_<random>`, dropped at the end)
and one schema per test inside it, so that test runs and tests never see each other's rows.
When no server is reachable they are skipped, unless TRE_REQUIRE_POSTGRES=1 (CI), which turns
the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from control_fixtures import People, register, write_dataset, write_job
from psycopg import sql

from trusted_env.control import Database
from trusted_env.spec.job_folder import compile_job
from trusted_env.spec.plan import Plan

POSTGRES_URL = os.environ.get("TRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def _admin_connection(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database for this test session; its URL (without driver)."""
    try:
        admin = _admin_connection(POSTGRES_URL)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}".strip()
        if os.environ.get("TRE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (TRE_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    name = f"tre_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with _admin_connection(POSTGRES_URL) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'control.db'}"
        return
    database = request.getfixturevalue("postgres_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _admin_connection(database) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield f"{database}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with _admin_connection(database) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def dataset_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data") / "primary_care.duckdb")


@pytest.fixture(scope="session")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """The canonical plan of a small job (epsilon 1) against the primary_care schema."""
    return compile_job(write_job(tmp_path_factory.mktemp("job") / "sex_counts"))


@pytest.fixture
def people(db: Database) -> People:
    return People(db)


@pytest.fixture
def gp(db: Database, dataset_file: Path) -> str:
    """A registered dataset `gp` (epsilon budget 3) over the test DuckDB file."""
    register(db, dataset_file)
    return "gp"
