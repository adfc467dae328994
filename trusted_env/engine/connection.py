"""The sandboxed DuckDB connection: the only way the engine opens a dataset.

The connection is opened read-only with external access disabled (no files, URLs, ATTACH,
COPY or extension installs), extension auto-install/auto-load off, no community or unsigned
extensions, no persistent secrets, no spilling to disk unless a scratch directory is given,
memory and thread limits, and the configuration locked from the moment it opens, so no SQL can
loosen any of it. This holds even if the SQL validator were bypassed.

Codelists become TEMP tables, created through bound list parameters right after opening.
Why TEMP tables: DuckDB's temporary catalogue stays writable on a read-only database and needs
neither external access nor a settings change, so they can be created after the configuration
is locked; the rows are copied into DuckDB as VARCHAR, so no Python object has to stay alive and
no replacement scan of Python variables is involved (registered Arrow tables would need both).

Errors raised while a query runs never carry DuckDB's text in their message (it can quote values
from the data): the message is a category and the raw text goes to `details`, for stewards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from trusted_env.errors import (
    CohortQueryFailed,
    NotFoundError,
    QueryTimeout,
    RunFailure,
    SpecError,
)
from trusted_env.spec.plan import Codelist

_STEWARD_HINT = "The data steward can see the database's own error message."


class SandboxLimits(BaseModel):
    """Resource limits for one dataset connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_limit: str = Field(
        default="2GB",
        pattern=r"^[1-9][0-9]*(\.[0-9]+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB memory limit, e.g. '2GB'.",
    )
    threads: int = Field(default=2, ge=1, le=256)
    timeout_seconds: float = Field(default=600.0, gt=0, le=86_400)
    temp_directory: Path | None = Field(
        default=None,
        description="Scratch directory DuckDB may spill to; None disables spilling to disk.",
    )


def _config(limits: SandboxLimits) -> dict[str, Any]:
    return {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "allow_persistent_secrets": False,
        "python_enable_replacements": False,
        "memory_limit": limits.memory_limit,
        "threads": limits.threads,
        "temp_directory": str(limits.temp_directory) if limits.temp_directory else "",
        "lock_configuration": True,
    }


def open_dataset(
    path: Path | str,
    limits: SandboxLimits,
    codelists: Mapping[str, Codelist] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open a dataset file read-only in the sandbox, with the job's codelists as tables."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"Dataset file {path} does not exist.")
    try:
        conn = duckdb.connect(str(path), read_only=True, config=_config(limits))
    except duckdb.Error as exc:
        raise RunFailure(
            "The dataset could not be opened.", details=f"{type(exc).__name__}: {exc}"
        ) from None
    try:
        _verify_sandbox(conn)
        for name, codelist in sorted((codelists or {}).items()):
            _load_codelist(conn, name, codelist)
    except BaseException:
        conn.close()
        raise
    return conn


def _verify_sandbox(conn: duckdb.DuckDBPyConnection) -> None:
    """Read the settings back: if DuckDB ever ignored one, refuse to go on."""
    # fetchall(), not fetchone(): DuckDB 2.0 refuses the next query while a result is unfinished.
    row = conn.execute(
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'),"
        " current_setting('access_mode')"
    ).fetchall()[0]
    if row[0] is not False or row[1] is not True or str(row[2]) != "read_only":
        raise RuntimeError(f"DuckDB did not apply the sandbox settings (got {row}); this is a bug.")


def _load_codelist(conn: duckdb.DuckDBPyConnection, name: str, codelist: Codelist) -> None:
    (taken,) = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE lower(table_name) = lower($1)",
        [name],
    ).fetchall()[0]
    if taken > 0:
        raise SpecError(
            f"Codelist '{name}' has the same name as a table in the dataset.",
            hint="Rename the codelist in job.yaml.",
        )
    width = len(codelist.columns)
    if any(len(row) != width for row in codelist.rows):
        raise SpecError(f"Codelist '{name}' has rows that do not have {width} fields.")
    # One bound list per column; unnest() zips them back into rows in one statement.
    columns = ", ".join(
        f"unnest(${i + 1}::VARCHAR[]) AS {_quote(column)}"
        for i, column in enumerate(codelist.columns)
    )
    values = [[row[i] for row in codelist.rows] for i in range(width)]
    conn.execute(f"CREATE TEMP TABLE {_quote(name)} AS SELECT {columns}", values)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@contextmanager
def query_deadline(conn: duckdb.DuckDBPyConnection, timeout_seconds: float) -> Iterator[None]:
    """Interrupt whatever `conn` runs inside the block once `timeout_seconds` have passed.

    DuckDB errors raised inside the block become `QueryTimeout` or `CohortQueryFailed` with a
    data-free message; fetch results inside the block, since DuckDB executes lazily.
    """
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        conn.interrupt()

    timer = threading.Timer(timeout_seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.Error as exc:
        raise _run_failure(exc, fired.is_set(), timeout_seconds) from None
    finally:
        timer.cancel()
        # Wait for a timer that already fired, so it cannot interrupt the next query.
        timer.join()


def _run_failure(exc: duckdb.Error, timed_out: bool, timeout_seconds: float) -> RunFailure:
    details = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, duckdb.InterruptException) and timed_out:
        return QueryTimeout(
            f"The query was stopped after the time limit of {timeout_seconds:g} seconds.",
            details=details,
            hint="Simplify the cohort (filter early, join less) or ask the steward for more time.",
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        return CohortQueryFailed(
            "The query ran out of its memory limit.",
            details=details,
            hint="Filter rows earlier or aggregate in a CTE before joining.",
        )
    return CohortQueryFailed(
        "The cohort query failed while running on the dataset.", details=details, hint=_STEWARD_HINT
    )


@dataclass(frozen=True)
class QueryResult:
    """A small query result: column names and rows of Python values."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def run_query(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    timeout_seconds: float,
    parameters: Sequence[object] | None = None,
) -> QueryResult:
    """Run one query under a deadline and fetch its (small) result.

    Plain rows rather than a polars frame: polars cannot import some DuckDB types (INTERVAL
    panics), and results that reach Python are meant to be small aggregates anyway.
    """
    with query_deadline(conn, timeout_seconds):
        cursor = conn.execute(sql, list(parameters) if parameters is not None else None)
        rows = cursor.fetchall()
        columns = tuple(str(column[0]) for column in cursor.description or ())
    return QueryResult(columns=columns, rows=rows)
