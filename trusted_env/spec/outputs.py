"""Output declarations: the aggregates a job releases, each over the cohort.

Every field that affects privacy (bounds, resolution, bins, keys) is declared here, never read
from data. Validation is strict: unknown fields are refused so that typos do not silently fall
back to defaults.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=63)]
MAX_QUANTILE_CANDIDATES = 100_000
MAX_CELLS_PER_OUTPUT = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupBy(_Strict):
    """A cohort column to group by, with where its keys come from.

    Exactly one source: `keys` listed in the spec, `keys_from` a schema column's public domain
    (`table.column`), or `keys_from_data`, which reveals only keys that pass OpenDP's noisy
    threshold and needs a delta.
    """

    column: Identifier
    keys: tuple[str, ...] | None = None
    keys_from: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    keys_from_data: bool = False

    @model_validator(mode="after")
    def _exactly_one_source(self) -> GroupBy:
        sources = [self.keys is not None, self.keys_from is not None, self.keys_from_data]
        if sum(sources) != 1:
            raise ValueError(
                f"group_by column '{self.column}' needs exactly one of keys (listed in the spec), "
                "keys_from (a schema column with a domain, e.g. patients.region) or "
                "keys_from_data: true (needs a delta in the budget)"
            )
        if self.keys is not None and (not self.keys or len(set(self.keys)) != len(self.keys)):
            raise ValueError(f"keys of '{self.column}' must be distinct and not empty")
        return self


class _OutputBase(_Strict):
    name: Identifier
    description: str = ""
    group_by: tuple[GroupBy, ...] = ()
    where: Identifier | None = Field(
        default=None, description="A boolean cohort column: only rows where it is true count."
    )
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)

    @property
    def group_columns(self) -> tuple[str, ...]:
        return tuple(group.column for group in self.group_by)

    def columns_used(self) -> tuple[str, ...]:
        """Cohort columns this output reads."""
        where = (self.where,) if self.where is not None else ()
        return (*self.group_columns, *where)

    @property
    def uses_data_keys(self) -> bool:
        return any(group.keys_from_data for group in self.group_by)

    @model_validator(mode="after")
    def _distinct_group_columns(self) -> _OutputBase:
        if len(set(self.group_columns)) != len(self.group_columns):
            raise ValueError(f"output '{self.name}' groups by the same column twice")
        return self


class CountOutput(_OutputBase):
    """Number of patients in the cohort (or in each group)."""

    type: Literal["count"]


class _ValueOutput(_OutputBase):
    column: Identifier
    nulls: Literal["drop", "impute"] = Field(
        description="drop: leave out rows where the value is null; impute: use impute_value"
    )
    impute_value: float | None = Field(default=None, allow_inf_nan=False)

    def columns_used(self) -> tuple[str, ...]:
        return (*super().columns_used(), self.column)

    @model_validator(mode="after")
    def _impute_value_matches_policy(self) -> _ValueOutput:
        if self.nulls == "impute" and self.impute_value is None:
            raise ValueError(f"output '{self.name}': nulls: impute needs an impute_value")
        if self.nulls == "drop" and self.impute_value is not None:
            raise ValueError(f"output '{self.name}': impute_value is only used with nulls: impute")
        return self


def _grid_units(value: float, resolution: float, what: str) -> int:
    units = value / resolution
    if not math.isfinite(units):
        raise ValueError(f"{what} {value} is too far from 0 for the resolution {resolution}")
    if not math.isclose(units, round(units), rel_tol=0, abs_tol=1e-9):
        raise ValueError(f"{what} {value} is not a multiple of the resolution {resolution}")
    return round(units)


class _BoundedOutput(_ValueOutput):
    """A numeric aggregate: values are clamped to public bounds on a public grid.

    Values are rounded to `resolution` and summed as integers: integer sums need far less
    noise than float sums for the same epsilon (see DESIGN.md).
    """

    bounds: tuple[float, float] = Field(description="Public clamping bounds [lower, upper].")
    resolution: float = Field(gt=0, allow_inf_nan=False, description="Grid step of the values.")

    @model_validator(mode="after")
    def _bounds_on_grid(self) -> _BoundedOutput:
        lower, upper = self.bounds
        if not (math.isfinite(lower) and math.isfinite(upper)) or lower >= upper:
            raise ValueError(f"output '{self.name}': bounds must be finite with lower < upper")
        self.bounds_in_units()
        if self.impute_value is not None:
            _grid_units(self.impute_value, self.resolution, "impute_value")
        return self

    def bounds_in_units(self) -> tuple[int, int]:
        lower, upper = self.bounds
        return (
            _grid_units(lower, self.resolution, "lower bound"),
            _grid_units(upper, self.resolution, "upper bound"),
        )


class SumOutput(_BoundedOutput):
    type: Literal["sum"]


class MeanOutput(_BoundedOutput):
    """Mean of a bounded value; a proportion is the mean of a 0/1 column with bounds [0, 1]."""

    type: Literal["mean"]


class QuantileOutput(_BoundedOutput):
    """A quantile chosen among the grid points of the bounds by OpenDP's exponential mechanism."""

    type: Literal["quantile", "median"]
    quantile: float = Field(default=0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _median_is_half_and_grid_is_small(self) -> QuantileOutput:
        if self.type == "median" and self.quantile != 0.5:
            raise ValueError(f"output '{self.name}': a median has quantile 0.5")
        lower, upper = self.bounds_in_units()
        if upper - lower + 1 > MAX_QUANTILE_CANDIDATES:
            raise ValueError(
                f"output '{self.name}': bounds and resolution give {upper - lower + 1} candidate "
                f"values; use a coarser resolution (at most {MAX_QUANTILE_CANDIDATES})"
            )
        return self


class HistogramOutput(_ValueOutput):
    """Counts of patients per declared bin [edge_i, edge_i+1); below and above get bins too."""

    type: Literal["histogram"]
    bins: tuple[float, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _edges_increase(self) -> HistogramOutput:
        if any(not math.isfinite(edge) for edge in self.bins):
            raise ValueError(f"output '{self.name}': bin edges must be finite")
        if any(b <= a for a, b in zip(self.bins, self.bins[1:], strict=False)):
            raise ValueError(f"output '{self.name}': bin edges must be strictly increasing")
        return self

    def bin_labels(self) -> tuple[str, ...]:
        edges = [_format_edge(edge) for edge in self.bins]
        inner = [f"[{a}, {b})" for a, b in itertools.pairwise(edges)]
        return (f"< {edges[0]}", *inner, f">= {edges[-1]}")


def _format_edge(edge: float) -> str:
    return str(int(edge)) if float(edge).is_integer() else repr(edge)


Output = Annotated[
    CountOutput | SumOutput | MeanOutput | QuantileOutput | HistogramOutput,
    Field(discriminator="type"),
]
