"""The cohort SQL sandbox: a hostile corpus that must be refused, a realistic corpus that must be
accepted with the right reads and result columns, and DuckDB agreeing on what it would run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from trusted_env.engine.connection import SandboxLimits, open_dataset, run_query
from trusted_env.errors import SqlRejected
from trusted_env.schema import DatasetSchema, load_schema
from trusted_env.spec.plan import Codelist
from trusted_env.validation.sql_duckdb_check import check_with_duckdb_parser
from trusted_env.validation.sql_sandbox import MAX_SQL_CHARS, analyse_cohort_sql

CORPUS = Path(__file__).parent / "sql_corpus"
SCHEMA = load_schema("primary_care")


def _corpus(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CORPUS / name).read_text(encoding="utf-8"))
    return loaded


def _codelists(corpus: dict[str, Any]) -> dict[str, Codelist]:
    return {
        name: Codelist(columns=tuple(columns), rows=(tuple("x" for _ in columns),))
        for name, columns in corpus["codelists"].items()
    }


HOSTILE = _corpus("hostile.yaml")
LEGITIMATE = _corpus("legitimate.yaml")
HOSTILE_CODELISTS = _codelists(HOSTILE)
LEGIT_CODELISTS = _codelists(LEGITIMATE)


def test_corpus_sizes() -> None:
    assert len(HOSTILE["queries"]) >= 40
    assert len(LEGITIMATE["queries"]) >= 15
    assert all(entry.get("note") for entry in HOSTILE["queries"])


@pytest.mark.parametrize("entry", HOSTILE["queries"], ids=lambda e: e["note"])
def test_hostile_query_is_refused_naming_the_construct(entry: dict[str, Any]) -> None:
    with pytest.raises(SqlRejected) as refused:
        analyse_cohort_sql(entry["sql"], SCHEMA, HOSTILE_CODELISTS)
    assert entry["expect"].lower() in str(refused.value).lower()


@pytest.mark.parametrize(
    "entry",
    [e for e in HOSTILE["queries"] if e.get("duckdb_alone", True)],
    ids=lambda e: e["note"],
)
def test_duckdb_parser_layer_refuses_on_its_own(entry: dict[str, Any]) -> None:
    """Defence in depth: even if sqlglot were fooled, DuckDB's parse must also pass."""
    tables = frozenset(SCHEMA.tables) | frozenset(HOSTILE_CODELISTS)
    with pytest.raises(SqlRejected):
        check_with_duckdb_parser(entry["sql"], tables)


def test_the_shared_parser_database_stays_empty_and_locked() -> None:
    """Parsing every hostile query through the one reused parser database leaves no trace."""
    from trusted_env.validation import sql_duckdb_check

    tables = frozenset(SCHEMA.tables) | frozenset(HOSTILE_CODELISTS)
    for entry in HOSTILE["queries"]:
        if entry.get("duckdb_alone", True):
            with pytest.raises(SqlRejected):
                check_with_duckdb_parser(entry["sql"], tables)
    database = sql_duckdb_check._PARSER._database
    assert database is not None
    with database.cursor() as cursor:
        assert cursor.execute("SELECT count(*) FROM duckdb_tables()").fetchall() == [(0,)]
        settings = cursor.execute(
            "SELECT current_setting('enable_external_access'), "
            "current_setting('lock_configuration')"
        ).fetchall()
        assert settings == [(False, True)]
        with pytest.raises(duckdb.Error):
            cursor.execute("SET enable_external_access = true")


@pytest.mark.parametrize("entry", LEGITIMATE["queries"], ids=lambda e: e["name"])
def test_legitimate_query_is_accepted(entry: dict[str, Any]) -> None:
    analysis = analyse_cohort_sql(entry["sql"], SCHEMA, LEGIT_CODELISTS)
    assert analysis.reads == {table: tuple(cols) for table, cols in entry["reads"].items()}
    assert analysis.output_columns == tuple(entry["output_columns"])


def _empty_dataset(path: Path, schema: DatasetSchema) -> Path:
    with duckdb.connect(str(path)) as conn:
        for name, table in schema.tables.items():
            columns = ", ".join(f"{c} {spec.type.duckdb_type}" for c, spec in table.columns.items())
            conn.execute(f"CREATE TABLE {name} ({columns})")
    return path


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = _empty_dataset(tmp_path_factory.mktemp("sandbox") / "primary_care.duckdb", SCHEMA)
    conn = open_dataset(path, SandboxLimits(threads=1), LEGIT_CODELISTS)
    yield conn
    conn.close()


