"""Materialise the cohort and check what the privacy model requires of it.

The checks return only yes/no answers: no count, value or DuckDB message about the real data
leaves this module except inside `RunFailure.details`, which only stewards (and researchers on
dummy data) see.
"""

from __future__ import annotations

import duckdb

from trusted_env.engine.aggregates import COHORT, quote
from trusted_env.errors import ContributionBoundViolated, SpecError
from trusted_env.spec.outputs import CountOutput, Output
from trusted_env.spec.plan import Plan

NUMERIC_TYPES = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "BOOLEAN",
)


RAW_COHORT = "cohort_rows"
ROW_NUMBER = "_tre_row_number"


def materialise(connection: duckdb.DuckDBPyConnection, plan: Plan) -> dict[str, str]:
    """Run the cohort SQL once into a temporary table; return its column types.

    With one row per patient the cohort is checked as it is. With a bound k above one, each
    patient's rows beyond k are dropped before any aggregate (the truncation that makes the
    declared bound true); which rows are kept depends only on that patient's own rows.
    """
    if plan.max_rows_per_patient == 1:
        connection.execute(f"CREATE TEMP TABLE {COHORT} AS {plan.sql}")
        types = _describe(connection)
        check_one_row_per_patient(connection, plan.patient_id_column,
                                  types.get(plan.patient_id_column))
        return types
    _truncate(connection, plan)
    return _describe(connection)


def _describe(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    described = connection.execute(f"DESCRIBE {COHORT}").fetchall()
    return {str(row[0]): str(row[1]) for row in described}


def _truncate(connection: duckdb.DuckDBPyConnection, plan: Plan) -> None:
    patient = quote(plan.patient_id_column)
    connection.execute(f"CREATE TEMP TABLE {RAW_COHORT} AS {plan.sql}")
    check_no_missing_patient(connection, plan.patient_id_column, RAW_COHORT)
    connection.execute(
        f"CREATE TEMP TABLE {COHORT} AS SELECT * EXCLUDE ({ROW_NUMBER}) FROM ("  # noqa: S608
        f"SELECT *, row_number() OVER (PARTITION BY {patient} ORDER BY hash(r)) AS {ROW_NUMBER} "
        f"FROM {RAW_COHORT} AS r) WHERE {ROW_NUMBER} <= $bound",
        {"bound": plan.max_rows_per_patient},
    )
    connection.execute(f"DROP TABLE {RAW_COHORT}")


def check_no_missing_patient(connection: duckdb.DuckDBPyConnection, patient_id: str,
                             table: str) -> None:
    row = connection.execute(
        f"SELECT count({quote(patient_id)}) = count(*) FROM {table}"  # noqa: S608
    ).fetchall()
    if not row or row[0][0] is not True:
        raise ContributionBoundViolated(
            f"Every cohort row needs a '{patient_id}': at least one row has none.",
            hint="Filter out rows without a patient id in the cohort SQL.",
        )


# Integer ids whose range fits a bitmap of at most 2**27 bits (16 MB) are checked with
# bitstring_agg: one pass setting bits, about ten times cheaper than count(DISTINCT), which hashes
# every id. Both give the exact number of distinct ids.
BITMAP_ID_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
)
MAX_BITMAP_BITS = 2**27


def check_one_row_per_patient(connection: duckdb.DuckDBPyConnection, patient_id: str,
                              column_type: str | None = None) -> None:
    """Refuse a cohort with a missing id or an id on two rows; `column_type` picks the method."""
    column = quote(patient_id)
    complete, low, high = connection.execute(
        f"SELECT count({column}) = count(*), min({column}), max({column}) FROM {COHORT}"  # noqa: S608
    ).fetchall()[0]
    if complete is not True:
        raise _not_one_row_each(patient_id)
    if low is None:
        return  # an empty cohort
    distinct = f"count(DISTINCT {column})"
    parameters: dict[str, object] | None = None
    if column_type in BITMAP_ID_TYPES and int(high) - int(low) < MAX_BITMAP_BITS:
        distinct = f"bit_count(bitstring_agg({column}, $low, $high))"
        parameters = {"low": int(low), "high": int(high)}
    row = connection.execute(
        f"SELECT {distinct} = count(*) FROM {COHORT}", parameters  # noqa: S608
    ).fetchall()
    if not row or row[0][0] is not True:
        raise _not_one_row_each(patient_id)


def _not_one_row_each(patient_id: str) -> ContributionBoundViolated:
    return ContributionBoundViolated(
        "The cohort must have exactly one row per patient, with no missing "
        f"'{patient_id}': at least one patient has several rows or none.",
        hint="Reduce to one row per patient in the cohort SQL (e.g. GROUP BY patient_id).",
    )


def check_column_types(types: dict[str, str], outputs: list[Output]) -> None:
    """Value columns must be numeric and `where` columns boolean; refuse before any work."""
    for output in outputs:
        if output.where is not None and types.get(output.where) != "BOOLEAN":
            raise SpecError(
                f"Output '{output.name}': where column '{output.where}' is "
                f"{types.get(output.where)}, not BOOLEAN.",
                hint="Make it a true/false expression in the cohort SQL.",
            )
        if isinstance(output, CountOutput):
            continue
        column = getattr(output, "column", "")
        kind = types.get(column, "")
        if not kind.startswith(NUMERIC_TYPES):
            raise SpecError(
                f"Output '{output.name}': column '{column}' is {kind}, not a number.",
                hint="Cast it to a number in the cohort SQL.",
            )
