"""`generate_dataset`: a whole dummy DuckDB dataset from a schema, deterministic for a seed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from trusted_env.dummy.constants import GENERATOR_VERSION as GENERATOR_VERSION
from trusted_env.dummy.constants import MAX_PATIENTS as MAX_PATIENTS
from trusted_env.dummy.context import Population
from trusted_env.dummy.defaults import default_streams
from trusted_env.dummy.rows import StreamRows, draw_rows
from trusted_env.dummy.tables import build_population, build_spells, build_streams
from trusted_env.dummy.validate import check_hints
from trusted_env.dummy.writer import BackgroundWriter, atomic_duckdb, create_tables
from trusted_env.errors import SpecError
from trusted_env.schema.model import DatasetSchema

Progress = Callable[[str, int, int], None]
"""Called as `progress(step_description, steps_done, steps_total)` before and after steps."""


def generate_dataset(
    schema: DatasetSchema,
    out_path: Path | str,
    patients: int,
    seed: int,
    progress: Progress | None = None,
) -> Path:
    """Write a dummy dataset for `schema` to `out_path` (a DuckDB file) and return its path.

    The file holds exactly the schema's tables, columns and DuckDB types; the same schema,
    `patients` and `seed` always give identical content. The file appears only when complete.
    """
    if not 1 <= patients <= MAX_PATIENTS:
        raise SpecError(
            f"Cannot generate {patients} patients.",
            hint=f"Ask for between 1 and {MAX_PATIENTS:,} patients.",
        )
    plan = check_hints(schema)
    report = progress or _silent
    children = [name for name in schema.tables if name != plan.table]
    total = len(children) + 2
    out = Path(out_path)
    with atomic_duckdb(out) as connection, BackgroundWriter(connection) as writer:
        create_tables(connection, schema)
        report(f"patients ({plan.table or 'no table of their own'})", 0, total)
        pop, frame = build_population(plan, schema, patients, seed)
        if plan.table is not None and frame is not None:
            writer.write(plan.table, schema.tables[plan.table], frame)
        del frame
        draws = _StreamDraws(schema, pop, seed)
        for done, name in enumerate(children, start=1):
            report(name, done, total)
            writer.write(name, schema.tables[name], _build_child(name, schema, pop, seed, draws))
        report("saving", total - 1, total)
        writer.wait()
    report("done", total, total)
    return out


def _silent(step: str, done: int, total: int) -> None:
    del step, done, total


def _build_child(
    name: str, schema: DatasetSchema, pop: Population, seed: int, draws: _StreamDraws
) -> pl.DataFrame:
    table = schema.tables[name]
    if table.generate is not None and table.generate.spells is not None:
        return build_spells(name, table, table.generate.spells, pop, seed)
    return build_streams(name, table, pop, seed, draws)


class _StreamDraws:
    """Rows of each stream, drawn once: `same_as` streams reuse another stream's rows."""

    def __init__(self, schema: DatasetSchema, pop: Population, seed: int) -> None:
        self._schema = schema
        self._pop = pop
        self._seed = seed
        self._drawn: dict[str, StreamRows] = {}
        self._drawing: set[str] = set()
        self._next_ordinal = 0  # row identifiers are unique across all drawn streams
        # Only streams that another one copies are kept; the rest are freed once written.
        self._shared = {
            stream.rows.same_as
            for table in schema.tables.values()
            for stream in default_streams(table)
            if stream.rows.same_as is not None
        }

    def __call__(self, key: str) -> StreamRows:
        if key in self._drawn:
            return self._drawn[key]
        if key in self._drawing:
            raise SpecError(
                f"Generation hints: stream '{key}' refers to itself through same_as.",
                hint="Make same_as chains end at a stream with its own rows.",
            )
        table_name, _, stream_name = key.partition(".")
        streams = {s.name: s for s in default_streams(self._schema.tables[table_name])}
        self._drawing.add(key)
        try:
            stream = streams[stream_name]
            rows = draw_rows(stream, self._pop, table_name, self._seed, self)
        finally:
            self._drawing.discard(key)
        if stream.rows.same_as is None or stream.rows.each is not None:
            rows = rows.numbered_from(self._next_ordinal, fresh=stream.rows.same_as is not None)
            self._next_ordinal += rows.pidx.size
        if key in self._shared:
            self._drawn[key] = rows
        return rows