@pytest.mark.parametrize("entry", LEGITIMATE["queries"], ids=lambda e: e["name"])
def test_duckdb_runs_legitimate_query_with_the_announced_columns(
    entry: dict[str, Any], sandboxed: duckdb.DuckDBPyConnection
) -> None:
    result = run_query(sandboxed, entry["sql"], timeout_seconds=60)
    assert result.columns == tuple(entry["output_columns"])


# One expression per allowed function family: both layers must accept it and DuckDB must run it,
# so the sqlglot and DuckDB allow-lists cannot drift apart unnoticed.
ALLOWED_EXPRESSIONS = [
    "abs(numeric_value)", "round(numeric_value, 1)", "floor(numeric_value)", "ceil(numeric_value)",
    "trunc(numeric_value)", "sign(numeric_value)", "sqrt(numeric_value)", "ln(numeric_value)",
    "log10(numeric_value)", "exp(1)", "pow(numeric_value, 2)", "numeric_value ** 2",
    "isnan(numeric_value)", "isinf(numeric_value)", "isfinite(numeric_value)", "patient_id % 2",
    "patient_id // 2", "-numeric_value", "mod(patient_id, 2)",
    "row_number() OVER (ORDER BY date)", "rank() OVER (ORDER BY date)",
    "dense_rank() OVER (ORDER BY date)", "percent_rank() OVER (ORDER BY date)",
    "ntile(4) OVER (ORDER BY date)", "lag(date) OVER (PARTITION BY patient_id ORDER BY date)",
    "lead(date, 1) OVER (ORDER BY date)", "first_value(date) OVER (ORDER BY date)",
    "last_value(date) OVER (ORDER BY date)", "sum(numeric_value) OVER (PARTITION BY patient_id)",
    "date_diff('day', date, DATE '2024-01-01')", "datediff('month', date, DATE '2024-01-01')",
    "date_sub('year', date, DATE '2024-01-01')", "date_trunc('month', date)",
    "date_part('year', date)", "datepart('month', date)", "extract(year FROM date)",
    "date + INTERVAL 1 YEAR", "date - INTERVAL '3 months'", "date_add(date, INTERVAL 1 DAY)",
    "make_date(2024, 3, 31)", "year(date)", "quarter(date)", "month(date)", "week(date)",
    "day(date)", "dayofweek(date)", "isodow(date)", "dayofyear(date)", "last_day(date)",
    "to_years(1)", "strftime(date, '%Y-%m')", "strptime('2024-01-01', '%Y-%m-%d')",
    "monthname(date)", "age(DATE '2024-01-01', date)", "CAST(date AS TIMESTAMP)",
    "upper(snomedct_code)", "lower(snomedct_code)", "substr(snomedct_code, 1, 2)",
    "left(snomedct_code, 2)", "right(snomedct_code, 2)", "starts_with(snomedct_code, '1')",
    "prefix(snomedct_code, '1')", "ends_with(snomedct_code, '3')", "suffix(snomedct_code, '3')",
    "contains(snomedct_code, '2')", "length(snomedct_code)", "strlen(snomedct_code)",
    "trim(snomedct_code)", "concat(snomedct_code, 'x')", "concat_ws('-', snomedct_code, 'x')",
    "replace(snomedct_code, '1', '2')", "split_part(snomedct_code, '2', 1)",
    "strpos(snomedct_code, '2')", "position('2' IN snomedct_code)", "lpad(snomedct_code, 5, '0')",
    "regexp_matches(snomedct_code, '^1')", "regexp_full_match(snomedct_code, '1.*')",
    "regexp_extract(snomedct_code, '[0-9]')", "regexp_replace(snomedct_code, '1', 'x')",
    "snomedct_code || 'x'", "snomedct_code NOT LIKE '1%'", "snomedct_code ILIKE '1%'",
    "snomedct_code LIKE '1!%' ESCAPE '!'", "coalesce(numeric_value, 0)",
    "ifnull(numeric_value, 0)", "nullif(numeric_value, 0)", "if(numeric_value > 1, 'a', 'b')",
    "greatest(numeric_value, 1)", "least(numeric_value, 1)",
    "CASE snomedct_code WHEN '1' THEN 1 END", "TRY_CAST(snomedct_code AS BIGINT)",
    "numeric_value::DECIMAL(10, 2)", "CAST(1 AS SMALLINT)", "CAST('1 day' AS INTERVAL)",
    "numeric_value IS DISTINCT FROM 1", "snomedct_code NOT IN ('1')",
    "(SELECT max(date_of_birth) FROM patients)", "EXISTS (SELECT 1 FROM patients)",
]  # fmt: skip
ALLOWED_AGGREGATES = [
    "count(*)", "count(DISTINCT snomedct_code)", "count_if(numeric_value > 1)",
    "sum(numeric_value)", "avg(numeric_value)", "mean(numeric_value)", "min(date)", "max(date)",
    "arg_max(numeric_value, date)", "arg_min(numeric_value, date)", "max_by(numeric_value, date)",
    "bool_or(numeric_value > 1)", "bool_and(numeric_value > 1)", "any_value(snomedct_code)",
    "median(numeric_value)", "quantile_cont(numeric_value, 0.5)", "stddev(numeric_value)",
    "variance(numeric_value)", "count(*) FILTER (WHERE numeric_value > 1)",
]  # fmt: skip


