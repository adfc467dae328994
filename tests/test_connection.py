"""The sandboxed DuckDB connection holds even when SQL reaches it without the validator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from pydantic import ValidationError

from trusted_env.engine.connection import (
    SandboxLimits,
    open_dataset,
    query_deadline,
    run_query,
)
from trusted_env.errors import (
    CohortQueryFailed,
    NotFoundError,
    QueryTimeout,
    RunFailure,
    SpecError,
)
from trusted_env.spec.plan import Codelist

REAL_VALUE = "REAL_VALUE-VALUE-7731"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("connection") / "dataset.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE patients (patient_id BIGINT NOT NULL, sex VARCHAR)")
        conn.execute(f"INSERT INTO patients VALUES (1, 'female'), (2, 'male'), (3, '{REAL_VALUE}')")
    return path


@pytest.fixture
def conn(dataset: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_dataset(dataset, SandboxLimits(threads=1, memory_limit="512MB"))
    yield connection
    connection.close()


@pytest.fixture
def outside_file(tmp_path: Path) -> Path:
    path = tmp_path / "outside.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    return path


def _refused(conn: duckdb.DuckDBPyConnection, sql: str) -> str:
    """Run raw SQL (no validator) and return DuckDB's refusal."""
    with pytest.raises(duckdb.Error) as refused:
        conn.execute(sql).fetchall()
    return str(refused.value)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO patients VALUES (4, 'male')",
        "UPDATE patients SET sex = 'x'",
        "DELETE FROM patients",
        "DROP TABLE patients",
        "CREATE TABLE copy AS SELECT * FROM patients",
        "ALTER TABLE patients ADD COLUMN leak VARCHAR",
    ],
)
def test_cannot_write_to_the_dataset(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    assert "read-only" in _refused(conn, sql)
    assert conn.execute("SELECT count(*) FROM patients").fetchall() == [(3,)]


@pytest.mark.parametrize(
    "template",
    [
        "SELECT * FROM read_csv('{path}')",
        "SELECT * FROM read_csv_auto('{path}')",
        "SELECT * FROM '{path}'",
        "SELECT * FROM read_text('{path}')",
        "SELECT * FROM read_blob('{path}')",
        "SELECT * FROM glob('{dir}/*')",
        "SELECT * FROM sniff_csv('{path}')",
    ],
)
def test_cannot_read_files(
    conn: duckdb.DuckDBPyConnection, outside_file: Path, template: str
) -> None:
    sql = template.format(path=outside_file, dir=outside_file.parent)
    assert "disabled by configuration" in _refused(conn, sql)


def test_cannot_write_files(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    target = tmp_path / "leak.csv"
    _refused(conn, f"COPY patients TO '{target}'")
    _refused(conn, f"COPY (SELECT * FROM patients) TO '{target}'")
    _refused(conn, f"EXPORT DATABASE '{tmp_path / 'dump'}'")
    assert not target.exists()
    assert not (tmp_path / "dump").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SET enable_external_access = true",
        "SET threads = 8",
        "SET memory_limit = '64GB'",
        "SET lock_configuration = false",
        "SET autoload_known_extensions = true",
        "SET temp_directory = '/tmp'",
        "RESET threads",
        "PRAGMA threads = 8",
    ],
)
def test_configuration_is_locked(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    assert "locked" in _refused(conn, sql)
    assert conn.execute("SELECT current_setting('threads')").fetchall() == [(1,)]


@pytest.mark.parametrize(
    "sql", ["ATTACH '{dir}/other.duckdb' AS other", "ATTACH ':memory:' AS scratch"]
)
def test_cannot_attach(conn: duckdb.DuckDBPyConnection, tmp_path: Path, sql: str) -> None:
    _refused(conn, sql.format(dir=tmp_path))
    assert not (tmp_path / "other.duckdb").exists()


@pytest.mark.parametrize("sql", ["INSTALL httpfs", "LOAD httpfs", "FORCE INSTALL spatial"])
def test_cannot_install_or_load_extensions(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    _refused(conn, sql)


def test_cannot_read_python_variables(conn: duckdb.DuckDBPyConnection) -> None:
    # An ordinary connection would scan this frame by its variable name (replacement scan).
    secret_frame = pl.DataFrame({"value": [REAL_VALUE]})  # noqa: F841
    assert "does not exist" in _refused(conn, "SELECT * FROM secret_frame")


@pytest.mark.parametrize("threads", [1, 3])
def test_limits_are_applied(dataset: Path, threads: int) -> None:
    limits = SandboxLimits(threads=threads, memory_limit="300MB")
    connection = open_dataset(dataset, limits)
    try:
        settings = connection.execute(
            "SELECT current_setting('threads'), current_setting('memory_limit'), "
            "current_setting('enable_external_access'), current_setting('lock_configuration'), "
            "current_setting('access_mode'), current_setting('temp_directory')"
        ).fetchall()[0]
    finally:
        connection.close()
    assert settings[0] == threads
    assert settings[1] == "286.1 MiB"  # DuckDB reports 300MB in MiB
    assert settings[2:] == (False, True, "read_only", "")


@pytest.mark.parametrize("bad", [{"memory_limit": "lots"}, {"threads": 0}, {"timeout_seconds": 0}])
def test_limits_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SandboxLimits.model_validate(bad)


def test_missing_dataset_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        open_dataset(tmp_path / "absent.duckdb", SandboxLimits())


def test_refuses_to_share_an_unsandboxed_instance(dataset: Path) -> None:
    """DuckDB shares one database instance per file within a process; a permissive instance
    that is already open must not be reused by the sandbox."""
    with duckdb.connect(str(dataset)) as permissive:
        permissive.execute("SELECT 1").fetchall()
        with pytest.raises(RunFailure, match="could not be opened"):
            open_dataset(dataset, SandboxLimits())


def test_codelists_become_tables(dataset: Path) -> None:
    codelists = {
        "sex_codes": Codelist(columns=("code", "term"), rows=(("female", "F"), ("male", "M"))),
        "empty_codes": Codelist(columns=("code",), rows=()),
    }
    connection = open_dataset(dataset, SandboxLimits(threads=1), codelists)
    try:
        joined = run_query(
            connection,
            "SELECT p.patient_id, c.term FROM patients p JOIN sex_codes c ON c.code = p.sex "
            "ORDER BY p.patient_id",
            timeout_seconds=30,
        )
        empty = run_query(connection, "SELECT code FROM empty_codes", timeout_seconds=30)
        types = connection.execute("DESCRIBE sex_codes").fetchall()
    finally:
        connection.close()
    assert joined.columns == ("patient_id", "term")
    assert joined.rows == [(1, "F"), (2, "M")]
    assert empty.rows == []
    assert [(row[0], row[1]) for row in types] == [("code", "VARCHAR"), ("term", "VARCHAR")]


def test_ragged_codelist_is_refused(dataset: Path) -> None:
    ragged = {"codes": Codelist(columns=("code", "term"), rows=(("a", "A"), ("b",)))}
    with pytest.raises(SpecError, match="2 fields"):
        open_dataset(dataset, SandboxLimits(), ragged)


def test_codelist_may_not_hide_a_dataset_table(dataset: Path) -> None:
    clash = {"patients": Codelist(columns=("code",), rows=(("x",),))}
    with pytest.raises(SpecError, match="same name as a table"):
        open_dataset(dataset, SandboxLimits(), clash)


def test_slow_query_times_out_and_connection_stays_usable(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # About an hour of streaming work (constant memory, so it cannot fail on the memory limit
    # first) without the deadline; the bound below has a 60x margin over the 0.5 s limit.
    slow = "SELECT count(*) FROM range(1000000000000) WHERE range % 7 = 8"
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as stopped:
        run_query(conn, slow, timeout_seconds=0.5)
    assert time.monotonic() - started < 30
    assert "time limit" in stopped.value.message
    assert stopped.value.category == "timeout"
    assert run_query(conn, "SELECT 42 AS answer", timeout_seconds=30).rows == [(42,)]


def test_deadline_does_not_leak_into_the_next_query(conn: duckdb.DuckDBPyConnection) -> None:
    for _ in range(20):
        with query_deadline(conn, 0.001):
            time.sleep(0.002)  # the timer fires after the block's work is done
        assert run_query(conn, "SELECT 1 AS one", timeout_seconds=30).rows == [(1,)]


def test_database_error_text_stays_in_details(conn: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(CohortQueryFailed) as failed:
        run_query(conn, "SELECT CAST(sex AS INTEGER) AS n FROM patients", timeout_seconds=30)
    assert REAL_VALUE not in str(failed.value)
    assert failed.value.details is not None
    assert "Conversion" in failed.value.details
    assert failed.value.category == "invalid_plan"


def test_memory_limit_is_enforced(dataset: Path) -> None:
    connection = open_dataset(dataset, SandboxLimits(threads=1, memory_limit="64MB"))
    try:
        with pytest.raises(CohortQueryFailed, match="memory limit"):
            run_query(
                connection,
                "SELECT list(range) AS l FROM range(100000000)",
                timeout_seconds=60,
            )
    finally:
        connection.close()


def test_run_query_binds_parameters(conn: duckdb.DuckDBPyConnection) -> None:
    result = run_query(conn, "SELECT patient_id FROM patients WHERE sex = ?", 30, ["male"])
    assert result.rows == [(2,)]
