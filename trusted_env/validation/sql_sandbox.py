"""Cohort SQL sandbox: accept only one read-only SELECT over the dataset's tables and codelists.

Everything is checked against allow-lists and refused otherwise (fail closed): statement kinds,
expression node types, functions, cast types, join kinds and table references. Columns are
resolved with sqlglot's optimizer against the schema, so unknown tables and columns are refused
and the analysis can report exactly which dataset columns the query reads.

sqlglot is not the parser that executes the query, so DuckDB's own parser must independently
agree (`sql_duckdb_check`): that closes gaps where the two parsers read the same text differently.
The DuckDB connection is sandboxed as well (read-only, no external access, locked settings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema

from trusted_env.errors import SqlRejected
from trusted_env.schema import DatasetSchema
from trusted_env.spec.plan import Codelist
from trusted_env.validation import sql_allowlist as allow
from trusted_env.validation.sql_duckdb_check import check_with_duckdb_parser

MAX_SQL_CHARS = 100_000
_OUTPUT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_QUERY_START = frozenset({"SELECT", "WITH", "FROM", "("})
_TABLE_CLAUSES = {
    "when": "AT (time travel)",
    "version": "time travel",
    "sample": "a sample",
    "pivots": "PIVOT/UNPIVOT",
    "laterals": "LATERAL",
    "joins": "nested joins",
    "hints": "table hints",
}


@dataclass(frozen=True)
class SqlAnalysis:
    reads: dict[str, tuple[str, ...]]
    output_columns: tuple[str, ...]


def analyse_cohort_sql(
    sql: str, schema: DatasetSchema, codelists: Mapping[str, Codelist]
) -> SqlAnalysis:
    """Refuse anything but a single read-only SELECT; say what it reads and returns."""
    tables = _known_tables(schema, codelists)
    tree = _parse_single_query(sql)
    context = _Context(sql=sql, tables=tables, ctes=_cte_names(tree, tables))
    for node in tree.walk():
        _check_node(node, context)
    _check_output_names(tree)
    qualified = _qualify(tree, tables)
    _check_qualified(qualified)
    output_columns = _output_columns(qualified)
    reads = _reads(qualified, schema)
    check_with_duckdb_parser(sql, frozenset(tables) | context.ctes)
    return SqlAnalysis(reads=reads, output_columns=output_columns)


@dataclass(frozen=True)
class _Context:
    sql: str
    tables: dict[str, dict[str, str]]
    ctes: frozenset[str]

    def available(self) -> str:
        return ", ".join(sorted(self.tables))


def _known_tables(
    schema: DatasetSchema, codelists: Mapping[str, Codelist]
) -> dict[str, dict[str, str]]:
    # Lower-case keys: DuckDB (and sqlglot's duckdb dialect) compare names case-insensitively.
    tables = {
        name.lower(): {column: spec.type.duckdb_type for column, spec in table.columns.items()}
        for name, table in schema.tables.items()
    }
    for name, codelist in codelists.items():
        if name.lower() in tables:
            raise SqlRejected(
                f"Codelist '{name}' has the same name as a table of dataset '{schema.name}'.",
                hint="Rename the codelist in job.yaml so the SQL can tell them apart.",
            )
        tables[name.lower()] = dict.fromkeys(codelist.columns, "VARCHAR")
    return tables


def _parse_single_query(sql: str) -> exp.Expr:
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRejected(
            f"The cohort SQL is {len(sql)} characters long; at most {MAX_SQL_CHARS} are allowed.",
            hint="Move long lists of codes into a codelist CSV.",
        )
    keyword = _first_keyword(sql)
    if not keyword:
        raise SqlRejected("The cohort SQL is empty.", hint="Write one SELECT query.")
    if keyword not in _QUERY_START:
        raise _not_a_query(keyword)
    try:
        parsed = sqlglot.parse(sql, dialect="duckdb")
    except ParseError as exc:
        raise SqlRejected(f"The cohort SQL could not be parsed: {_describe(exc)}.") from None
    except SqlglotError as exc:
        message = _ANSI.sub("", str(exc))
        raise SqlRejected(f"The cohort SQL could not be parsed: {message}.") from None
    except RecursionError:
        raise SqlRejected("The cohort SQL is nested too deeply to check.") from None
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if len(statements) != 1:
        raise SqlRejected(
            f"The cohort SQL contains {len(statements)} statements; it must be exactly one SELECT.",
            hint="Remove the other statements (and any ';' between them).",
        )
    statement = statements[0]
    if not isinstance(statement, exp.Select | exp.SetOperation | exp.Subquery):
        raise _not_a_query(keyword)
    return statement


def _not_a_query(keyword: str) -> SqlRejected:
    return SqlRejected(
        f"The cohort SQL is a statement of type {keyword}; only a read-only SELECT query is "
        "allowed.",
        hint="Write the cohort as one SELECT (WITH ... SELECT is fine).",
    )


def _describe(exc: ParseError) -> str:
    if not exc.errors:
        return _ANSI.sub("", str(exc))
    first = exc.errors[0]
    description = str(first.get("description", "syntax error")).split(" <Token")[0]
    return f"{description} near '{first.get('highlight', '')}' (line {first.get('line')}, " + (
        f"column {first.get('col')})"
    )


def _first_keyword(sql: str) -> str:
    """The statement's first word as written (comments skipped), to name what was refused."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except SqlglotError:
        tokens = []
    return tokens[0].text.upper() if tokens else ""


