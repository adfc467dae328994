"""The patients every table refers to, the rows being filled, and the values of one column."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from trusted_env.dummy.common import BoolArray, DayArray, FloatArray, IntArray


@dataclass(frozen=True)
class Category:
    """A categorical population column: codes index `vocab`, -1 where the value is null."""

    codes: IntArray
    vocab: tuple[str, ...]


@dataclass(frozen=True)
class ColumnData:
    """One column's values for a batch of rows.

    For string columns `values` are codes into the column's vocabulary, or, when `prefix` is
    set, numbers to be written as `prefix` + number (identifiers too many for a vocabulary).
    """

    values: npt.NDArray[np.generic]
    nulls: BoolArray
    prefix: str | None = None

    def take(self, selector: IntArray) -> ColumnData:
        return ColumnData(self.values[selector], self.nulls[selector], self.prefix)


@dataclass
class Population:
    """One entry per patient; child tables index these arrays with a patient index."""

    table: str
    as_of: int
    ids: IntArray
    birth: DayArray
    death: DayArray  # NO_DATE for patients alive at `as_of`
    record_start: DayArray
    record_end: DayArray  # `as_of` for records still open
    traits: dict[str, BoolArray] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    # `per_patient` values: drawn once, with the vocabulary their codes refer to (strings).
    shared: dict[str, tuple[ColumnData, tuple[str, ...] | None]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])

    @property
    def registered(self) -> BoolArray:
        """Still registered at `as_of`: the record is open."""
        return self.traits["registered"]

    def age_at_as_of(self, pidx: IntArray) -> FloatArray:
        return (self.as_of - self.birth[pidx].astype(np.float64)) / 365.25


@dataclass(frozen=True)
class RowContext:
    """The rows being generated: whose they are, their event dates and the ages used by rules.

    `age` is the age on the event date for child rows and the age at `as_of` for population
    rows; `day` is None while the population's timeline is still being drawn. `ordinal`,
    `position` and `serial` number the rows for `sequence` hints (see `rows.StreamRows`).
    """

    pop: Population
    pidx: IntArray
    day: DayArray | None
    age: FloatArray
    label: str
    ordinal: IntArray
    position: IntArray
    serial: IntArray

    @property
    def size(self) -> int:
        return int(self.pidx.shape[0])

    def subset(self, selector: IntArray) -> RowContext:
        return RowContext(
            pop=self.pop,
            pidx=self.pidx[selector],
            day=None if self.day is None else self.day[selector],
            age=self.age[selector],
            label=self.label,
            ordinal=self.ordinal[selector],
            position=self.position[selector],
            serial=self.serial[selector],
        )


def row_context(
    pop: Population,
    pidx: IntArray,
    day: DayArray | None,
    label: str,
    numbering: tuple[IntArray, IntArray] | None = None,
    *,
    ages_at_as_of: bool = False,
    serial: IntArray | None = None,
) -> RowContext:
    """Rows of `pidx` on `day`, with ages on that day (or at `as_of`, as for population rows).

    `numbering` is (ordinal, position); `serial` defaults to the ordinal.
    """
    if day is None or ages_at_as_of:
        age = pop.age_at_as_of(pidx)
    else:
        age = (day - pop.birth[pidx].astype(np.float64)) / 365.25
    ordinal, position = numbering or (
        np.arange(pidx.size, dtype=np.int64),
        np.ones(pidx.size, dtype=np.int64),
    )
    return RowContext(
        pop, pidx, day, age, label, ordinal, position, ordinal if serial is None else serial
    )
