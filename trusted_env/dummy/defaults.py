"""What the generator does where a schema gives no hint: plausible, type-correct values."""

from __future__ import annotations

from trusted_env.schema.hints import (
    ColumnHint,
    DateHint,
    NormalHint,
    RowsHint,
    StreamHint,
    TableHint,
    UniformHint,
)
from trusted_env.schema.model import Column, ColumnType, Table

# England, mid-2022 population estimates (ONS), percentage in each age band.
ENGLAND_AGE_BANDS: dict[str, float] = {
    "0-4": 5.4, "5-9": 5.9, "10-14": 6.1, "15-19": 5.8, "20-24": 6.1, "25-29": 6.6,
    "30-34": 6.9, "35-39": 6.7, "40-44": 6.3, "45-49": 6.2, "50-54": 6.8, "55-59": 6.7,
    "60-64": 5.9, "65-69": 5.0, "70-74": 4.9, "75-79": 3.8, "80-84": 2.5, "85-89": 1.5,
    "90-100": 0.9,
}  # fmt: skip

# Annual risk of death by age (England & Wales life tables, both sexes, rounded).
ENGLAND_ANNUAL_RISK: dict[float, float] = {
    0: 0.004, 1: 0.0002, 10: 0.0001, 20: 0.0004, 30: 0.0007, 40: 0.0013, 50: 0.003,
    60: 0.007, 70: 0.018, 80: 0.055, 90: 0.16, 100: 0.4,
}  # fmt: skip

DEFAULT_NULL_FRACTION = 0.05
DEFAULT_ROWS_PER_PATIENT = 2.0
_FREE_TEXT_VALUES = 10


def default_column_hint(name: str, column: Column, *, population: bool) -> ColumnHint:
    """The hint an unhinted column behaves as if it had (see `trusted_env.schema.hints`)."""
    nulls = DEFAULT_NULL_FRACTION if column.nullable else 0.0
    kind = column.type
    if kind is ColumnType.DATE:
        return _default_date(name, column, population=population)
    if kind is ColumnType.STRING:
        values = column.domain or tuple(f"{name}_{n}" for n in range(1, _FREE_TEXT_VALUES + 1))
        return ColumnHint(categorical=dict.fromkeys(values, 1.0), null_fraction=nulls)
    if kind is ColumnType.INTEGER:
        return ColumnHint(uniform=UniformHint(min=0, max=100, round=0), null_fraction=nulls)
    if kind is ColumnType.FLOAT:
        return ColumnHint(normal=NormalHint(mean=50, sd=15, round=2), null_fraction=nulls)
    return ColumnHint(categorical={"true": 1.0, "false": 1.0}, null_fraction=nulls)


def _default_date(name: str, column: Column, *, population: bool) -> ColumnHint:
    lowered = name.lower()
    if population and "birth" in lowered:
        return ColumnHint(date=DateHint(at="birth"))
    if population and "death" in lowered and column.nullable:
        return ColumnHint(date=DateHint(at="death"))
    nulls = DEFAULT_NULL_FRACTION if column.nullable else 0.0
    return ColumnHint(date=DateHint(at="event"), null_fraction=nulls)


def default_streams(table: Table) -> tuple[StreamHint, ...]:
    """Streams of a non-population table: its own, or one stream of ~2 rows per patient."""
    hint = table.generate or TableHint()
    if hint.streams:
        return hint.streams
    return (StreamHint(name="rows", rows=RowsHint(poisson=DEFAULT_ROWS_PER_PATIENT)),)
