"""Turn drawn rows into columns and the columns into a polars frame of the schema's types."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from trusted_env.dummy.common import hint_error, rng_for, uniform_days
from trusted_env.dummy.context import (
    Category,
    ColumnData,
    Population,
    RowContext,
    row_context,
)
from trusted_env.dummy.defaults import default_column_hint, default_streams
from trusted_env.dummy.population import complete_population, start_population
from trusted_env.dummy.rows import StreamRows
from trusted_env.dummy.spells import draw_spells
from trusted_env.dummy.validate import PopulationPlan
from trusted_env.dummy.values import ColumnSpec, Vocab, generate
from trusted_env.schema.hints import ColumnHint, SpellsHint
from trusted_env.schema.model import Column, ColumnType, DatasetSchema, Table

Draws = Callable[[str], StreamRows]
_ORDER = "__row_order__"
Columns = dict[str, ColumnData]


class TableBuilder:
    """Fills the columns of one table; string vocabularies are shared by all its streams."""

    def __init__(self, name: str, table: Table, seed: int, *, population: bool) -> None:
        self.name = name
        self.table = table
        self.seed = seed
        self.population = population
        self.vocabs = {column: Vocab() for column in table.columns}

    def hint_for(self, column: str, overrides: dict[str, ColumnHint]) -> ColumnHint:
        spec = self.table.columns[column]
        found = overrides.get(column) or spec.generate
        return found or default_column_hint(column, spec, population=self.population)

    def fill(
        self,
        ctx: RowContext,
        label: str,
        columns: list[str],
        overrides: dict[str, ColumnHint],
        done: Columns,
    ) -> Columns:
        """Generate `columns` (in order) for the rows of `ctx`, next to those already `done`."""
        for column in columns:
            spec = ColumnSpec(
                table=self.name,
                name=column,
                column=self.table.columns[column],
                vocab=self.vocabs[column],
                population=self.population,
                seed=self.seed,
            )
            rng = rng_for(self.seed, self.name, label, column)
            data = generate(spec, ctx, self.hint_for(column, overrides), rng, done)
            if not spec.column.nullable and bool(data.nulls.any()):
                raise hint_error(
                    spec.where,
                    "the hint leaves some values empty but the column is not nullable",
                    "Restrict the rows (e.g. who: {having: [dead]} for at: death) "
                    "or drop null_fraction.",
                )
            done[column] = data
            if self.population and spec.column.type is ColumnType.STRING:
                # Later columns, traits and other tables may refer to it (`where`, `by`).
                codes = np.where(data.nulls, -1, data.values).astype(np.int64)
                ctx.pop.categories[column] = Category(codes, tuple(self.vocabs[column].values))
        return done

    def value_columns(self, overrides: dict[str, ColumnHint], skip: set[str]) -> list[str]:
        """Columns to generate, those computed from another column (`after`) last."""
        names = [c for c in self.table.columns if c != self.table.patient_id and c not in skip]
        late = [c for c in names if _uses_columns(self.hint_for(c, overrides))]
        return [c for c in names if c not in late] + late

    def frame(self, pop: Population, pidx: np.ndarray, columns: Columns) -> pl.DataFrame:
        series = []
        for name, column in self.table.columns.items():
            if name == self.table.patient_id:
                series.append(_patient_ids(self.name, name, column, pop, pidx))
            else:
                series.append(_series(name, column, columns[name], self.vocabs[name]))
        return pl.DataFrame(series)


def build_population(
    plan: PopulationPlan, schema: DatasetSchema, size: int, seed: int
) -> tuple[Population, pl.DataFrame | None]:
    """The patients, and the population table's frame if the schema has such a table."""
    hint = plan.settings
    pop = start_population(plan.label, hint, size, seed)
    if plan.table is None:
        complete_population(pop, hint, seed)
        return pop, None
    name, table = plan.table, schema.tables[plan.table]
    builder = TableBuilder(name, table, seed, population=True)
    everyone = np.arange(size, dtype=np.int64)
    columns = builder.value_columns({}, set())
    early = [c for c in columns if not _needs_timeline(builder.hint_for(c, {}))]
    done = builder.fill(row_context(pop, everyone, None, name), "population", early, {}, {})
    complete_population(pop, hint, seed)
    day = uniform_days(rng_for(seed, name, "__event__"), pop.record_start, pop.record_end)
    late = [c for c in columns if c not in early]
    ctx = row_context(pop, everyone, day, name, ages_at_as_of=True)
    done = builder.fill(ctx, "population", late, {}, done)
    return pop, builder.frame(pop, everyone, done)


