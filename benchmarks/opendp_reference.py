"""The representative job's outputs as OpenDP polars queries: the peer reference.

Written the way OpenDP's documentation shows: a Context over the cohort frame, a margin with
a public bound on the number of rows, public keys joined with `with_keys`, nulls filtered (and
filled, which OpenDP requires to know there are none), and `dp.len`, `dp.mean`, `dp.median` on
the column as it is (a float column stays float).
"""

from __future__ import annotations

import itertools
from typing import Any


def _keys(pl: Any, group_by: list[list[Any]]) -> Any:
    columns = [column for column, _ in group_by]
    rows = list(itertools.product(*(keys for _, keys in group_by)))
    return pl.DataFrame(rows, schema=columns, orient="row")


def _value(pl: Any, output: dict[str, Any], is_float: bool) -> tuple[Any, Any, Any]:
    """Filter for the rows kept, the value expression, and bounds of the column's type."""
    column = pl.col(output["column"])
    keep = column.is_not_null()
    lower, upper = output["bounds"]
    if is_float:
        keep = keep & column.is_not_nan()
        value = column.fill_null(float(lower)).fill_nan(float(lower))
        return keep, value, (float(lower), float(upper))
    return keep, column.fill_null(int(lower)), (int(lower), int(upper))


def _aggregate(dp: Any, pl: Any, output: dict[str, Any], is_float: bool) -> tuple[Any, Any]:
    if output["type"] == "count":
        return None, dp.len()
    keep, value, bounds = _value(pl, output, is_float)
    if output["type"] == "mean":
        return keep, value.dp.mean(bounds)
    if output["type"] == "sum":
        return keep, value.dp.sum(bounds)
    lower, upper = bounds
    step = output["resolution"]
    count = round((upper - lower) / step) + 1
    candidates = [lower + i * step for i in range(count)]
    if not is_float:
        candidates = [int(c) for c in candidates]
    return keep, value.dp.quantile(output["quantile"], candidates)


def queries(context: Any, task: dict[str, Any], dp: Any, pl: Any) -> dict[str, Any]:
    """One OpenDP query per output, in the plan's order (the Context's weights follow it)."""
    schema = task["cohort_schema"]
    built = {}
    for output in task["outputs"]:
        is_float = schema.get(output.get("column") or "", "").startswith(("FLOAT", "DOUBLE"))
        keep, aggregate = _aggregate(dp, pl, output, is_float)
        query = context.query()
        if keep is not None:
            query = query.filter(keep)
        if output["group_by"]:
            columns = [column for column, _ in output["group_by"]]
            query = query.group_by(columns).agg(aggregate).with_keys(
                _keys(pl, output["group_by"])
            )
        else:
            query = query.select(aggregate)
        built[output["name"]] = query
    return built
