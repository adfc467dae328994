"""Check a schema's generation hints against its structure before generating anything.

Every problem is reported at once, each with where it is, so a hint author fixes them in one go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trusted_env.errors import SpecError
from trusted_env.schema.hints import (
    BUILTIN_TRAITS,
    ColumnHint,
    Condition,
    PopulationHint,
    StreamHint,
    TableHint,
    _Scaled,
)
from trusted_env.schema.model import Column, ColumnType, DatasetSchema, Table

_NUMERIC = (ColumnType.INTEGER, ColumnType.FLOAT)


@dataclass(frozen=True)
class PopulationPlan:
    """Who the patients are, and which table (if any) has one row per patient."""

    settings: PopulationHint
    table: str | None
    label: str  # names the population's random streams and its place in error messages


VIRTUAL_POPULATION = "__population__"


def population_plan(schema: DatasetSchema) -> PopulationPlan:
    """The table with the `population` block, else the first plain table, else none."""
    marked = [n for n, t in schema.tables.items() if t.generate and t.generate.population]
    if len(marked) > 1:
        raise SpecError(
            f"Schema '{schema.name}' has several population blocks: {', '.join(marked)}.",
            hint="Keep `generate: population:` on one table only.",
        )
    if not schema.tables:
        raise SpecError(f"Schema '{schema.name}' has no tables to generate.")
    if marked:
        hint = schema.tables[marked[0]].generate or TableHint()
        settings = hint.population or PopulationHint()
        one_per_patient = hint.spells is None and not hint.streams
        return PopulationPlan(settings, marked[0] if one_per_patient else None, marked[0])
    for name, table in schema.tables.items():
        hint = table.generate or TableHint()
        if hint.spells is None and not hint.streams:
            return PopulationPlan(PopulationHint(), name, name)
    return PopulationPlan(PopulationHint(), None, VIRTUAL_POPULATION)


@dataclass
class _Checker:
    schema: DatasetSchema
    plan: PopulationPlan
    traits: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    shared: dict[str, ColumnHint] = field(default_factory=dict)

    @property
    def pop_hint(self) -> PopulationHint:
        return self.plan.settings

    def add(self, where: str, problem: str) -> None:
        self.problems.append(f"{where}: {problem}")

    def run(self) -> None:
        self._check_traits()
        self.traits |= set(BUILTIN_TRAITS)
        streams = {
            f"{name}.{s.name}" for name, t in self.schema.tables.items() for s in _streams(t)
        }
        for name, table in self.schema.tables.items():
            for column_name, column in table.columns.items():
                if column.generate is not None:
                    where = f"{name}.{column_name}.generate"
                    self._check_column(where, table, column_name, column.generate)
            self._check_table(name, table, streams)

    def _check_traits(self) -> None:
        for name, trait in self.pop_hint.traits.items():
            where = f"{self.plan.label}.generate.population.traits.{name}"
            for required in trait.requires:
                self._known_trait(where, required)
            self._check_scaled(where, trait)
            self.traits.add(name)
        self._check_scaled(
            f"{self.plan.label}.generate.population.mortality", self.pop_hint.mortality
        )

    def _check_table(self, name: str, table: Table, streams: set[str]) -> None:
        hint = table.generate or TableHint()
        if hint.spells is not None:
            for column in (hint.spells.start, hint.spells.end):
                found = table.columns.get(column)
                if found is None or found.type is not ColumnType.DATE:
                    self.add(f"{name}.generate.spells", f"'{column}' is not a date column")
        for stream in hint.streams:
            self._check_stream(name, table, stream, streams)

    def _check_stream(self, name: str, table: Table, stream: StreamHint, streams: set[str]) -> None:
        where = f"{name}.generate.streams.{stream.name}"
        self._check_condition(where + ".who", stream.who)
        rows = stream.rows
        if rows.same_as is not None:
            if rows.same_as not in streams or rows.same_as == f"{name}.{stream.name}":
                self.add(where, f"same_as '{rows.same_as}' is not another stream (table.stream)")
            if stream.window != type(stream.window)():
                self.add(
                    where, "a same_as stream takes its dates from the other stream: drop window"
                )
        scaled = bool(rows.by_age or rows.by or rows.by_trait)
        if (rows.fixed is not None or rows.same_as is not None) and scaled:
            self.add(
                where, "fixed and same_as rows take no multipliers: use poisson or probability"
            )
        if rows.same_as is not None and rows.max is not None:
            self.add(where, "same_as rows take no max: cap the rows per source row with each.max")
        self._check_scaled(where + ".rows", rows)
        for column_name, hint in stream.columns.items():
            column = table.columns.get(column_name)
            if column is None:
                self.add(where, f"unknown column '{column_name}' of table '{name}'")
            else:
                self._check_column(f"{where}.columns.{column_name}", table, column_name, hint)

    def _check_column(self, where: str, table: Table, name: str, hint: ColumnHint) -> None:
        column = table.columns[name]
        if name == table.patient_id:
            self.add(where, "the patient id column is filled by the generator: drop its hint")
            return
        self._check_source(where, table, column, hint)
        self._check_derived(where, table, column, hint)
        if hint.per_patient is not None:
            first = self.shared.setdefault(hint.per_patient, hint)
            if first != hint:
                self.add(where, f"per_patient '{hint.per_patient}' differs from its first use")
        if hint.null_fraction > 0 and not column.nullable:
            self.add(where, "null_fraction on a column that is not nullable")
        for index, case in enumerate(hint.cases):
            if case.use.sequence is not None:
                self.add(f"{where}.cases[{index}]", "a sequence cannot be used inside cases")
            self._check_condition(f"{where}.cases[{index}].when", case.when)
            self._check_column(f"{where}.cases[{index}].use", table, name, case.use)

    def _check_source(self, where: str, table: Table, column: Column, hint: ColumnHint) -> None:
        kind = column.type
        numeric = hint.normal or hint.lognormal or hint.uniform
        if numeric is not None and kind not in _NUMERIC:
            self.add(where, f"a numeric distribution cannot fill a {kind.value} column")
        if hint.date is not None:
            if kind is not ColumnType.DATE:
                self.add(where, f"a date hint cannot fill a {kind.value} column")
            if hint.date.after is not None:
                self._date_column(where, table, hint.date.after)
        values = list(hint.categorical or {})
        values += [] if hint.value is None else [str(hint.value)]
        if column.domain is not None and (outside := set(values) - set(column.domain)):
            self.add(where, f"values {sorted(outside)} are not in the column's domain")

    def _check_derived(self, where: str, table: Table, column: Column, hint: ColumnHint) -> None:
        kind = column.type
        if hint.sequence is not None:
            if kind not in (ColumnType.INTEGER, ColumnType.STRING):
                self.add(where, f"a sequence cannot fill a {kind.value} column")
            if hint.sequence.prefix and kind is not ColumnType.STRING:
                self.add(where, "a sequence prefix needs a string column")
            if column.domain is not None:
                self.add(where, "a sequence cannot fill a column with a domain")
        if hint.age is not None:
            if kind not in _NUMERIC:
                self.add(where, f"an age cannot fill a {kind.value} column")
            if hint.age.at != "event":
                self._date_column(where, table, hint.age.at)
            if hint.age.since is not None:
                self._date_column(where, table, hint.age.since)

    def _date_column(self, where: str, table: Table, name: str) -> None:
        found = table.columns.get(name)
        if found is None or found.type is not ColumnType.DATE:
            self.add(where, f"'{name}' is not a date column of the same table")

    def _check_condition(self, where: str, cond: Condition) -> None:
        for name in (*cond.having, *cond.not_having):
            self._known_trait(where, name)
        for column in cond.where:
            self._population_category(where, column)

    def _check_scaled(self, where: str, hint: _Scaled) -> None:
        for name in hint.by_trait:
            self._known_trait(where, name)
        for column in hint.by:
            self._population_category(where, column)

    def _known_trait(self, where: str, name: str) -> None:
        if name not in self.traits:
            known = ", ".join(sorted(self.traits)) or "none"
            self.add(where, f"unknown trait '{name}' (declared before this point: {known})")

    def _population_category(self, where: str, column: str) -> None:
        table = self.plan.table
        found = None if table is None else self.schema.tables[table].columns.get(column)
        if found is None or found.type is not ColumnType.STRING:
            owner = f"table '{table}'" if table else "a population table (this schema has none)"
            self.add(where, f"'{column}' is not a string column of {owner}")


def _streams(table: Table) -> tuple[StreamHint, ...]:
    return (table.generate or TableHint()).streams


def check_hints(schema: DatasetSchema) -> PopulationPlan:
    """Raise SpecError listing every hint problem; return who the patients are."""
    plan = population_plan(schema)
    checker = _Checker(schema, plan)
    checker.run()
    if checker.problems:
        raise SpecError(
            f"Schema '{schema.name}' has invalid generation hints: "
            + "; ".join(checker.problems)
            + ".",
            hint="Fix the hints named above (see trusted_env/schema/hints.py for the language).",
        )
    return plan
