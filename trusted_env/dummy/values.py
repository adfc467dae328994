"""Fill one column for a batch of rows from its hint (or the default for its type)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from trusted_env.dummy.common import (
    NO_DATE,
    BoolArray,
    FloatArray,
    IntArray,
    curve,
    hint_error,
    rng_for,
    round_days,
    to_days,
    weighted_choice,
)
from trusted_env.dummy.conditions import matches
from trusted_env.dummy.context import ColumnData, RowContext, row_context
from trusted_env.dummy.defaults import default_column_hint
from trusted_env.dummy.derived import age_values, sequence_values
from trusted_env.schema.hints import (
    ColumnHint,
    DateHint,
    DaysHint,
    LogNormalHint,
    NormalHint,
    Scalar,
    UniformHint,
)
from trusted_env.schema.model import Column, ColumnType

_DTYPES: dict[ColumnType, type[np.generic]] = {
    ColumnType.STRING: np.int64,  # codes into the column's vocabulary
    ColumnType.INTEGER: np.int64,
    ColumnType.FLOAT: np.float64,
    ColumnType.BOOLEAN: np.bool_,
    ColumnType.DATE: np.int32,
}


class Vocab:
    """The distinct strings of one column, in first-use order (stable for a seed)."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}

    def codes(self, labels: Sequence[str]) -> IntArray:
        for label in labels:
            self._index.setdefault(label, len(self._index))
        return np.array([self._index[label] for label in labels], dtype=np.int64)

    @property
    def values(self) -> list[str]:
        return list(self._index)


@dataclass(frozen=True)
class ColumnSpec:
    table: str
    name: str
    column: Column
    vocab: Vocab
    population: bool
    seed: int

    @property
    def where(self) -> str:
        return f"{self.table}.{self.name}"


def generate(
    spec: ColumnSpec,
    ctx: RowContext,
    hint: ColumnHint,
    rng: np.random.Generator,
    done: dict[str, ColumnData],
) -> ColumnData:
    """Values for `ctx`'s rows; `cases` split the rows, the first matching case wins."""
    if hint.per_patient is not None:
        return _per_patient(spec, ctx, hint, hint.per_patient)
    if not hint.cases:
        return _plain(spec, ctx, hint, rng, done)
    values = np.zeros(ctx.size, dtype=_DTYPES[spec.column.type])
    nulls = np.zeros(ctx.size, dtype=np.bool_)
    remaining = np.ones(ctx.size, dtype=np.bool_)
    parts: list[tuple[BoolArray, ColumnHint]] = []
    for case in hint.cases:
        chosen = remaining & matches(case.when, ctx.pop, ctx.pidx, ctx.age, spec.where)
        remaining &= ~chosen
        parts.append((chosen, case.use))
    parts.append((remaining, hint.model_copy(update={"cases": ()})))
    for chosen, part_hint in parts:
        selector = np.flatnonzero(chosen)
        if selector.size:
            sub_done = {name: data.take(selector) for name, data in done.items()}
            part = generate(spec, ctx.subset(selector), part_hint, rng, sub_done)
            values[selector] = part.values
            nulls[selector] = part.nulls
    return ColumnData(values, nulls)


def _plain(
    spec: ColumnSpec,
    ctx: RowContext,
    hint: ColumnHint,
    rng: np.random.Generator,
    done: dict[str, ColumnData],
) -> ColumnData:
    source = hint
    if not hint.sources():  # e.g. only `null_fraction`: the type's default values
        source = default_column_hint(spec.name, spec.column, population=spec.population)
    data = _from_source(spec, ctx, source, rng, done)
    if hint.null_fraction > 0:
        nulls = data.nulls | (rng.random(ctx.size) < hint.null_fraction)
        return ColumnData(data.values, nulls, data.prefix)
    return data


def _from_source(
    spec: ColumnSpec,
    ctx: RowContext,
    hint: ColumnHint,
    rng: np.random.Generator,
    done: dict[str, ColumnData],
) -> ColumnData:
    nulls = np.zeros(ctx.size, dtype=np.bool_)
    if hint.value is not None:
        return ColumnData(np.repeat(_typed(spec, [hint.value]), ctx.size), nulls)
    if hint.categorical is not None:
        picks = weighted_choice(rng, list(hint.categorical.values()), ctx.size)
        return ColumnData(_typed(spec, list(hint.categorical))[picks], nulls)
    if hint.date is not None:
        return _dates(spec, ctx, hint.date, rng, done)
    if hint.sequence is not None:
        return sequence_values(spec.where, spec.column, ctx, hint.sequence)
    if hint.age is not None:
        return age_values(spec.where, spec.column, ctx, hint.age, done)
    number = hint.normal or hint.lognormal or hint.uniform
    if number is None:
        raise hint_error(
            spec.where, "no value source", "Give value, categorical or a distribution."
        )
    return ColumnData(_as_number(spec, draw_number(number, rng, ctx.size, ctx.age)), nulls)


def _per_patient(spec: ColumnSpec, ctx: RowContext, hint: ColumnHint, key: str) -> ColumnData:
    """One value per patient, drawn once and shared by every hint with the same key."""
    pop = ctx.pop
    if key not in pop.shared:
        everyone = np.arange(pop.size, dtype=np.int64)
        patients = row_context(pop, everyone, None, ctx.label)
        rng = rng_for(spec.seed, "__per_patient__", key)
        own = hint.model_copy(update={"per_patient": None})
        data = generate(spec, patients, own, rng, {})
        strings = spec.column.type is ColumnType.STRING
        pop.shared[key] = (data, tuple(spec.vocab.values) if strings else None)
    data, vocab = pop.shared[key]
    picked = data.take(ctx.pidx)
    if vocab is None:
        return picked
    # Codes refer to the vocabulary of the column that drew them first: recode for this one.
    recode = spec.vocab.codes(list(vocab))
    return ColumnData(recode[picked.values.astype(np.int64)], picked.nulls)


