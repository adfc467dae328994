"""Which patients get rows in a stream, how many, and on which event dates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trusted_env.dummy.common import (
    DAYS_PER_YEAR,
    NO_DATE,
    DayArray,
    FloatArray,
    IntArray,
    ages_at,
    date_in_year,
    rng_for,
    to_days,
    uniform_days,
    year_of,
)
from trusted_env.dummy.conditions import matches, scaled
from trusted_env.dummy.context import Population
from trusted_env.dummy.values import draw_days
from trusted_env.schema.hints import EachHint, RowsHint, StreamHint, WindowHint


@dataclass(frozen=True)
class StreamRows:
    """Rows of one stream: the patient (index into the population) and the event date.

    `ordinal` identifies the drawn row (rows copied with same_as keep their source's) and
    `position` numbers the rows made from one source row (1 for rows drawn directly).
    `serial` identifies the row itself: the ordinal, except for rows made with `each`, which get
    a fresh one each; rows copied from those take it as their ordinal (e.g. the diagnoses of
    the second episode of a hospital spell link to that episode, not to the spell).
    """

    pidx: IntArray
    day: DayArray
    ordinal: IntArray
    position: IntArray
    serial: IntArray

    @classmethod
    def drawn(cls, pidx: IntArray, day: DayArray) -> StreamRows:
        size = pidx.size
        ones = np.ones(size, dtype=np.int64)
        numbers = np.arange(size, dtype=np.int64)
        return cls(pidx, day, numbers, ones, numbers)

    def take(self, selector: IntArray) -> StreamRows:
        return StreamRows(
            self.pidx[selector],
            self.day[selector],
            self.ordinal[selector],
            self.position[selector],
            self.serial[selector],
        )

    def numbered_from(self, first: int, *, fresh: bool) -> StreamRows:
        """Identifiers offset by `first`, so they are unique in the dataset: ordinals and serials
        of rows drawn directly; only the serials of rows made with `each` (`fresh`), whose
        ordinals link to their source rows."""
        if fresh:
            return StreamRows(self.pidx, self.day, self.ordinal, self.position, self.serial + first)
        return StreamRows(
            self.pidx, self.day, self.ordinal + first, self.position, self.serial + first
        )


SameAs = Callable[[str], StreamRows]


def window_bounds(pop: Population, window: WindowHint) -> tuple[IntArray, IntArray]:
    """Each patient's inclusive [low, high] range of event dates; empty when low > high."""
    if window.registered:
        low = pop.record_start.astype(np.int64)
        high = pop.record_end.astype(np.int64)
    else:
        low = pop.birth.astype(np.int64)
        high = np.minimum(pop.death.astype(np.int64), pop.as_of)
    birth = pop.birth.astype(np.int64)
    if window.at is not None:
        low, high = _on(pop, window.at, low, high)
    if window.min_age is not None:
        low = np.maximum(low, birth + int(np.ceil(window.min_age * DAYS_PER_YEAR)))
    if window.max_age is not None:
        high = np.minimum(high, birth + int(np.floor(window.max_age * DAYS_PER_YEAR)) - 1)
    if window.lookback_years is not None:
        low = np.maximum(low, pop.as_of - int(window.lookback_years * DAYS_PER_YEAR))
    if window.start is not None:
        low = np.maximum(low, to_days(window.start))
    if window.end is not None:
        high = np.minimum(high, to_days(window.end))
    return low, high


def _on(pop: Population, anchor: str, low: IntArray, high: IntArray) -> tuple[IntArray, IntArray]:
    """Collapse the window to one date of the patient (empty if the patient has none)."""
    dates = {
        "birth": pop.birth,
        "death": pop.death,
        "record_start": pop.record_start,
        "record_end": pop.record_end,
    }
    day = dates[anchor].astype(np.int64)
    exists = day != NO_DATE if anchor == "death" else ~pop.registered | (anchor != "record_end")
    inside = exists & (day >= low) & (day <= high)
    return np.where(inside, day, 1), np.where(inside, day, 0)


def draw_rows(
    stream: StreamHint, pop: Population, table: str, seed: int, same_as: SameAs
) -> StreamRows:
    rng = rng_for(seed, table, stream.name, "__rows__")
    where = f"{table}.generate.streams.{stream.name}"
    everyone = np.arange(pop.size, dtype=np.int64)
    age = pop.age_at_as_of(everyone)
    if stream.rows.same_as is not None:
        source = same_as(stream.rows.same_as)
        keep = matches(stream.who, pop, source.pidx, age[source.pidx], where)
        return _each(source.take(np.flatnonzero(keep)), stream.rows.each, rng)
    low, high = window_bounds(pop, stream.window)
    eligible = matches(stream.who, pop, everyone, age, where) & (low <= high)
    idx = np.flatnonzero(eligible).astype(np.int64)
    if stream.rows.yearly is not None:
        return _yearly(stream.rows, pop, idx, (low[idx], high[idx]), rng, where)
    counts = _counts(stream.rows, pop, idx, age[idx], (low[idx], high[idx]), rng, where)
    pidx = np.repeat(idx, counts)
    owner = np.repeat(np.arange(idx.size), counts)
    day = uniform_days(rng, low[idx][owner].astype(np.int32), high[idx][owner].astype(np.int32))
    return StreamRows.drawn(pidx, day)


def _each(source: StreamRows, each: EachHint | None, rng: np.random.Generator) -> StreamRows:
    """Copy the source rows; with `each`, every source row gives several numbered rows."""
    if each is None:
        return source
    if each.fixed is not None:
        counts = np.full(source.pidx.size, each.fixed, dtype=np.int64)
    else:
        counts = 1 + rng.poisson(each.poisson or 0.0, source.pidx.size).astype(np.int64)
    if each.max is not None:
        counts = np.minimum(counts, each.max)
    owner = np.repeat(np.arange(source.pidx.size), counts)
    first_of_owner = np.repeat(np.cumsum(counts) - counts, counts)
    expanded = source.take(owner)
    position = np.arange(owner.size, dtype=np.int64) - first_of_owner + 1
    # Each new row links to its source row (its serial) and has a serial of its own, which
    # the caller makes unique in the dataset.
    serial = np.arange(owner.size, dtype=np.int64)
    return StreamRows(expanded.pidx, expanded.day, expanded.serial, position, serial)


def _counts(
    rows: RowsHint,
    pop: Population,
    idx: IntArray,
    age: FloatArray,
    bounds: tuple[IntArray, IntArray],
    rng: np.random.Generator,
    where: str,
) -> IntArray:
    size = idx.size
    if rows.fixed is not None:
        counts = np.full(size, rows.fixed, dtype=np.int64)
    elif rows.probability is not None:
        chance = scaled(rows, rows.probability, (pop, idx, age), where, probability=True)
        counts = (rng.random(size) < chance).astype(np.int64)
    else:
        rate = rows.poisson if rows.poisson is not None else rows.per_year
        mean = scaled(rows, rate or 0.0, (pop, idx, age), where, probability=False)
        if rows.per_year is not None:
            low, high = bounds
            mean = mean * (high - low + 1) / DAYS_PER_YEAR
        counts = rng.poisson(mean).astype(np.int64)
    return counts if rows.max is None else np.minimum(counts, rows.max)


def _yearly(
    rows: RowsHint,
    pop: Population,
    idx: IntArray,
    bounds: tuple[IntArray, IntArray],
    rng: np.random.Generator,
    where: str,
) -> StreamRows:
    """At most one row per patient per yearly season that overlaps the patient's window."""
    yearly = rows.yearly
    if yearly is None:
        raise ValueError("a yearly stream needs its yearly settings")
    low, high = bounds
    first = year_of(low) - 1  # a season starting the year before may reach into the window
    count = year_of(high) - first + 1
    owner = np.repeat(np.arange(idx.size), count)
    year = first[owner] + np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
    month, day_of_month = (int(part) for part in yearly.start.split("-"))
    start = date_in_year(year, month, day_of_month)
    patient = idx[owner]
    day = start + draw_days(yearly.offset_days, rng, owner.size, ages_at(pop.birth[patient], start))
    inside = np.flatnonzero((day >= low[owner]) & (day <= high[owner]))
    patient, day = patient[inside], day[inside]
    ages = ages_at(pop.birth[patient], day)
    chance = scaled(rows, yearly.probability, (pop, patient, ages), where, probability=True)
    keep = rng.random(patient.size) < chance
    return StreamRows.drawn(patient[keep], day[keep].astype(np.int32))
