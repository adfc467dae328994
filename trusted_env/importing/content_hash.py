"""A hash of a dataset's content: its tables, their columns and types, and every row in order.

Two builds of the same extract give the same hash even though the DuckDB files differ byte for
byte. Rows are hashed in blocks inside DuckDB, so memory stays bounded on large tables.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb

from trusted_env.importing.sqlgen import q

_BLOCK = 65536


def dataset_content_hash(conn: Any) -> str:
    digest = hashlib.sha256()
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND NOT temporary ORDER BY table_name"
        ).fetchall()
    ]
    for table in tables:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = 'main' "
            "AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        rows = conn.execute(
            f"SELECT COALESCE(sum(n), 0), md5(COALESCE(string_agg(h, '' ORDER BY b), '')) FROM ("  # noqa: S608
            f"SELECT rowid // {_BLOCK} AS b, count(*) AS n, md5(string_agg(md5(CAST(to_json(_row) "
            f"AS VARCHAR)), '' ORDER BY rowid)) AS h FROM main.{q(table)} AS _row GROUP BY b)"
        ).fetchone()
        digest.update(repr((table, columns, rows)).encode("utf-8"))
    return digest.hexdigest()


def dataset_file_content_hash(path: Path) -> str:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return dataset_content_hash(conn)
    finally:
        conn.close()
