"""What cohort SQL may contain: allow-lists for the sandbox, and the messages given on refusal.

Anything not listed here is refused. Node types are matched exactly (a subclass of an allowed
type is not allowed), so a sqlglot upgrade that adds node types cannot widen the sandbox.
"""

from __future__ import annotations

from sqlglot import exp

from trusted_env.errors import SqlRejected

_QUERY_STRUCTURE: set[type[exp.Expr]] = {
    exp.Select, exp.Union, exp.Except, exp.Intersect, exp.Subquery, exp.With, exp.CTE,
    exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order, exp.Ordered,
    exp.Limit, exp.Offset, exp.Distinct, exp.TableAlias, exp.Values, exp.Tuple,
    exp.Window, exp.WindowSpec, exp.Filter, exp.IgnoreNulls, exp.RespectNulls,
}  # fmt: skip

_VALUES: set[type[exp.Expr]] = {
    exp.Identifier, exp.Column, exp.Star, exp.Alias, exp.Paren, exp.Literal, exp.Null,
    exp.Boolean, exp.DataType, exp.DataTypeParam, exp.Var, exp.Interval,
}  # fmt: skip

_OPERATORS: set[type[exp.Expr]] = {
    exp.And, exp.Or, exp.Not, exp.Neg, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.Escape, exp.Exists, exp.Add,
    exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.DPipe, exp.NullSafeEQ,
    exp.NullSafeNEQ, exp.Case, exp.If, exp.Cast, exp.TryCast, exp.Coalesce, exp.Nullif,
    exp.Greatest, exp.Least,
}  # fmt: skip

_FUNCTIONS: set[type[exp.Expr]] = {
    # numeric
    exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Trunc, exp.Sign, exp.Sqrt, exp.Ln, exp.Log,
    exp.Exp, exp.Pow, exp.IsNan, exp.IsInf,
    # aggregates
    exp.Count, exp.CountIf, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.ArgMax, exp.ArgMin,
    exp.LogicalOr, exp.LogicalAnd, exp.AnyValue, exp.Median, exp.PercentileCont,
    exp.PercentileDisc, exp.Quantile, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance,
    exp.VariancePop,
    # window
    exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile, exp.Lag,
    exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
    # dates
    exp.DateDiff, exp.DateTrunc, exp.TimestampTrunc, exp.DateAdd, exp.DateSub, exp.Extract,
    exp.DateFromParts, exp.Year, exp.Quarter, exp.Month, exp.Week, exp.WeekOfYear, exp.Day,
    exp.DayOfMonth, exp.DayOfWeek, exp.DayOfWeekIso, exp.DayOfYear, exp.LastDay,
    exp.TimeToStr, exp.StrToTime, exp.StrToDate, exp.ToDays, exp.Monthname, exp.Dayname,
    # strings
    exp.Upper, exp.Lower, exp.Substring, exp.Left, exp.Right, exp.StartsWith,
    exp.EndsWith, exp.Contains, exp.Length, exp.Trim, exp.Concat, exp.ConcatWs, exp.Replace,
    exp.Reverse, exp.SplitPart, exp.StrPosition, exp.Pad, exp.RegexpLike, exp.RegexpFullMatch,
    exp.RegexpExtract, exp.RegexpReplace,
}  # fmt: skip

NODES: frozenset[type[exp.Expr]] = frozenset(_QUERY_STRUCTURE | _VALUES | _OPERATORS | _FUNCTIONS)

# DuckDB functions sqlglot has no class for (it parses them as exp.Anonymous).
ANONYMOUS_FUNCTIONS = frozenset({
    "date_part", "datepart", "date_sub", "age", "to_years", "to_months", "to_weeks",
    "strlen", "prefix", "suffix", "mean", "isfinite",
})  # fmt: skip

# Keywords such as YEAR (or ALL in ORDER BY ALL) appear as exp.Var only inside these.
VAR_PARENTS: frozenset[type[exp.Expr]] = frozenset({
    exp.Interval, exp.Extract, exp.DateTrunc, exp.TimestampTrunc, exp.DateDiff, exp.DateAdd,
    exp.DateSub, exp.Ordered,  # ORDER BY ALL
})  # fmt: skip

JOIN_KINDS = frozenset({"INNER", "OUTER", "CROSS", "SEMI", "ANTI"})

_T = exp.DataType.Type
CAST_TYPES = frozenset({
    _T.BOOLEAN, _T.TINYINT, _T.SMALLINT, _T.INT, _T.BIGINT, _T.INT128, _T.UTINYINT,
    _T.USMALLINT, _T.UINT, _T.UBIGINT, _T.FLOAT, _T.DOUBLE, _T.DECIMAL, _T.VARCHAR, _T.TEXT,
    _T.CHAR, _T.DATE, _T.TIMESTAMP, _T.TIMESTAMPNTZ, _T.INTERVAL,
})  # fmt: skip

FUNCTIONS_HINT = (
    "Cohort SQL may use date functions (date_diff, date_trunc, date_part, extract, make_date, "
    "INTERVAL), string functions (lower, upper, substr, left, starts_with, contains, "
    "regexp_matches), numeric functions (round, floor, ceil, abs, least, greatest), "
    "coalesce/nullif/CASE/CAST, aggregates (count, sum, avg, min, max, arg_max, bool_or, "
    "median) and window functions (row_number, rank, lag, lead)."
)
_FIXED_DATE = "Use a fixed date instead, e.g. DATE '2024-03-31', so the result is reproducible."
_DETERMINISTIC = "Cohorts must give the same rows on every run; remove it."
_FILES = (
    "Cohort SQL cannot read files or URLs; put code lists in the job's codelists and read the "
    "dataset's tables."
)
_SETTINGS = "Cohort SQL cannot read settings, variables, the environment or the catalogue."

