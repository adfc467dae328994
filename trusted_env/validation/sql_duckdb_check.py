"""Second opinion on cohort SQL from DuckDB's own parser.

sqlglot decides what a query means for the sandbox, but DuckDB is what runs it. Where the two
parsers could read the same text differently (comments, string escapes, dialect corners), a query
might look harmless to one and not to the other. So DuckDB parses the text too (without binding
or running anything, on a fresh in-memory connection with external access disabled) and its
syntax tree must pass the same kind of allow-list: exactly one SELECT, only plain table references
to the dataset's tables, codelists and CTEs, and only allowed functions and types.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import duckdb

from trusted_env.errors import SqlRejected

# DuckDB's names for what the sqlglot allow-list permits, operators included.
DUCKDB_FUNCTIONS = frozenset({
    "+", "-", "*", "/", "//", "%", "**", "^", "||", "~~", "!~~", "~~*", "!~~*", "like_escape",
    "not_like_escape", "ilike_escape", "not_ilike_escape",
    "abs", "round", "floor", "ceil", "ceiling", "trunc", "sign", "sqrt", "ln", "log", "log10",
    "log2", "exp", "pow", "power", "mod", "isnan", "isfinite", "isinf",
    "count", "count_star", "count_if", "countif", "sum", "avg", "mean", "min", "max", "arg_max",
    "arg_min", "argmax", "argmin", "max_by", "min_by", "bool_or", "bool_and", "any_value",
    "median", "quantile", "quantile_cont", "quantile_disc", "stddev", "stddev_samp",
    "stddev_pop", "variance", "var_samp", "var_pop",
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    "date_diff", "datediff", "date_sub", "datesub", "date_trunc", "datetrunc", "date_part",
    "datepart", "date_add", "make_date", "year", "quarter", "month", "week", "weekofyear", "day",
    "dayofmonth", "dayofweek", "isodow", "dayofyear", "last_day", "to_years", "to_months",
    "to_weeks", "to_days", "strftime", "strptime", "monthname", "dayname", "age",
    "upper", "lower", "ucase", "lcase", "substr", "substring", "left", "right", "starts_with",
    "prefix", "ends_with", "suffix", "contains", "length", "len", "strlen", "trim", "ltrim",
    "rtrim", "concat", "concat_ws", "replace", "reverse", "split_part", "strpos", "instr",
    "position", "lpad", "rpad", "regexp_matches", "regexp_full_match", "regexp_extract",
    "regexp_replace", "nullif", "ifnull", "if", "greatest", "least", "row",
})  # fmt: skip

DUCKDB_TYPES = frozenset({
    "BOOLEAN", "BOOL", "TINYINT", "SMALLINT", "INTEGER", "INT", "INT1", "INT2", "INT4", "INT8",
    "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "FLOAT4",
    "FLOAT8", "REAL", "DOUBLE", "DECIMAL", "NUMERIC", "VARCHAR", "TEXT", "STRING", "CHAR",
    "BPCHAR", "DATE", "TIMESTAMP", "INTERVAL",
})  # fmt: skip

_EXPRESSION_CLASSES = frozenset({
    "BETWEEN", "CASE", "CAST", "COLUMN_REF", "COMPARISON", "CONJUNCTION", "CONSTANT", "FUNCTION",
    "OPERATOR", "STAR", "SUBQUERY", "TYPE", "WINDOW",
})  # fmt: skip
_TABLE_REFS = frozenset({"BASE_TABLE", "JOIN", "SUBQUERY", "EXPRESSION_LIST", "EMPTY"})
_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE"})
_JOIN_REFS = frozenset({"REGULAR", "CROSS"})
_DISAGREE = (
    "DuckDB's parser reads the cohort SQL differently from the sandbox's checker: it sees {what}."
)
_HINT = "Simplify the SQL (plain comments, plain quoted strings) so both parsers agree."


class _Parser:
    """One in-memory DuckDB per process that only ever parses: never bound to data.

    Opening a DuckDB database costs ~15 ms, ten times the parse itself, and every run and
    every submission parses its cohort SQL. The database holds nothing (external access off,
    configuration locked) and `json_serialize_sql` neither binds nor runs the query, so reusing
    it carries nothing from one parse to the next. Each parse takes its own cursor, under a
    lock, and a forked child opens its own database rather than share its parent's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._database: duckdb.DuckDBPyConnection | None = None
        self._pid = 0

    def serialize(self, sql: str) -> str:
        with self._lock:
            if self._database is None or self._pid != os.getpid():
                self._database = duckdb.connect(":memory:", config={
                    "enable_external_access": False,
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                    "lock_configuration": True,
                })
                self._pid = os.getpid()
            with self._database.cursor() as cursor:
                row = cursor.execute("SELECT json_serialize_sql($1::VARCHAR)", [sql]).fetchone()
        if row is None:
            raise RuntimeError("json_serialize_sql returned no row")
        return str(row[0])


