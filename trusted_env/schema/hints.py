"""Generation hints: how the dummy-data generator fills a schema's tables.

Hints shape the dummy data only. They are never read when validating or running a job, and they
are not part of `schema.hash` (which covers the structure). Every hint is optional: a schema with
no hints at all still generates type-correct data that respects nullability and domains.

The model
---------
The `population:` block (on any one table) sets who the patients are. The table carrying it is
the *population table*, with one row per patient, unless that table also has `spells` or
`streams` (as in a schema without a one-row-per-patient table, e.g. hospital episodes). Without
any `population:` block, the first table without `spells`/`streams` is the population table
(with default settings); if there is none, the patients exist only through the other tables.
Only string columns of a population table can be used by `where` and `by`. Patient ids are
1..N (as text in string columns). The generator first draws each patient's *timeline*: date
of birth (from an age pyramid at `as_of`, default England's), a registration *record*
(`record_start` .. `record_end`: the period the practice holds the record, ending at death, at
deregistration, or open at `as_of`), an optional date of death, and *traits*: hidden yes/no
conditions (e.g. `diabetes`) that other tables use to stay consistent with one another. The
built-in trait `dead` is true for patients who died; `registered` for those still registered at
`as_of`. Every other table is made of *streams* of rows; each row belongs to an existing patient
and has an *event date* inside that patient's window, so child rows never precede birth and
never follow death or `as_of`.

Ages: patient-level choices (traits, `who`, row counts, mortality) use the age at `as_of`;
row-level choices (column `cases`, `shift_by_age`, `yearly` probabilities) use the age on the
row's event date. Age curves (`by_age`, `annual_risk`, `shift_by_age`) map ages to values and
are linearly interpolated, constant beyond the first and last points: `{40: 0.01, 80: 0.2}`.

Probabilities and rates: a value is `base x by_age(age) x by[column][value]...`, where `by`
names population columns (e.g. `by: {sex: {male: 1.3}}`; unlisted values count as 1). Then each
trait the patient has applies its `by_trait` factor: a rate ratio for rates, an odds ratio for
probabilities (so probabilities stay below 1).

Population table (`Table.generate`)::

    generate:
      population:
        as_of: 2025-04-01          # the extract date: nothing happens after it
        ages: {"0-4": 5.4, "5-9": 5.9, ..., "90-100": 0.9}   # age-band weights at as_of
        registration: {mean_years: 12, left_fraction: 0.03}
        mortality: {years: 6, annual_risk: {0: 0.004, 50: 0.003, 80: 0.055}, by_trait: {..}}
        traits:
          diabetes: {by_age: {18: 0.005, 60: 0.13}, by: {sex: {male: 1.2}}}
          diabetes_type1: {requires: [diabetes], by_age: {0: 1.0, 40: 0.1}}

Other tables: a list of streams (a table without hints gets one stream of ~2 rows per patient)::

    generate:
      streams:
        - name: hba1c
          who: {min_age: 18}                       # a Condition, evaluated per patient
          rows: {per_year: 0.2, by_trait: {diabetes: 10}}
          window: {lookback_years: 10}
          columns:                                 # overrides of the columns' own hints
            snomedct_code: {value: "999791000000106"}
            numeric_value:
              normal: {mean: 37, sd: 5, min: 20, max: 60, round: 0}
              cases:
                - when: {having: [diabetes]}
                  use: {normal: {mean: 62, sd: 16, min: 35, max: 130, round: 0}}

`rows` takes exactly one of: `fixed: n` rows per patient; `poisson: mean` rows per patient;
`per_year: rate` (Poisson, rate times the years of the patient's window); `probability: p` (at
most one row); `yearly: {probability, start: "09-01", offset_days: ...}` (at most one row per
year, dated `start` plus the offset, e.g. a flu season); `same_as: table.stream` (the very same
patients and event dates as another stream, e.g. a vaccination also coded as a clinical event;
with `each: {fixed: n}` or `each: {poisson: mean, max: n}` every source row gives n, or
1 + Poisson(mean), rows, e.g. the diagnoses of each hospital episode). `max` caps the rows per
patient; multipliers (`by_age`, `by`, `by_trait`) apply to all kinds but `fixed` and `same_as`.
`window` narrows the event dates: `registered` (default true: inside the registration record;
false: from birth), `min_age`, `max_age`, `lookback_years`, `start`, `end`; `at: death` (or
birth, record_start, record_end) puts every row on that date of the patient, and patients
without it (the living, open records) get no rows.

A table of contiguous periods (e.g. practice registrations) uses `spells: {start: col, end: col,
count: {"1": 0.7, "2": 0.3}}`: the record is cut into that many periods; the last one ends at
`record_end` (null while still registered).

Columns (`Column.generate`, or a stream's `columns:` entry) take at most one value source:
`value` (a constant), `categorical` (value -> weight; keys must lie in the column's domain),
`normal {mean, sd}`, `lognormal {median, sigma}`, `uniform {min, max}` (numbers take `min`/`max`
clipping, `round` decimals and an additive `shift_by_age` curve), or `date` (`at:` event, birth,
death, record_start or record_end; `after:` another date column of the same rows; `offset_days:`
a distribution of days to add; `round_to:` day, month or year), `age` (the age in whole
`years` or `days` on the event date or `at:` another date column; with `since:` another date
column, the time from that date instead of from birth, e.g. a length of stay in days from
admission to discharge, null where either date is null), or `sequence` (row identifiers,
`of: row` by default: unique within a stream and equal for rows copied from it with `same_as`,
so they link tables, e.g. an episode key; `of: position` numbers the rows made from one source
row 1, 2, ...; `of: copy` gives each row made with `each` an identifier of its own, unique in
the dataset, which rows copied in turn from these rows see as `of: row` (e.g. the later
episodes of a spell: `of: row` is the spell, `of: copy` the episode, and their diagnoses'
`of: row` that episode); optional `start` and string `prefix`). `null_fraction` blanks
that share of values (nullable columns only). `cases` is a list of `{when: Condition, use:
ColumnHint}`; the first matching case wins. `per_patient: key` draws the value once per
patient and reuses it on all that patient's rows, in every table whose hint uses the same key
(so e.g. `sex` agrees across hospital tables; ages in its cases are at `as_of`). A date that
would fall after `as_of` is null if the column is nullable (an ongoing stay), else clipped;
dates never fall after death.

Without a hint: the patient-id column gets existing patient ids; a string column with a domain
takes its values uniformly; other strings are `<column>_<n>`; integers are uniform in 0..100,
floats normal (50, 15), booleans fair coins, and dates the row's event date (a population date
column whose name contains `birth` or `death` gets that date). Nullable columns get 5% nulls.

A Condition (`who`, `when`) matches when all its parts hold: `having` (all these traits),
`not_having` (none of them), `where` ({population column: [allowed values]}), `min_age`
(inclusive) and `max_age` (exclusive).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

DEFAULT_AS_OF = date(2025, 4, 1)

_NAME = r"^[a-z][a-z0-9_]*$"
_BAND = re.compile(r"^(\d{1,3})-(\d{1,3})$")
BUILTIN_TRAITS = ("dead", "registered")
RowKind = Literal["fixed", "poisson", "per_year", "probability", "yearly", "same_as"]


def _keys_to_str(value: Any) -> Any:
    """YAML reads `44054006: 0.9` or `true: 0.5` with non-string keys; codes are strings."""
    if isinstance(value, dict):
        return {_scalar_text(key): item for key, item in value.items()}
    return value


def _scalar_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _texts(value: Any) -> Any:
    """`where` values: one value or a list, compared as text (YAML may read `1` as a number)."""
    return [_scalar_text(item) for item in (value if isinstance(value, list) else [value])]


def _check_weights(value: dict[str, float]) -> dict[str, float]:
    if not value:
        raise ValueError("needs at least one value")
    if any(weight < 0 for weight in value.values()) or sum(value.values()) <= 0:
        raise ValueError("weights must be non-negative with a positive total")
    return value


def _check_curve(value: dict[float, float]) -> dict[float, float]:
    if not value:
        raise ValueError("an age curve needs at least one point")
    if any(age < 0 for age in value):
        raise ValueError("ages must be non-negative")
    return value


Weights = Annotated[dict[str, float], BeforeValidator(_keys_to_str), AfterValidator(_check_weights)]
Factors = Annotated[dict[str, float], BeforeValidator(_keys_to_str)]
AgeCurve = Annotated[dict[float, float], AfterValidator(_check_curve)]
Texts = Annotated[tuple[str, ...], BeforeValidator(_texts)]
Scalar = str | bool | int | float | date


class _Hint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Hint):
    """Which patients (or rows) something applies to; every given part must hold."""

    having: tuple[str, ...] = ()
    not_having: tuple[str, ...] = ()
    where: dict[str, Texts] = Field(default_factory=dict)
    min_age: float | None = Field(default=None, ge=0)
    max_age: float | None = Field(default=None, ge=0)


class _Scaled(_Hint):
    """Multipliers shared by traits, row counts and mortality (see the module docstring)."""

    by_age: AgeCurve | None = None
    by: dict[str, Factors] = Field(default_factory=dict)
    by_trait: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_factors(self) -> _Scaled:
        factors = [f for table in self.by.values() for f in table.values()]
        factors += list(self.by_trait.values())
        factors += list(self.by_age.values()) if self.by_age else []
        if any(f < 0 for f in factors):
            raise ValueError("multipliers must be non-negative")
        return self


class _Numeric(_Hint):
    min: float | None = None
    max: float | None = None
    round: int | None = Field(default=None, ge=0, le=6)
    shift_by_age: AgeCurve | None = None


class NormalHint(_Numeric):
    mean: float
    sd: float = Field(ge=0)


class LogNormalHint(_Numeric):
    median: float = Field(gt=0)
    sigma: float = Field(ge=0)


class UniformHint(_Numeric):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> UniformHint:
        if self.max < self.min:
            raise ValueError("uniform needs min <= max")
        return self


class DaysHint(_Hint):
    """A number of days: a constant or a distribution (rounded to whole days)."""

    value: float | None = None
    normal: NormalHint | None = None
    lognormal: LogNormalHint | None = None
    uniform: UniformHint | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DaysHint:
        given = [self.value, self.normal, self.lognormal, self.uniform]
        if sum(item is not None for item in given) != 1:
            raise ValueError("give exactly one of value, normal, lognormal, uniform")
        return self


DateAnchor = Literal["event", "birth", "death", "record_start", "record_end"]


class DateHint(_Hint):
    at: DateAnchor = "event"
    after: str | None = Field(default=None, description="Another date column of the same rows.")
    offset_days: DaysHint | None = None
    round_to: Literal["day", "month", "year"] = "day"

    @model_validator(mode="after")
    def _after_needs_event(self) -> DateHint:
        if self.after is not None and self.at != "event":
            raise ValueError("'after' and 'at' cannot be combined")
        return self


class SequenceHint(_Hint):
    """Row identifiers: `row` numbers each drawn row (shared by rows copied with same_as);
    `position` numbers the rows made from one source row (1, 2, ...); `copy` numbers each
    row made with `each` on its own (otherwise the same as `row`)."""

    of: Literal["row", "position", "copy"] = "row"
    start: int = Field(default=1, ge=0)
    prefix: str = ""


class AgeHint(_Hint):
    """The patient's age on the row's event date, or on another date column of the row;
    with `since` (another date column), the time from that date instead of from birth."""

    at: str = "event"
    unit: Literal["years", "days"] = "years"
    since: str | None = None


class ColumnHint(_Hint):
    """How one column's values are drawn (see the module docstring)."""

    value: Scalar | None = None
    categorical: Weights | None = None
    normal: NormalHint | None = None
    lognormal: LogNormalHint | None = None
    uniform: UniformHint | None = None
    date: DateHint | None = None
    sequence: SequenceHint | None = None
    age: AgeHint | None = None
    null_fraction: float = Field(default=0.0, ge=0, le=1)
    per_patient: str | None = Field(default=None, pattern=_NAME)
    cases: tuple[Case, ...] = ()

    @model_validator(mode="after")
    def _one_source(self) -> ColumnHint:
        if len(self.sources()) > 1:
            raise ValueError(f"give at most one of {', '.join(self.sources())}")
        if self.sequence is not None and (self.cases or self.per_patient):
            raise ValueError("a sequence takes no cases and is not per_patient")
        return self

    def sources(self) -> list[str]:
        names = (
            "value", "categorical", "normal", "lognormal", "uniform", "date", "sequence", "age",
        )  # fmt: skip
        return [name for name in names if getattr(self, name) is not None]


