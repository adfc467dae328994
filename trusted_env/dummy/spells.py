"""Contiguous periods (e.g. practice registrations) that tile each patient's record."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trusted_env.dummy.common import BoolArray, DayArray, IntArray, rng_for, weighted_choice
from trusted_env.dummy.context import Population
from trusted_env.schema.hints import SpellsHint

_MIN_SPELL_DAYS = 30


@dataclass(frozen=True)
class Spells:
    pidx: IntArray
    start: DayArray
    end: DayArray
    open_end: BoolArray  # the last period of a patient still registered: no end date yet
    ordinal: IntArray  # row number in the table
    position: IntArray  # period number within the patient's record: 1, 2, ...


def draw_spells(pop: Population, hint: SpellsHint, table: str, seed: int) -> Spells:
    """Cut each record into 1..n periods at random days; each ends the day before the next."""
    rng = rng_for(seed, table, "__spells__")
    low = pop.record_start.astype(np.int64)
    high = pop.record_end.astype(np.int64)
    pidx, start = _starts(rng, hint, low, high)
    last = np.ones(pidx.size, dtype=np.bool_)
    last[:-1] = pidx[1:] != pidx[:-1]
    following = np.zeros_like(start)  # the last entry is always a `last` row, never used
    following[:-1] = start[1:] - 1
    end = np.where(last, high[pidx], following)
    open_end = last & pop.registered[pidx]
    ordinal = np.arange(pidx.size, dtype=np.int64)
    first_row = np.maximum.accumulate(np.where(_first_of_patient(pidx), ordinal, 0))
    position = ordinal - first_row + 1
    return Spells(pidx, start.astype(np.int32), end.astype(np.int32), open_end, ordinal, position)


def _starts(
    rng: np.random.Generator, hint: SpellsHint, low: IntArray, high: IntArray
) -> tuple[IntArray, IntArray]:
    """Sorted, distinct start days of each patient's periods; the first is the record start."""
    options = np.array([int(key) for key in hint.count], dtype=np.int64)
    wanted = options[weighted_choice(rng, list(hint.count.values()), low.size)]
    # Short records cannot hold many periods; keep them at least about a month each.
    count = np.clip(np.minimum(wanted, 1 + (high - low) // _MIN_SPELL_DAYS), 1, None)
    pidx = np.repeat(np.arange(low.size, dtype=np.int64), count)
    cuts = low[pidx] + 1 + np.floor(rng.random(pidx.size) * (high - low)[pidx]).astype(np.int64)
    start = np.where(_first_of_patient(pidx), low[pidx], cuts)
    order = np.lexsort((start, pidx))
    pidx, start = pidx[order], start[order]
    distinct = np.ones(pidx.size, dtype=np.bool_)
    distinct[1:] = (pidx[1:] != pidx[:-1]) | (start[1:] != start[:-1])
    return pidx[distinct], start[distinct]


def _first_of_patient(pidx: IntArray) -> BoolArray:
    first = np.ones(pidx.size, dtype=np.bool_)
    first[1:] = pidx[1:] != pidx[:-1]
    return first