def draw_number(
    hint: NormalHint | LogNormalHint | UniformHint,
    rng: np.random.Generator,
    size: int,
    age: FloatArray,
) -> FloatArray:
    if isinstance(hint, NormalHint):
        draws = rng.normal(hint.mean, hint.sd, size)
    elif isinstance(hint, LogNormalHint):
        draws = hint.median * np.exp(hint.sigma * rng.standard_normal(size))
    else:
        draws = rng.uniform(hint.min, hint.max, size)
    if hint.shift_by_age is not None:
        draws = draws + curve(hint.shift_by_age, age)
    if hint.min is not None or hint.max is not None:
        draws = np.clip(draws, hint.min, hint.max)
    return draws if hint.round is None else np.round(draws, hint.round)


def draw_days(hint: DaysHint, rng: np.random.Generator, size: int, age: FloatArray) -> IntArray:
    number = hint.normal or hint.lognormal or hint.uniform
    if number is None:
        return np.full(size, round(hint.value or 0.0), dtype=np.int64)
    return np.rint(draw_number(number, rng, size, age)).astype(np.int64)


def _as_number(spec: ColumnSpec, draws: FloatArray) -> npt.NDArray[np.generic]:
    if spec.column.type is ColumnType.INTEGER:
        return np.rint(draws).astype(np.int64)
    if spec.column.type is ColumnType.FLOAT:
        return draws
    raise hint_error(
        spec.where,
        f"a numeric distribution cannot fill a {spec.column.type.value} column",
        "Use value or categorical for strings and booleans, date for dates.",
    )


def _typed(spec: ColumnSpec, labels: Sequence[Scalar]) -> npt.NDArray[np.generic]:
    """Hint constants (YAML scalars or categorical keys) as values of the column's type."""
    kind = spec.column.type
    try:
        if kind is ColumnType.STRING:
            return spec.vocab.codes([_text(label) for label in labels])
        if kind is ColumnType.INTEGER:
            return np.array([int(str(label)) for label in labels], dtype=np.int64)
        if kind is ColumnType.FLOAT:
            return np.array([float(str(label)) for label in labels], dtype=np.float64)
        if kind is ColumnType.BOOLEAN:
            return np.array([_boolean(label) for label in labels], dtype=np.bool_)
        return np.array([_day(label) for label in labels], dtype=np.int32)
    except ValueError:
        raise hint_error(
            spec.where,
            f"values {[str(label) for label in labels]} do not fit a {kind.value} column",
            f"Give {kind.value} values.",
        ) from None


def _text(label: Scalar) -> str:
    if isinstance(label, bool):
        return "true" if label else "false"
    return str(label)


def _boolean(label: Scalar) -> bool:
    text = _text(label).lower()
    if text not in {"true", "false", "1", "0"}:
        raise ValueError(text)
    return text in {"true", "1"}


def _day(label: Scalar) -> int:
    return to_days(label if isinstance(label, date) else date.fromisoformat(str(label)))


def _dates(
    spec: ColumnSpec,
    ctx: RowContext,
    hint: DateHint,
    rng: np.random.Generator,
    done: dict[str, ColumnData],
) -> ColumnData:
    pop, pidx = ctx.pop, ctx.pidx
    days, nulls = _anchor(spec, ctx, hint, done)
    if hint.offset_days is not None:
        days = days + draw_days(hint.offset_days, rng, ctx.size, ctx.age)
    # Never before birth or after death; after the extract date a nullable date is unknown yet.
    days = np.maximum(days, pop.birth[pidx])
    days = np.minimum(days, pop.death[pidx])
    late = days > pop.as_of
    if spec.column.nullable:
        nulls = nulls | late
    days = np.minimum(days, pop.as_of)
    days = np.where(nulls, 0, days).astype(np.int32)
    return ColumnData(round_days(days, hint.round_to), nulls)


def _anchor(
    spec: ColumnSpec, ctx: RowContext, hint: DateHint, done: dict[str, ColumnData]
) -> tuple[IntArray, BoolArray]:
    pop, pidx = ctx.pop, ctx.pidx
    nulls = np.zeros(ctx.size, dtype=np.bool_)
    if hint.after is not None:
        base = done.get(hint.after)
        if base is None:
            raise hint_error(
                spec.where,
                f"'after: {hint.after}' is not an earlier date column of these rows",
                "Name another date column of the same table.",
            )
        return base.values.astype(np.int64), base.nulls.copy()
    if hint.at == "event":
        if ctx.day is None:
            raise hint_error(spec.where, "event dates are not available here", "Use at: birth.")
        return ctx.day.astype(np.int64), nulls
    if hint.at == "birth":
        return pop.birth[pidx].astype(np.int64), nulls
    if hint.at == "death":
        death = pop.death[pidx].astype(np.int64)
        return death, death == NO_DATE
    if hint.at == "record_start":
        return pop.record_start[pidx].astype(np.int64), nulls
    return pop.record_end[pidx].astype(np.int64), pop.registered[pidx].copy()