def build_streams(
    name: str, table: Table, pop: Population, seed: int, draws: Draws
) -> pl.DataFrame:
    builder = TableBuilder(name, table, seed, population=False)
    parts: list[tuple[StreamRows, Columns]] = []
    for stream in default_streams(table):
        rows = draws(f"{name}.{stream.name}")
        numbering = (rows.ordinal, rows.position)
        label = f"{name}.{stream.name}"
        ctx = row_context(pop, rows.pidx, rows.day, label, numbering, serial=rows.serial)
        columns = builder.value_columns(stream.columns, set())
        parts.append((rows, builder.fill(ctx, stream.name, columns, stream.columns, {})))
    # Frames are built once every stream has added its strings to the shared vocabularies.
    frames = [builder.frame(pop, rows.pidx, cols) for rows, cols in parts]
    low = min((int(rows.day.min()) for rows, _ in parts if rows.day.size), default=0)
    span = max((int(rows.day.max()) for rows, _ in parts if rows.day.size), default=0) - low + 1
    keys = [pl.Series(_ORDER, rows.pidx * span + (rows.day - low)) for rows, _ in parts]
    ordered = pl.concat(
        [f.with_columns(k) for f, k in zip(frames, keys, strict=True)], how="vertical_relaxed"
    )
    # One patient's rows together, in date order, like an extract sorted by patient.
    return ordered.sort(_ORDER, maintain_order=True).drop(_ORDER)


def build_spells(
    name: str, table: Table, hint: SpellsHint, pop: Population, seed: int
) -> pl.DataFrame:
    for column in (hint.start, hint.end):
        if column not in table.columns or table.columns[column].type is not ColumnType.DATE:
            raise hint_error(
                f"{name}.generate.spells", f"'{column}' is not a date column", "Name date columns."
            )
    builder = TableBuilder(name, table, seed, population=False)
    spells = draw_spells(pop, hint, name, seed)
    ctx = row_context(pop, spells.pidx, spells.start, name, (spells.ordinal, spells.position))
    done: Columns = {
        hint.start: ColumnData(spells.start, np.zeros(spells.pidx.size, dtype=np.bool_)),
        hint.end: ColumnData(
            np.where(spells.open_end, 0, spells.end).astype(np.int32), spells.open_end
        ),
    }
    columns = builder.value_columns({}, {hint.start, hint.end})
    return builder.frame(pop, spells.pidx, builder.fill(ctx, "spells", columns, {}, done))


def _needs_timeline(hint: ColumnHint) -> bool:
    """True if a population column needs traits, deaths or registration to be drawn first."""
    if hint.date is not None and (hint.date.at != "birth" or hint.date.after is not None):
        return True
    if hint.age is not None:
        return True
    for case in hint.cases:
        if case.when.having or case.when.not_having or _needs_timeline(case.use):
            return True
    return False


def _uses_columns(hint: ColumnHint) -> bool:
    """True if the hint reads another column of the same rows (so that column comes first)."""
    if hint.date is not None and hint.date.after is not None:
        return True
    if hint.age is not None and (hint.age.at != "event" or hint.age.since is not None):
        return True
    return any(_uses_columns(case.use) for case in hint.cases)


def _patient_ids(
    table: str, name: str, column: Column, pop: Population, pidx: np.ndarray
) -> pl.Series:
    ids = pop.ids[pidx]
    if column.type is ColumnType.INTEGER:
        return pl.Series(name, ids, dtype=pl.Int64)
    if column.type is ColumnType.STRING:
        return pl.Series(name, ids, dtype=pl.Int64).cast(pl.String)
    raise hint_error(
        f"{table}.{name}", "a patient id must be an integer or a string column", "Change its type."
    )


def _series(name: str, column: Column, data: ColumnData, vocab: Vocab) -> pl.Series:
    kind = column.type
    if kind is ColumnType.STRING and data.prefix is not None:
        numbers = pl.Series(name, data.values, dtype=pl.Int64).cast(pl.String)
        series = pl.select(pl.lit(data.prefix) + numbers).to_series().alias(name)
    elif kind is ColumnType.STRING:
        codes = pl.Series(name, data.values.astype(np.uint32), dtype=pl.UInt32)
        series = codes.cast(pl.Enum(vocab.values)) if vocab.values else codes.cast(pl.String)
    elif kind is ColumnType.DATE:
        series = pl.Series(name, data.values.astype(np.int32), dtype=pl.Int32).cast(pl.Date)
    else:
        dtype = {
            ColumnType.INTEGER: pl.Int64,
            ColumnType.FLOAT: pl.Float64,
            ColumnType.BOOLEAN: pl.Boolean,
        }[kind]
        series = pl.Series(name, data.values, dtype=dtype)
    if bool(data.nulls.any()):
        mask = pl.Series("mask", data.nulls, dtype=pl.Boolean)
        series = pl.select(pl.when(mask).then(None).otherwise(series)).to_series().alias(name)
    return series