class Case(_Hint):
    when: Condition
    use: ColumnHint


class YearlyHint(_Hint):
    probability: float = Field(ge=0, le=1)
    start: str = Field(default="01-01", pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    offset_days: DaysHint = DaysHint(uniform=UniformHint(min=0, max=364))


class EachHint(_Hint):
    """Rows made from each source row of a same_as stream: `fixed` or 1 + Poisson(`poisson`)."""

    fixed: int | None = Field(default=None, ge=1)
    poisson: float | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> EachHint:
        if (self.fixed is None) == (self.poisson is None):
            raise ValueError("give exactly one of fixed, poisson")
        return self


class RowsHint(_Scaled):
    """How many rows each eligible patient gets: exactly one of the kinds below."""

    fixed: int | None = Field(default=None, ge=0)
    poisson: float | None = Field(default=None, ge=0)
    per_year: float | None = Field(default=None, ge=0)
    probability: float | None = Field(default=None, ge=0, le=1)
    yearly: YearlyHint | None = None
    same_as: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    each: EachHint | None = None
    max: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> RowsHint:
        if len(self.kinds()) != 1:
            raise ValueError(
                "give exactly one of fixed, poisson, per_year, probability, yearly, same_as"
            )
        if self.each is not None and self.same_as is None:
            raise ValueError("'each' applies to same_as streams only")
        return self

    def kinds(self) -> list[RowKind]:
        names: tuple[RowKind, ...] = (
            "fixed", "poisson", "per_year", "probability", "yearly", "same_as",
        )  # fmt: skip
        return [name for name in names if getattr(self, name) is not None]

    @property
    def kind(self) -> RowKind:
        return self.kinds()[0]


class WindowHint(_Hint):
    registered: bool = True
    at: Literal["birth", "death", "record_start", "record_end"] | None = None
    min_age: float | None = Field(default=None, ge=0)
    max_age: float | None = Field(default=None, ge=0)
    lookback_years: float | None = Field(default=None, gt=0)
    start: date | None = None
    end: date | None = None


class StreamHint(_Hint):
    name: str = Field(pattern=_NAME)
    who: Condition = Condition()
    rows: RowsHint
    window: WindowHint = WindowHint()
    columns: dict[str, ColumnHint] = Field(default_factory=dict)


class TraitHint(_Scaled):
    probability: float = Field(default=1.0, ge=0, le=1)
    requires: tuple[str, ...] = ()


class MortalityHint(_Scaled):
    years: float = Field(default=5.0, ge=0, le=50)
    annual_risk: AgeCurve | None = Field(default=None, description="None: England's.")


class RegistrationHint(_Hint):
    mean_years: float = Field(default=12.0, gt=0)
    left_fraction: float = Field(default=0.03, ge=0, le=1)


class PopulationHint(_Hint):
    as_of: date = DEFAULT_AS_OF
    ages: Weights | None = Field(default=None, description="None: England's age pyramid.")
    registration: RegistrationHint = RegistrationHint()
    mortality: MortalityHint = MortalityHint()
    traits: dict[str, TraitHint] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> PopulationHint:
        for band in self.ages or {}:
            if not (found := _BAND.match(band)) or int(found[1]) > int(found[2]):
                raise ValueError(f"age band '{band}' must look like '40-44' (years, inclusive)")
        for name in self.traits:
            if not re.match(_NAME, name) or name in BUILTIN_TRAITS:
                raise ValueError(f"trait name '{name}' is invalid or reserved")
        return self


class SpellsHint(_Hint):
    start: str
    end: str
    count: Weights = Field(default_factory=lambda: {"1": 1.0})

    @model_validator(mode="after")
    def _counts(self) -> SpellsHint:
        if not all(key.isdigit() and 1 <= int(key) <= 50 for key in self.count):
            raise ValueError("spell counts must be whole numbers from 1 to 50")
        return self


class TableHint(_Hint):
    """How a table's rows are made (spells or streams) and, on one table, the population."""

    population: PopulationHint | None = None
    spells: SpellsHint | None = None
    streams: tuple[StreamHint, ...] = ()

    @model_validator(mode="after")
    def _one_shape(self) -> TableHint:
        if self.spells is not None and self.streams:
            raise ValueError("give spells or streams, not both")
        names = [stream.name for stream in self.streams]
        if len(set(names)) != len(names):
            raise ValueError("stream names must be distinct within a table")
        return self


ColumnHint.model_rebuild()
