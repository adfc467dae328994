"""Import rules: how each table of a dataset schema is loaded from a CSV extract.

The rules sit beside the schema rather than inside it, so the schema stays the one description
of what a dataset contains while the rules say how one kind of extract maps onto it. The rule
language is small and declarative on purpose: a column comes `from` a source column or is
`derive`d from other columns, and a value goes through, in order, trimming, `nulls` (declared
placeholders), `map` (codes to loaded values), the type of the schema column, then the checks
`pattern`, `min`/`max` and the schema's domain. Nothing in a rules file is executed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trusted_env.canonical import sha256_hex

SOURCE_COLUMN = r"^[^\x00-\x1f\"]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CsvFormat(_Strict):
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote: str = Field(default='"', min_length=1, max_length=1)
    encoding: Literal["utf-8", "latin-1", "utf-16"] = "utf-8"


class DaysBetween(_Strict):
    start: str = Field(description="Date column (of this table) the interval starts at.")
    end: str = Field(description="Date column (of this table) the interval ends at.")


class Derivation(_Strict):
    """A column computed from other loaded columns of the same row (exactly one kind)."""

    days_between: DaysBetween | None = Field(
        default=None, description="Whole days from `start` to `end`; null if either is null."
    )
    hash_of: tuple[str, ...] | None = Field(
        default=None,
        min_length=1,
        description="A stable key: MD5 of the listed columns' values; null if any is null.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Derivation:
        if (self.days_between is None) == (self.hash_of is None):
            raise ValueError("declare exactly one of days_between or hash_of")
        return self

    def inputs(self) -> tuple[str, ...]:
        if self.days_between is not None:
            return (self.days_between.start, self.days_between.end)
        return self.hash_of or ()


class ColumnRule(_Strict):
    source: str | None = Field(
        default=None, alias="from", pattern=SOURCE_COLUMN, description="Source CSV column."
    )
    derive: Derivation | None = None
    drop_zero_decimals: bool = Field(
        default=False,
        description="Read a whole number written as a decimal (7005.0) as the integer (7005) "
        "before `nulls` and `map` see it.",
    )
    nulls: dict[str, str] = Field(
        default_factory=dict,
        description="Placeholder values that mean 'no value', each with its meaning.",
    )
    map: dict[str, str] | None = Field(
        default=None, description="Source code -> value loaded (before the type conversion)."
    )
    unmapped: Literal["reject", "null", "keep"] = Field(
        default="reject",
        description="A value missing from `map`: invalid (reject), declared null, or kept as is.",
    )
    pattern: str | None = Field(default=None, description="Regex a string value must match.")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _shape(self) -> ColumnRule:
        if self.source is not None and self.derive is not None:
            raise ValueError("a column is either `from` a source column or `derive`d, not both")
        if self.derive is not None and (self.nulls or self.map or self.drop_zero_decimals):
            raise ValueError("nulls, map and drop_zero_decimals apply to source values only")
        if self.map is None and self.unmapped != "reject":
            raise ValueError("`unmapped` needs a `map`")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        return self


class Unpivot(_Strict):
    """Rows made from the repeated columns of each loaded row of another table."""

    of: str = Field(description="The table whose loaded rows supply the cells.")
    cells: tuple[str, ...] = Field(min_length=1, description="Source columns, in position order.")
    position: str = Field(description="Column receiving the 1-based position of the cell.")
    value: str = Field(description="Column receiving the cell's value (rules in `columns`).")
    carry: tuple[str, ...] = Field(description="Columns copied from the row of `of`.")

    @model_validator(mode="after")
    def _distinct_cells(self) -> Unpivot:
        if len(set(self.cells)) != len(self.cells):
            raise ValueError("cells must be distinct")
        return self


class TableRule(_Strict):
    files: str | None = Field(
        default=None, description="Glob of the extract's file names for this table."
    )
    unique: tuple[str, ...] = Field(
        default=(),
        description="Columns whose combined value identifies a row; later "
        "duplicates (in file order) are rejected.",
    )
    unpivot: Unpivot | None = None
    columns: dict[str, ColumnRule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> TableRule:
        if (self.files is None) == (self.unpivot is None):
            raise ValueError("declare exactly one of `files` (read from CSV) or `unpivot`")
        if self.unpivot is not None and self.unique:
            raise ValueError("`unique` applies to tables read from files")
        return self


class ImportRules(_Strict):
    schema_name: str = Field(alias="schema", description="Name of the dataset schema.")
    schema_version: int = Field(ge=1)
    description: str = ""
    csv: CsvFormat = Field(default_factory=CsvFormat)
    tables: dict[str, TableRule]

    @property
    def hash(self) -> str:
        return sha256_hex(self.model_dump(mode="json", by_alias=True))

    def file_tables(self) -> list[str]:
        return [name for name, rule in self.tables.items() if rule.files is not None]

    def children_of(self, table: str) -> list[str]:
        return [
            name
            for name, rule in self.tables.items()
            if rule.unpivot is not None and rule.unpivot.of == table
        ]

    def source_columns(self, table: str) -> list[str]:
        """Source columns a file of `table` must have (its own and its unpivot children's)."""
        needed: list[str] = []
        for rule in self.tables[table].columns.values():
            if rule.source is not None and rule.source not in needed:
                needed.append(rule.source)
        for child in self.children_of(table):
            unpivot = self.tables[child].unpivot
            if unpivot is not None:
                needed.extend(cell for cell in unpivot.cells if cell not in needed)
        return needed
