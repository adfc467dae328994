"""Write frames into a DuckDB file whose tables match the schema exactly, atomically."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl

from trusted_env.schema.model import DatasetSchema, Table


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def create_tables(connection: duckdb.DuckDBPyConnection, schema: DatasetSchema) -> None:
    """Empty tables with the schema's DuckDB types; NOT NULL where the schema forbids nulls."""
    for name, table in schema.tables.items():
        columns = ", ".join(
            f"{quote(col)} {spec.type.duckdb_type}{'' if spec.nullable else ' NOT NULL'}"
            for col, spec in table.columns.items()
        )
        connection.execute(f"CREATE TABLE {quote(name)} ({columns})")


def insert_frame(
    connection: duckdb.DuckDBPyConnection, name: str, table: Table, frame: pl.DataFrame
) -> None:
    # insert_into matches by position: put the frame in the schema's column order first.
    connection.register("__dummy_frame", frame.select(list(table.columns)))
    try:
        connection.table("__dummy_frame").insert_into(quote(name))
    finally:
        connection.unregister("__dummy_frame")


class BackgroundWriter:
    """Inserts one frame into DuckDB while the caller builds the next one.

    DuckDB works outside the GIL, so writing a table overlaps with generating the next; at
    most one insert is pending (two tables in memory), and the connection is only ever used
    by one thread at a time.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dummy-writer")
        self._pending: Future[None] | None = None

    def write(self, name: str, table: Table, frame: pl.DataFrame) -> None:
        self.wait()
        self._pending = self._pool.submit(insert_frame, self._connection, name, table, frame)

    def wait(self) -> None:
        """Block until the pending insert is done; re-raise its error if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True)


@contextlib.contextmanager
def atomic_duckdb(out_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a temporary file that replaces `out_path` only if the block succeeds.

    A crash or an error leaves `out_path` as it was (or absent), never half written.
    """
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        connection = duckdb.connect(str(temporary))
        try:
            yield connection
            connection.execute("CHECKPOINT")
        finally:
            connection.close()
        # A stale write-ahead log beside the target would be replayed into the new file.
        Path(f"{out_path}.wal").unlink(missing_ok=True)
        os.replace(temporary, out_path)
    finally:
        temporary.unlink(missing_ok=True)
        Path(f"{temporary}.wal").unlink(missing_ok=True)