def _leftmost_select(tree: exp.Expr) -> exp.Select | None:
    node: exp.Expr | None = tree
    while isinstance(node, exp.SetOperation | exp.Subquery):
        node = node.this
    return node if isinstance(node, exp.Select) else None


def _check_output_names(tree: exp.Expr) -> None:
    """Every result column needs a plain lower-case name that DuckDB reports unchanged."""
    select = _leftmost_select(tree)
    if select is None:
        return
    if not select.expressions:
        raise SqlRejected(
            "The cohort SQL has no result columns.", hint="List the columns after SELECT."
        )
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            continue
        if not isinstance(projection, exp.Alias | exp.Column):
            raise SqlRejected(
                f"The cohort's result column `{allow.snippet(projection)}` has no name.",
                hint="Give it a name with AS, e.g. `count(*) AS n_events`.",
            )
        name = projection.alias if isinstance(projection, exp.Alias) else projection.name
        if not _OUTPUT_NAME.match(name):
            raise SqlRejected(
                f"The cohort's result column '{name}' is not a lower-case name.",
                hint="Use letters, digits and underscores, starting with a letter (AS age_band).",
            )


def _cte_names(tree: exp.Expr, tables: Mapping[str, object]) -> frozenset[str]:
    names = set()
    for cte in tree.find_all(exp.CTE):
        name = cte.alias_or_name.lower()
        if name in tables:
            raise SqlRejected(
                f"The WITH clause defines '{name}', which is already a dataset table or codelist.",
                hint="Rename the CTE so it does not hide the table.",
            )
        names.add(name)
    return frozenset(names)


def _check_node(node: exp.Expr, context: _Context) -> None:
    kind = type(node)
    if kind is exp.Table:
        _check_table(node, context)
    elif kind is exp.Anonymous:
        allow.check_anonymous(node)
    elif kind not in allow.NODES:
        raise allow.refusal(node)
    elif kind is exp.With and node.args.get("recursive"):
        raise SqlRejected(
            "WITH RECURSIVE is not allowed in cohort SQL (it can loop without end).",
            hint="Use ordinary CTEs, joins and window functions.",
        )
    elif kind is exp.Join:
        _check_join(node)
    elif kind is exp.DataType:
        _check_type(node)
    elif kind is exp.Var and type(node.parent) not in allow.VAR_PARENTS:
        raise SqlRejected(
            f"Unexpected keyword '{node.name}' in the cohort SQL.",
            hint="Keywords such as YEAR or MONTH may appear only in INTERVAL and EXTRACT.",
        )
    elif kind is exp.Column:
        _check_column(node)


def _check_table(table: exp.Expr, context: _Context) -> None:
    target = table.this
    if not isinstance(target, exp.Identifier):
        raise allow.table_function_refusal(target, context.available())
    start = target.meta.get("start")
    if target.quoted and isinstance(start, int) and context.sql[start : start + 1] != '"':
        raise SqlRejected(
            f"The cohort SQL reads from the string '{target.name}' (DuckDB treats it as a file "
            "path).",
            hint=f"Name a table without quotes; available: {context.available()}.",
        )
    if table.args.get("db") or table.args.get("catalog"):
        raise SqlRejected(
            f"`{allow.snippet(table)}` names a schema or database; cohort SQL may read only the "
            "dataset's own tables.",
            hint=f"Write the bare table name, one of: {context.available()}.",
        )
    extra = sorted(
        _TABLE_CLAUSES.get(k, k) for k, v in table.args.items() if v and k not in ("this", "alias")
    )
    if extra:
        raise SqlRejected(
            f"Table `{target.name}` is read with {', '.join(extra)}, which the sandbox does not "
            "allow.",
            hint="Read the table plainly and filter with WHERE.",
        )
    name = target.name.lower()
    if name not in context.tables and name not in context.ctes:
        raise SqlRejected(
            f"Unknown table '{target.name}'.",
            hint=f"Cohort SQL can read the dataset's tables and the job's codelists: "
            f"{context.available()}.",
        )


