"""Refuse a dataset that does not match the schema it claims to follow.

Structure (tables, columns, their order and types) comes from DuckDB's catalogue. Two checks
need the data itself: NOT NULL for columns the schema declares non-nullable (skipped when DuckDB
already enforces a NOT NULL constraint) and values outside a column's public domain. Both are
answered by one scan per table that returns only yes/no per column, and the error names the
column, never a value or a count.

The data checks scan every table, which costs seconds on a large dataset: they run when a
dataset is registered (the default), while the runner, which re-checks the same file before each
run, asks for the structure only (`data=False`).
"""

from __future__ import annotations

import duckdb

from trusted_env.engine.connection import query_deadline
from trusted_env.errors import SchemaDriftError
from trusted_env.schema import DatasetSchema, Table

_CATALOGUE = """
SELECT c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type, c.is_nullable
FROM information_schema.columns AS c
JOIN information_schema.tables AS t
  ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema
 AND t.table_name = c.table_name
WHERE c.table_catalog = current_database()
ORDER BY c.table_schema, c.table_name, c.ordinal_position
"""
_DEFAULT_TIMEOUT = 3600.0


class _Found:
    """What the dataset file declares, keyed by table name (schema-qualified if not main)."""

    def __init__(self, rows: list[tuple[str, str, str, str, str, str]]) -> None:
        self.kinds: dict[str, str] = {}
        self.columns: dict[str, list[tuple[str, str, bool]]] = {}
        for table_schema, table, kind, column, data_type, is_nullable in rows:
            name = table if table_schema == "main" else f"{table_schema}.{table}"
            self.kinds[name] = kind
            self.columns.setdefault(name, []).append((column, data_type, is_nullable == "YES"))


def check_dataset_matches_schema(
    conn: duckdb.DuckDBPyConnection,
    schema: DatasetSchema,
    *,
    timeout_seconds: float = _DEFAULT_TIMEOUT,
    data: bool = True,
) -> None:
    """Raise SchemaDriftError naming every difference between the dataset and `schema`.

    `data=False` checks the catalogue only (tables, columns, types, order), without scanning.
    """
    with query_deadline(conn, timeout_seconds):
        found = _Found(conn.execute(_CATALOGUE).fetchall())
    problems = _structure_problems(found, schema)
    if data and not problems:
        with query_deadline(conn, timeout_seconds):
            for name, table in schema.tables.items():
                problems += _data_problems(conn, name, table, found)
    if problems:
        raise SchemaDriftError(
            f"The dataset does not match schema '{schema.name}' (version {schema.version}): "
            + "; ".join(problems)
            + ".",
            hint="Rebuild the dataset so it matches the schema (`tre schema` shows it), or "
            "update the schema file and recompile the jobs that use it.",
        )


def _structure_problems(found: _Found, schema: DatasetSchema) -> list[str]:
    problems = [
        f"table '{name}' is missing (add it with columns {', '.join(table.columns)})"
        for name, table in schema.tables.items()
        if name not in found.columns
    ]
    problems += [
        f"table '{name}' is not in the schema (remove it from the dataset)"
        for name in found.columns
        if name not in schema.tables
    ]
    for name, table in schema.tables.items():
        if name in found.columns:
            problems += _table_problems(name, table, found)
    return problems


def _table_problems(name: str, table: Table, found: _Found) -> list[str]:
    if found.kinds[name] != "BASE TABLE":
        return [f"'{name}' is a {found.kinds[name].lower()}, not a stored table (materialise it)"]
    actual = {column: data_type for column, data_type, _ in found.columns[name]}
    problems = [
        f"column '{name}.{column}' is missing (add it as {spec.type.duckdb_type})"
        for column, spec in table.columns.items()
        if column not in actual
    ]
    problems += [
        f"column '{name}.{column}' is not in the schema (drop it)"
        for column in actual
        if column not in table.columns
    ]
    for column, spec in table.columns.items():
        expected, got = spec.type.duckdb_type, actual.get(column)
        if got is not None and got != expected:
            problems.append(
                f"column '{name}.{column}' has type {_base_type(got)}, expected {expected} "
                f"(cast it to {expected})"
            )
    if not problems and list(actual) != list(table.columns):
        problems.append(
            f"the columns of '{name}' are in the order ({', '.join(actual)}), expected "
            f"({', '.join(table.columns)}) (reorder them)"
        )
    return problems


def _base_type(data_type: str) -> str:
    """The type's name without parameters: ENUM('a', 'b') would otherwise quote stored values."""
    return data_type.split("(", 1)[0].strip()


def _data_problems(
    conn: duckdb.DuckDBPyConnection, name: str, table: Table, found: _Found
) -> list[str]:
    constrained = {column for column, _, nullable in found.columns[name] if not nullable}
    checks: list[tuple[str, str]] = []
    parameters: list[list[str]] = []
    for column, spec in table.columns.items():
        quoted = _quote(column)
        if not spec.nullable and column not in constrained:
            checks.append(
                (
                    f"bool_or({quoted} IS NULL)",
                    f"column '{name}.{column}' has nulls but the schema says it is not nullable",
                )
            )
        if spec.domain is not None:
            parameters.append(list(spec.domain))
            checks.append(
                (
                    f"bool_or(NOT list_contains(${len(parameters)}::VARCHAR[], {quoted}))",
                    f"column '{name}.{column}' has values outside its declared domain "
                    "(map them to the domain or extend the schema)",
                )
            )
    if not checks:
        return []
    sql = f"SELECT {', '.join(check for check, _ in checks)} FROM {_quote(name)}"  # noqa: S608
    flags = conn.execute(sql, parameters).fetchall()[0]
    # bool_or over no rows is NULL: an empty table has neither nulls nor stray values.
    return [message for (_, message), flag in zip(checks, flags, strict=True) if flag is True]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