@pytest.mark.parametrize(
    "sql",
    [f"SELECT patient_id, {e} AS x FROM clinical_events" for e in ALLOWED_EXPRESSIONS]
    + [
        f"SELECT patient_id, {e} AS x FROM clinical_events GROUP BY patient_id"
        for e in ALLOWED_AGGREGATES
    ],
)
def test_allowed_functions_pass_both_layers_and_run(
    sql: str, sandboxed: duckdb.DuckDBPyConnection
) -> None:
    analysis = analyse_cohort_sql(sql, SCHEMA, {})
    assert analysis.output_columns == ("patient_id", "x")
    assert tuple(run_query(sandboxed, sql, timeout_seconds=60).columns) == ("patient_id", "x")


def test_codelists_are_tables_but_not_dataset_reads() -> None:
    analysis = analyse_cohort_sql(
        "SELECT * FROM diabetes_codes",
        SCHEMA,
        {"diabetes_codes": LEGIT_CODELISTS["diabetes_codes"]},
    )
    assert analysis.output_columns == ("code", "term")
    assert analysis.reads == {}


def test_unknown_codelist_is_an_unknown_table() -> None:
    with pytest.raises(SqlRejected, match="Unknown table 'asthma_codes'"):
        analyse_cohort_sql("SELECT code FROM asthma_codes", SCHEMA, {})


def test_table_read_without_columns_is_still_reported() -> None:
    sql = "SELECT patient_id, (SELECT count(*) FROM ons_deaths) AS deaths FROM patients"
    analysis = analyse_cohort_sql(sql, SCHEMA, {})
    assert analysis.reads == {"ons_deaths": (), "patients": ("patient_id",)}


def test_union_takes_names_from_the_left_and_order_by_alias_is_allowed() -> None:
    sql = (
        "SELECT patient_id AS pid FROM patients UNION SELECT patient_id FROM ons_deaths "
        "ORDER BY pid"
    )
    analysis = analyse_cohort_sql(sql, SCHEMA, {})
    assert analysis.output_columns == ("pid",)
    assert analysis.reads == {"ons_deaths": ("patient_id",), "patients": ("patient_id",)}


def test_names_are_case_insensitive_like_duckdb() -> None:
    analysis = analyse_cohort_sql("SELECT P.Patient_ID AS patient_id FROM Patients P", SCHEMA, {})
    assert analysis.reads == {"patients": ("patient_id",)}


def test_codelist_named_like_a_dataset_table_is_refused() -> None:
    clash = {"patients": Codelist(columns=("code",), rows=())}
    with pytest.raises(SqlRejected, match="same name as a table"):
        analyse_cohort_sql("SELECT patient_id FROM ons_deaths", SCHEMA, clash)


def test_over_long_sql_is_refused() -> None:
    sql = "SELECT patient_id FROM patients WHERE sex IN (" + "'x', " * MAX_SQL_CHARS + "'y')"
    with pytest.raises(SqlRejected, match="characters long"):
        analyse_cohort_sql(sql, SCHEMA, {})


def test_deep_nesting_is_refused_not_crashing() -> None:
    sql = "SELECT " + "(" * 2000 + "1" + ")" * 2000 + " AS x"
    with pytest.raises(SqlRejected, match="nested too deeply"):
        analyse_cohort_sql(sql, SCHEMA, {})


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment", ";"])
def test_empty_sql_is_refused(sql: str) -> None:
    with pytest.raises(SqlRejected):
        analyse_cohort_sql(sql, SCHEMA, {})


def test_syntax_error_says_where() -> None:
    with pytest.raises(SqlRejected, match="line 1"):
        analyse_cohort_sql("SELECT patient_id FROM patients WHERE (", SCHEMA, {})


def test_trailing_semicolon_and_comment_are_fine() -> None:
    analysis = analyse_cohort_sql("SELECT patient_id FROM patients; -- done", SCHEMA, {})
    assert analysis.output_columns == ("patient_id",)