_PARSER = _Parser()


def duckdb_syntax_tree(sql: str) -> dict[str, Any]:
    """DuckDB's parse of `sql` as JSON; nothing is bound or executed."""
    tree: dict[str, Any] = json.loads(_PARSER.serialize(sql))
    return tree


def check_with_duckdb_parser(sql: str, table_names: frozenset[str]) -> None:
    """Refuse unless DuckDB parses `sql` as one SELECT over `table_names` with allowed parts."""
    try:
        tree = duckdb_syntax_tree(sql)
    except RecursionError:
        raise SqlRejected("The cohort SQL is nested too deeply to check.") from None
    if tree.get("error"):
        raise SqlRejected(
            f"DuckDB does not accept the cohort SQL as a single SELECT: "
            f"{tree.get('error_message', 'unknown error')}.",
            hint="Write the cohort as one SELECT query that DuckDB can parse.",
        )
    statements = tree.get("statements", [])
    if len(statements) != 1:
        raise SqlRejected(_DISAGREE.format(what=f"{len(statements)} statements"), hint=_HINT)
    ctes = {str(name).lower() for name in _cte_names(statements)}
    for node in _dict_nodes(statements):
        problem = _problem(node, table_names | ctes)
        if problem is not None:
            raise SqlRejected(_DISAGREE.format(what=problem), hint=_HINT)


def _dict_nodes(root: Any) -> Iterator[dict[str, Any]]:
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _cte_names(statements: Any) -> Iterator[str]:
    for node in _dict_nodes(statements):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map", []):
                yield entry["key"]


def _problem(node: dict[str, Any], tables: frozenset[str]) -> str | None:
    """What is wrong with one node of DuckDB's tree, or None."""
    if "class" in node:
        return _expression_problem(node)
    if "modifiers" in node:  # every query node carries result modifiers
        if node.get("type") not in _QUERY_NODES:
            return f"a {node.get('type')} query"
        return "a sample clause" if node.get("sample") is not None else None
    if "sample" in node:  # every table reference carries a sample clause
        return _table_problem(node, tables)
    return None


def _expression_problem(node: dict[str, Any]) -> str | None:
    kind = node["class"]
    if kind not in _EXPRESSION_CLASSES:
        return f"a {kind} expression"
    if kind in ("FUNCTION", "WINDOW"):
        name = str(node.get("function_name", "")).lower()
        if node.get("schema") or node.get("catalog") or name not in DUCKDB_FUNCTIONS:
            return f"a call to function '{name}'"
    if kind == "TYPE":
        type_name = str(node.get("type_name", "")).upper()
        if node.get("schema") or node.get("catalog") or type_name not in DUCKDB_TYPES:
            return f"type '{type_name}'"
    # A bare COLUMNS(*) is just * (DuckDB writes ORDER BY ALL so); a pattern or lambda is not.
    if kind == "STAR" and node.get("expr") is not None:
        return "a COLUMNS(...) expression"
    if kind == "COLUMN_REF" and len(node.get("column_names", [])) > 2:
        return f"the reference {'.'.join(node['column_names'])}"
    return None


def _table_problem(node: dict[str, Any], tables: frozenset[str]) -> str | None:
    ref = node.get("type")
    if ref not in _TABLE_REFS:
        return f"a {ref} table reference"
    if node.get("sample") is not None:
        return "a sample clause"
    if ref == "JOIN" and node.get("ref_type") not in _JOIN_REFS:
        return f"a {node.get('ref_type')} join"
    if ref == "BASE_TABLE":
        name = str(node.get("table_name", ""))
        if node.get("schema_name") or node.get("catalog_name") or node.get("at_clause"):
            return f"a qualified or time-travel reference to '{name}'"
        if name.lower() not in tables:
            return f"a read of table '{name}'"
    return None
