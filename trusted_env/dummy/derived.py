"""Values derived from the rows themselves: identifiers (`sequence`) and ages (`age`)."""

from __future__ import annotations

import numpy as np

from trusted_env.dummy.common import DAYS_PER_YEAR, BoolArray, IntArray, hint_error
from trusted_env.dummy.context import ColumnData, RowContext
from trusted_env.schema.hints import AgeHint, SequenceHint
from trusted_env.schema.model import Column, ColumnType


def sequence_values(where: str, column: Column, ctx: RowContext, hint: SequenceHint) -> ColumnData:
    numbers = {"row": ctx.ordinal, "copy": ctx.serial, "position": ctx.position - 1}[hint.of]
    values = (numbers + hint.start).astype(np.int64)
    nulls = np.zeros(ctx.size, dtype=np.bool_)
    if column.type is ColumnType.STRING:
        return ColumnData(values, nulls, prefix=hint.prefix)
    if column.type is ColumnType.INTEGER and not hint.prefix:
        return ColumnData(values, nulls)
    raise hint_error(
        where,
        "a sequence fills integer or string columns (prefix: strings only)",
        "Change the hint.",
    )


def age_values(
    where: str, column: Column, ctx: RowContext, hint: AgeHint, done: dict[str, ColumnData]
) -> ColumnData:
    """Age on the event date or on another date column (null where that date is null), counted
    from birth or from the `since` date column (null where that one is null)."""
    if hint.at == "event":
        if ctx.day is None:
            raise hint_error(
                where, "event dates are not available here", "Use `at:` a date column."
            )
        days = ctx.day.astype(np.int64)
        nulls = np.zeros(ctx.size, dtype=np.bool_)
    else:
        days, nulls = _date_column(where, hint.at, done)
    origin = ctx.pop.birth[ctx.pidx].astype(np.int64)
    if hint.since is not None:
        origin, origin_nulls = _date_column(where, hint.since, done)
        nulls = nulls | origin_nulls
    elapsed = (days - origin).astype(np.float64)
    age = np.floor(elapsed / DAYS_PER_YEAR) if hint.unit == "years" else elapsed
    if column.type is ColumnType.INTEGER:
        return ColumnData(np.maximum(age, 0).astype(np.int64), nulls)
    if column.type is ColumnType.FLOAT:
        return ColumnData(np.maximum(age, 0.0), nulls)
    raise hint_error(
        where, f"an age cannot fill a {column.type.value} column", "Use an integer column."
    )


def _date_column(where: str, name: str, done: dict[str, ColumnData]) -> tuple[IntArray, BoolArray]:
    found = done.get(name)
    if found is None:
        raise hint_error(
            where,
            f"'{name}' is not an earlier date column of these rows",
            "Name a date column of this table.",
        )
    return found.values.astype(np.int64), found.nulls.copy()