REFUSAL_HINTS: dict[type[exp.Expr], tuple[str, str]] = {
    exp.CurrentDate: ("current_date changes from day to day (not deterministic).", _FIXED_DATE),
    exp.CurrentTimestamp: ("current_timestamp/now() is not deterministic.", _FIXED_DATE),
    exp.CurrentTime: ("current_time is not deterministic.", _FIXED_DATE),
    exp.Rand: ("random() is not deterministic.", _DETERMINISTIC),
    exp.Into: (
        "SELECT ... INTO creates a table; cohort SQL is read-only.",
        "Remove the INTO clause.",
    ),
    exp.Lambda: (
        "Lambda functions (x -> ...) are not allowed in cohort SQL.",
        "Use CASE, joins or aggregates instead of list functions.",
    ),
    exp.Placeholder: (
        "Query parameters ($1, ?, $name) are not allowed in cohort SQL.",
        "Write the value as a literal.",
    ),
    exp.Parameter: (
        "Query parameters are not allowed in cohort SQL.",
        "Write the value as a literal.",
    ),
    exp.Columns: (
        "COLUMNS(...) selects columns by pattern, so the columns read cannot be shown to the "
        "steward.",
        "Name the columns explicitly.",
    ),
    exp.TableSample: ("Sampling (USING SAMPLE/TABLESAMPLE) is not deterministic.", "Remove it."),
    exp.Lateral: ("LATERAL joins are not allowed in cohort SQL.", "Use a join or a CTE."),
    exp.Unnest: ("UNNEST is not allowed in cohort SQL.", "Use a codelist or VALUES list."),
    exp.ReadCSV: ("read_csv() reads a file.", _FILES),
    exp.ReadParquet: ("read_parquet() reads a file.", _FILES),
    exp.GenerateSeries: (
        "range()/generate_series() are not allowed in cohort SQL.",
        "Use a VALUES list for a fixed set of values.",
    ),
}

_FILE_FUNCTIONS = (
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_json_objects", "read_ndjson", "read_text", "read_blob", "glob", "sniff_csv",
    "parquet_metadata", "parquet_schema", "read_xlsx", "st_read", "iceberg_scan", "delta_scan",
)  # fmt: skip
_SETTING_FUNCTIONS = (
    "getenv", "current_setting", "getvariable", "version", "current_database", "current_schema",
    "current_schemas", "current_user", "current_role", "pg_typeof", "txid_current",
)  # fmt: skip
_CLOCK = ("today", "now", "get_current_time", "get_current_timestamp", "current_localtimestamp")
_RANDOM = ("random", "setseed", "uuid", "gen_random_uuid", "uuidv4", "uuidv7", "nextval", "currval")

ANONYMOUS_HINTS: dict[str, tuple[str, str]] = {
    **{name: (f"{name}() reads files.", _FILES) for name in _FILE_FUNCTIONS},
    **{name: (f"{name}() is not allowed.", _SETTINGS) for name in _SETTING_FUNCTIONS},
    **{name: (f"{name}() reads the clock (not deterministic).", _FIXED_DATE) for name in _CLOCK},
    **{name: (f"{name}() is not deterministic.", _DETERMINISTIC) for name in _RANDOM},
    "query": ("query() runs SQL from a string, which cannot be checked.", "Write the SQL out."),
    "query_table": ("query_table() reads a table chosen at run time.", "Name the table."),
}


def snippet(node: exp.Expr) -> str:
    text = node.sql(dialect="duckdb")
    return text if len(text) <= 60 else text[:57] + "..."


def refusal(node: exp.Expr) -> SqlRejected:
    known = REFUSAL_HINTS.get(type(node))
    if known is not None:
        return SqlRejected(known[0], hint=known[1])
    if isinstance(node, exp.Func):
        return SqlRejected(
            f"Function {node.sql_name().lower()}() is not allowed in cohort SQL.",
            hint=FUNCTIONS_HINT,
        )
    return SqlRejected(
        f"The cohort SQL uses `{snippet(node)}` ({node.key}), which the sandbox does not allow.",
        hint="Use plain SELECT, WITH, joins, subqueries, CASE, aggregates and window functions.",
    )


def check_anonymous(node: exp.Expr) -> None:
    name = node.name.lower()
    if name in ANONYMOUS_FUNCTIONS:
        if name == "age" and len(node.expressions) != 2:
            raise SqlRejected(
                "age() with one argument uses today's date, so results would change from day "
                "to day.",
                hint="Pass a fixed date: age(DATE '2024-03-31', date_of_birth), or use date_diff.",
            )
        return
    message, hint = ANONYMOUS_HINTS.get(
        name,
        (f"Function {name}() is not allowed in cohort SQL.", FUNCTIONS_HINT),
    )
    raise SqlRejected(message, hint=hint)


def table_function_refusal(target: exp.Expr, available: str) -> SqlRejected:
    if isinstance(target, exp.Anonymous):
        name = target.name.lower()
    elif isinstance(target, exp.Func):
        name = target.sql_name().lower()
    else:
        name = snippet(target)
    known = ANONYMOUS_HINTS.get(name)
    return SqlRejected(
        f"The cohort SQL reads FROM {name}(...), a table function"
        + (f": {known[0]}" if known else "; only tables can be read."),
        hint=f"Read only the dataset's tables and the job's codelists: {available}.",
    )
