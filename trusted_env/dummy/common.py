"""Small shared pieces of the generator: day arithmetic, seeded streams and age curves.

Dates are int32 days since 1970-01-01 throughout, so whole columns are numpy arrays and the
conversion to DuckDB DATE is a cast, not a per-row Python call.
"""

from __future__ import annotations

import functools
import zlib
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from trusted_env.errors import SpecError

DAYS_PER_YEAR = 365.25
NO_DATE = np.iinfo(np.int32).max  # "never": the death day of a living patient

IntArray = npt.NDArray[np.int64]
DayArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
AnyIntArray = npt.NDArray[np.integer[Any]]


def to_days(value: date) -> int:
    return (value - date(1970, 1, 1)).days


def rng_for(seed: int, *labels: str) -> np.random.Generator:
    """An independent random stream per (seed, labels), stable across runs and platforms.

    Each table, stream and column draws from its own stream, so adding a stream to one table
    leaves every other table's data unchanged.
    """
    keys = tuple(zlib.crc32(label.encode("utf-8")) for label in labels)
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=keys))


def curve(points: dict[float, float], ages: FloatArray) -> FloatArray:
    """Piecewise-linear age curve, constant beyond its first and last points."""
    xs = np.array(sorted(points), dtype=np.float64)
    ys = np.array([points[x] for x in sorted(points)], dtype=np.float64)
    return np.interp(ages, xs, ys)


def ages_at(birth: AnyIntArray, day: AnyIntArray | int) -> FloatArray:
    return (np.asarray(day, dtype=np.float64) - birth) / DAYS_PER_YEAR


def uniform_days(rng: np.random.Generator, low: DayArray, high: DayArray) -> DayArray:
    """One day drawn uniformly from each inclusive [low, high] interval."""
    span = (high.astype(np.int64) - low + 1).astype(np.float64)
    return (low + np.floor(rng.random(low.shape[0]) * span)).astype(np.int32)


# numpy's datetime64 unit conversions cost ~0.2 us per value; lookup tables over this range
# make calendar arithmetic on tens of millions of dates a single gather.
_CALENDAR_FIRST_YEAR = 1800
_CALENDAR_LAST_YEAR = 2300


@functools.cache
def _calendar() -> tuple[int, npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    first = to_days(date(_CALENDAR_FIRST_YEAR, 1, 1))
    stamps = np.arange(first, to_days(date(_CALENDAR_LAST_YEAR, 12, 31)) + 1).astype(
        "datetime64[D]"
    )
    month_start = stamps.astype("datetime64[M]").astype("datetime64[D]").astype(np.int32)
    years = stamps.astype("datetime64[Y]")
    year_start = years.astype("datetime64[D]").astype(np.int32)
    year = (years.astype(np.int64) + 1970).astype(np.int32)
    return first, year, month_start, year_start


def _calendar_index(days: AnyIntArray) -> IntArray:
    first, year, _, _ = _calendar()
    return np.clip(days.astype(np.int64) - first, 0, year.shape[0] - 1)


def year_of(days: AnyIntArray) -> IntArray:
    return _calendar()[1][_calendar_index(days)].astype(np.int64)


def date_in_year(year: IntArray, month: int, day_of_month: int) -> IntArray:
    """The day number of `month`-`day_of_month` in each `year`."""
    table = np.array(
        [
            to_days(date(y, month, day_of_month))
            for y in range(_CALENDAR_FIRST_YEAR, _CALENDAR_LAST_YEAR + 1)
        ],
        dtype=np.int64,
    )
    return table[np.clip(year - _CALENDAR_FIRST_YEAR, 0, table.shape[0] - 1)]


def round_days(days: AnyIntArray, unit: str) -> DayArray:
    """Round dates down to the first day of their month or year."""
    if unit == "day":
        return days.astype(np.int32)
    _, _, month_start, year_start = _calendar()
    table = month_start if unit == "month" else year_start
    result: DayArray = table[_calendar_index(days)]
    return result


def weighted_choice(rng: np.random.Generator, weights: list[float], size: int) -> IntArray:
    """Indices drawn with the given (unnormalised) weights."""
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    draws = rng.random(size) * cumulative[-1]
    picks = np.searchsorted(cumulative, draws, side="right")
    result: IntArray = np.minimum(picks, len(weights) - 1).astype(np.int64)
    return result


def apply_odds(probability: FloatArray, ratio: FloatArray) -> FloatArray:
    """Scale the odds of each probability by `ratio`; keeps results inside [0, 1]."""
    p = np.clip(probability, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = p * ratio / (1.0 - p + p * ratio)
    return np.where(p >= 1.0, 1.0, np.nan_to_num(scaled, nan=0.0))


def hint_error(where: str, problem: str, fix: str) -> SpecError:
    return SpecError(f"Generation hint at {where}: {problem}.", hint=fix)