def _check_join(join: exp.Expr) -> None:
    method = join.args.get("method")
    kind = join.args.get("kind")
    if method or (kind and str(kind).upper() not in allow.JOIN_KINDS):
        raise SqlRejected(
            f"{str(method or kind).upper()} JOIN is not allowed in cohort SQL.",
            hint="Use [INNER|LEFT|RIGHT|FULL|CROSS|SEMI|ANTI] JOIN with ON or USING.",
        )


def _check_type(node: exp.Expr) -> None:
    if node.this not in allow.CAST_TYPES or node.args.get("kind"):
        raise SqlRejected(
            f"Type {allow.snippet(node)} is not allowed in cohort SQL.",
            hint="Cast to BOOLEAN, an integer type, DOUBLE, DECIMAL, VARCHAR, DATE, TIMESTAMP "
            "or INTERVAL.",
        )


def _check_column(column: exp.Expr) -> None:
    if column.args.get("db") or column.args.get("catalog"):
        raise SqlRejected(
            f"`{allow.snippet(column)}` has too many parts; write table.column or column.",
            hint="Struct fields, schemas and databases cannot be referenced.",
        )


def _qualify(tree: exp.Expr, tables: dict[str, dict[str, str]]) -> exp.Expr:
    try:
        return qualify(
            tree.copy(),
            dialect="duckdb",
            schema=MappingSchema(dict[str, object](tables), dialect="duckdb"),
            validate_qualify_columns=True,
            quote_identifiers=False,
            identify=False,
        )
    except OptimizeError as exc:
        raise SqlRejected(
            f"The cohort SQL refers to something that does not exist: {_ANSI.sub('', str(exc))}.",
            hint="Check table and column names against `tre schema` and the job's codelists.",
        ) from None
    except SqlglotError as exc:
        raise SqlRejected(
            f"The cohort SQL could not be checked: {_ANSI.sub('', str(exc))}."
        ) from None
    except RecursionError:
        raise SqlRejected("The cohort SQL is nested too deeply to check.") from None


def _check_qualified(qualified: exp.Expr) -> None:
    """Qualification rewrites the tree (e.g. a bare table name becomes a whole-row reference):
    check the rewritten tree against the allow-list again, and that every column resolved."""
    for node in qualified.walk():
        kind = type(node)
        if kind is exp.TableColumn:
            raise SqlRejected(
                f"'{node.name}' is used as a column but is a table: that reads whole rows.",
                hint="Select the table's columns by name.",
            )
        if kind not in allow.NODES and kind not in (exp.Table, exp.Anonymous):
            raise allow.refusal(node)
        if isinstance(node, exp.Column) and not (node.table or _is_order_by_alias(node)):
            raise SqlRejected(
                f"Column '{node.name}' could not be matched to a table column.",
                hint="Refer to a column of a table in the FROM clause.",
            )


def _is_order_by_alias(column: exp.Expr) -> bool:
    order = column.find_ancestor(exp.Order)
    owner = order.parent if order is not None else None
    return isinstance(owner, exp.Query) and column.name in owner.named_selects


def _output_columns(qualified: exp.Expr) -> tuple[str, ...]:
    if not isinstance(qualified, exp.Query):
        raise SqlRejected("The cohort SQL must be a query.")
    names = tuple(qualified.named_selects)
    for name in names:
        if not _OUTPUT_NAME.match(name):
            raise SqlRejected(
                f"The cohort returns a column named '{name}', which is not a lower-case name.",
                hint="Select it with an alias made of letters, digits and underscores.",
            )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SqlRejected(
            f"The cohort returns more than one column named {', '.join(duplicates)}.",
            hint="Give each result column a distinct name with AS.",
        )
    return names


def _reads(qualified: exp.Expr, schema: DatasetSchema) -> dict[str, tuple[str, ...]]:
    """Dataset columns read, per table, under the schema's own spelling of the names."""
    spelling = {
        name.lower(): (name, {column.lower(): column for column in table.columns})
        for name, table in schema.tables.items()
    }
    reads: dict[str, set[str]] = {}
    for scope in traverse_scope(qualified):
        for source in scope.sources.values():
            if isinstance(source, exp.Table) and source.name.lower() in spelling:
                reads.setdefault(spelling[source.name.lower()][0], set())
        for column in scope.columns:
            table = _resolve_source(scope, column.table)
            if isinstance(table, exp.Table) and table.name.lower() in spelling:
                name, columns = spelling[table.name.lower()]
                reads.setdefault(name, set()).add(columns.get(column.name.lower(), column.name))
    return {table: tuple(sorted(columns)) for table, columns in sorted(reads.items())}


def _resolve_source(scope: Scope | None, alias: str) -> exp.Expr | Scope | None:
    while scope is not None:
        if alias in scope.sources:
            source: exp.Expr | Scope = scope.sources[alias]
            return source
        scope = scope.parent
    return None
