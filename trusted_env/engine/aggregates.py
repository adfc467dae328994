"""Exact bounded aggregates, computed in DuckDB over the materialised cohort.

Only per-cell integers come back to Python. Values are clamped to the public bounds and rounded
to the public grid inside DuckDB, so each patient's contribution is bounded before any noise is
added. Every value from the spec reaches SQL as a bound parameter, and column names are
validated identifiers, so a spec cannot inject SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from trusted_env.dp.cells import CellKey, CellLayout
from trusted_env.dp.planned import mean_grid
from trusted_env.spec.outputs import (
    HistogramOutput,
    MeanOutput,
    Output,
    QuantileOutput,
    SumOutput,
)

COHORT = "cohort"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass
class _Query:
    """A grouped SELECT over the cohort, built up with parameters.

    Public keys are enforced on the grouped result rather than on every cohort row: the cells
    kept are the same (a row with an undeclared key only ever lands in a cell that is dropped),
    and testing a few hundred cells is far cheaper than testing every row.
    """

    filters: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    cell_filters: list[str] = field(default_factory=list)

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def sql(self, measures: Sequence[str]) -> str:
        where = " AND ".join(self.filters) or "TRUE"
        keys = [f"{key} AS k{position}" for position, key in enumerate(self.keys)]
        select = ", ".join([*keys, *measures])
        group = " GROUP BY ALL" if self.keys else ""
        grouped = f"SELECT {select} FROM {COHORT} WHERE {where}{group}"  # noqa: S608
        if not self.cell_filters:
            return grouped
        return f"SELECT * FROM ({grouped}) AS cells WHERE {' AND '.join(self.cell_filters)}"  # noqa: S608


def _base_query(output: Output, layout: CellLayout) -> _Query:
    query = _Query()
    if output.where is not None:
        query.filters.append(f"{quote(output.where)} IS TRUE")
    for position, column in enumerate(layout.group_columns):
        query.keys.append(f"CAST({quote(column)} AS VARCHAR)")
        if layout.key_sets is not None:
            keys = query.param(list(layout.key_sets[position]))
            query.cell_filters.append(f"k{position} IN (SELECT unnest({keys}::VARCHAR[]))")
    return query


def _value(output: SumOutput | MeanOutput | QuantileOutput | HistogramOutput,
           query: _Query) -> str:
    """The output's value as DOUBLE after the declared null policy (NaN counts as null)."""
    raw = f"CAST({quote(output.column)} AS DOUBLE)"
    missing = f"({raw} IS NULL OR isnan({raw}))"
    if output.nulls == "drop":
        query.filters.append(f"NOT {missing}")
        return raw
    return f"(CASE WHEN {missing} THEN {query.param(output.impute_value)} ELSE {raw} END)"


def _grid_units(value: str, query: _Query, lower: float, upper: float, step: float) -> str:
    clamped = f"least(greatest({value}, {query.param(lower)}), {query.param(upper)})"
    return f"CAST(round({clamped} / {query.param(step)}) AS BIGINT)"


def _fetch(connection: duckdb.DuckDBPyConnection, query: _Query,
           measures: Sequence[str]) -> list[tuple[Any, ...]]:
    return connection.execute(query.sql(measures), query.params).fetchall()


def _split(row: tuple[Any, ...], width: int) -> tuple[CellKey, tuple[Any, ...]]:
    return tuple(row[:width]), tuple(row[width:])


def count_cells(connection: duckdb.DuckDBPyConnection, output: Output,
                layout: CellLayout) -> dict[CellKey, int]:
    query = _base_query(output, layout)
    width = len(layout.group_columns)
    rows = _fetch(connection, query, ["count(*)"])
    return {_split(row, width)[0]: int(row[width]) for row in rows}


def sum_cells(connection: duckdb.DuckDBPyConnection, output: SumOutput,
              layout: CellLayout) -> dict[CellKey, int]:
    query = _base_query(output, layout)
    lower, upper = output.bounds
    units = _grid_units(_value(output, query), query, lower, upper, output.resolution)
    width = len(layout.group_columns)
    rows = _fetch(connection, query, [f"sum({units})"])
    return {_split(row, width)[0]: int(row[width]) for row in rows}


def mean_cells(connection: duckdb.DuckDBPyConnection, output: MeanOutput,
               layout: CellLayout) -> dict[CellKey, tuple[int, int]]:
    """Per cell: sum of centred values on the mean's working grid (`mean_grid`), and count."""
    query = _base_query(output, layout)
    lower, upper = output.bounds
    units = _grid_units(_value(output, query), query, lower, upper, output.resolution)
    grid = mean_grid(output)
    centred = f"{query.param(grid.factor)} * {units} - {query.param(grid.centre)}"
    width = len(layout.group_columns)
    rows = _fetch(connection, query, [f"sum({centred})", "count(*)"])
    return {_split(row, width)[0]: (int(row[width]), int(row[width + 1])) for row in rows}


def quantile_cells(connection: duckdb.DuckDBPyConnection, output: QuantileOutput,
                   layout: CellLayout) -> dict[CellKey, list[int]]:
    """Histogram of grid values per cell, from one step below the bounds to one step above."""
    query = _base_query(output, layout)
    lower, upper = output.bounds
    step = output.resolution
    units = _grid_units(_value(output, query), query, lower - step, upper + step, step)
    low_units, high_units = output.bounds_in_units()
    query.keys.append(units)
    width = len(layout.group_columns)
    histograms: dict[CellKey, list[int]] = {}
    for row in _fetch(connection, query, ["count(*)"]):
        cell, (unit, count) = _split(row, width)
        bins = histograms.setdefault(cell, [0] * (high_units - low_units + 3))
        bins[int(unit) - low_units + 1] += int(count)
    return histograms


def histogram_cells(connection: duckdb.DuckDBPyConnection, output: HistogramOutput,
                    layout: CellLayout) -> dict[CellKey, int]:
    query = _base_query(output, layout)
    value = _value(output, query)
    labels = output.bin_labels()
    branches = " ".join(
        f"WHEN {value} < {query.param(edge)} THEN {query.param(label)}"
        for edge, label in zip(output.bins, labels, strict=False)
    )
    query.keys.append(f"(CASE {branches} ELSE {query.param(labels[-1])} END)")
    width = len(layout.group_columns) + 1
    rows = _fetch(connection, query, ["count(*)"])
    return {_split(row, width)[0]: int(row[width]) for row in rows}
