"""SQL for the value pipeline of one column: raw text -> cleaned, typed, checked value.

Each column gets a few helper columns computed in successive layers (each layer may use the
previous layer's columns), all named `<column>__<step>`:

  layer 1  __t     raw text trimmed, '' -> NULL (and 7005.0 -> 7005 if asked)
  layer 2  __rule  label of the declared rule that made the value NULL (nulls, unmapped: null)
           __m     text after the declared nulls and the map
           __um    the value is missing from the map and the map rejects unmapped values
  layer 3  __v     the text converted to the column's type; NULL if the format is wrong
  layer 4  __e     why the value is invalid (NULL if valid)
           <name>  the loaded value: __v when valid, else NULL
Derived columns compute __v in layer 5 from loaded values, and __e and <name> in layer 6.
Layer 7 adds __p, the problem to report: the invalid reason, or a missing required value.
Identifiers and literals are always quoted here: rule files are data, never SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from trusted_env.importing.rules import ColumnRule
from trusted_env.schema.model import Column, ColumnType

LAYERS = 7
_WHITESPACE = "' \t\r\n'"
_FORMATS = {
    ColumnType.INTEGER: (r"[+-]?[0-9]+(\.0+)?", "is not a whole number"),
    ColumnType.FLOAT: (r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", "is not a number"),
    ColumnType.DATE: (r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "is not a valid date (YYYY-MM-DD)"),
    ColumnType.BOOLEAN: (r"(?i)true|false", "is not true or false"),
}
UNMAPPED_NULL = "not in the map (unmapped: null)"


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


@dataclass(frozen=True)
class ColumnPlan:
    """One target column: its schema definition, its rule and the SQL of its raw text."""

    name: str
    column: Column
    rule: ColumnRule
    raw_sql: str | None  # None for derived columns

    def h(self, step: str) -> str:
        return q(f"{self.name}__{step}")

    @property
    def final(self) -> str:
        return q(self.name)

    def layers(self) -> list[list[str]]:
        """`expression AS alias` items for each of the LAYERS layers."""
        out: list[list[str]] = [[] for _ in range(LAYERS)]
        if self.raw_sql is not None:
            out[0] = [f"{self._text()} AS {self.h('t')}"]
            out[1] = self._null_and_map()
            out[2] = [f"{self._convert(self.h('m'))} AS {self.h('v')}"]
            out[3] = self._validate(mapped=True)
        else:
            out[4] = [f"{self._derive()} AS {self.h('v')}"]
            out[5] = self._validate(mapped=False)
        out[6] = [f"{self._problem()} AS {self.h('p')}"]
        return out

    def live_after(self, layer: int) -> list[str]:
        """Helper columns still needed after `layer` (later layers or the caller use them).

        Passing on only these keeps each layer narrow, which keeps DuckDB's planning fast.
        """
        if self.raw_sql is not None:
            steps = [["t"], ["t", "rule", "m", "um"], ["t", "rule", "m", "um", "v"]]
            kept = steps[layer] if layer < len(steps) else ["t", "rule", "e", ""]
        else:
            kept = [[], [], [], [], ["v"], ["v", "e", ""], ["v", "e", ""]][layer]
        if layer == LAYERS - 1:
            kept = [*kept, "p"]
        return [self.final if step == "" else self.h(step) for step in kept]

    def _text(self) -> str:
        text = f"NULLIF(trim({self.raw_sql}, {_WHITESPACE}), '')"
        if self.rule.drop_zero_decimals:
            text = f"regexp_replace({text}, '^([+-]?[0-9]+)\\.0+$', '\\1')"
        return text

    def _null_and_map(self) -> list[str]:
        t = self.h("t")
        nulls = self.rule.nulls
        rule_cases = [
            f"WHEN {t} = {lit(value)} THEN {lit(_null_label(value, meaning))}"
            for value, meaning in nulls.items()
        ]
        mapping = self.rule.map
        mapped = t
        unmapped_reject = "false"
        if mapping is not None:
            known = ", ".join(lit(k) for k in mapping)
            cases = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in mapping.items())
            fallback = {"keep": t, "null": "NULL", "reject": "NULL"}[self.rule.unmapped]
            mapped = f"CASE {t} {cases} ELSE {fallback} END"
            if self.rule.unmapped == "null":
                rule_cases.append(
                    f"WHEN {t} IS NOT NULL AND NOT {_member(t, known)} THEN {lit(UNMAPPED_NULL)}"
                )
            if self.rule.unmapped == "reject":
                unmapped_reject = f"({t} IS NOT NULL AND NOT {_member(t, known)})"
        declared = f"CASE {' '.join(rule_cases)} END" if rule_cases else "NULL"
        null_values = ", ".join(lit(v) for v in nulls)
        if nulls:
            mapped = f"CASE WHEN {_member(t, null_values)} THEN NULL ELSE {mapped} END"
        if nulls and mapping is not None:
            unmapped_reject = f"({unmapped_reject} AND NOT {_member(t, null_values)})"
        return [
            f"CAST({declared} AS VARCHAR) AS {self.h('rule')}",
            f"{mapped} AS {self.h('m')}",
            f"COALESCE({unmapped_reject}, false) AS {self.h('um')}",
        ]

    def _convert(self, text: str) -> str:
        kind = self.column.type
        if kind is ColumnType.STRING:
            return text
        pattern, _ = _FORMATS[kind]
        value = f"regexp_replace({text}, '\\.0+$', '')" if kind is ColumnType.INTEGER else text
        return (
            f"CASE WHEN regexp_full_match({text}, {lit(pattern)}) "
            f"THEN TRY_CAST({value} AS {kind.duckdb_type}) END"
        )

    def _derive(self) -> str:
        derive = self.rule.derive
        if derive is None:
            raise ValueError(f"column {self.name} has no derivation")
        if derive.days_between is not None:
            start, end = q(derive.days_between.start), q(derive.days_between.end)
            return f"date_diff('day', {start}, {end})"
        inputs = [q(name) for name in derive.inputs()]
        present = " AND ".join(f"{ref} IS NOT NULL" for ref in inputs)
        values = ", ".join(f"CAST({ref} AS VARCHAR)" for ref in inputs)
        return f"CASE WHEN {present} THEN md5(CAST(to_json([{values}]) AS VARCHAR)) END"

    def _validate(self, *, mapped: bool) -> list[str]:
        v = self.h("v")
        checks: list[tuple[str, str]] = []
        if mapped:
            checks.append((self.h("um"), "is not a code of the map"))
            if self.column.type is not ColumnType.STRING:
                _, message = _FORMATS[self.column.type]
                checks.append((f"{self.h('m')} IS NOT NULL AND {v} IS NULL", message))
        rule = self.rule
        if rule.pattern is not None:
            checks.append(
                (
                    f"NOT regexp_full_match({v}, {lit(rule.pattern)})",
                    f"does not match the pattern {rule.pattern}",
                )
            )
        if rule.min is not None:
            low = _number(rule.min)
            checks.append((f"{v} < {low}", f"is below the minimum {low}"))
        if rule.max is not None:
            high = _number(rule.max)
            checks.append((f"{v} > {high}", f"is above the maximum {high}"))
        if self.column.domain is not None:
            domain = ", ".join(lit(value) for value in self.column.domain)
            checks.append(
                (f"{v} IS NOT NULL AND NOT {_member(v, domain)}", "is not in the column's domain")
            )
        whens = " ".join(f"WHEN {cond} THEN {lit(msg)}" for cond, msg in checks)
        reason = f"CASE {whens} END" if checks else "NULL"
        return [
            f"CAST({reason} AS VARCHAR) AS {self.h('e')}",
            f"CASE WHEN {self.h('e')} IS NULL THEN {v} END AS {self.final}",
        ]

    def _problem(self) -> str:
        if self.column.nullable:
            return self.h("e")
        declared = f"' (' || {self.h('rule')} || ')'" if self.raw_sql is not None else "''"
        missing = f"'required value is missing' || COALESCE({declared}, '')"
        return f"COALESCE({self.h('e')}, CASE WHEN {self.final} IS NULL THEN {missing} END)"

    def raw_for_report(self) -> str:
        """The value a reject line shows: the raw text, or the derived value."""
        if self.raw_sql is not None:
            return f"CAST({self.raw_sql} AS VARCHAR)"
        return f"CAST({self.h('v')} AS VARCHAR)"

    def source_label(self) -> str:
        derive = self.rule.derive
        if derive is not None:
            return "derived from " + ", ".join(derive.inputs())
        return self.rule.source or ""


def _member(value: str, literals: str) -> str:
    """`value IN (literals)` for a non-null value. Not IN or list_contains: DuckDB's in_clause
    optimizer plans those as joins, and dozens of them took longer to plan than to load."""
    return f"(list_position([{literals}], {value}) IS NOT NULL)"


def _null_label(value: str, meaning: str) -> str:
    return f"'{value}' = {meaning}"


def layered_select(source: str, plans: list[ColumnPlan], base: list[str]) -> str:
    """A query over `source` keeping the `base` columns and adding every plan's helper columns
    layer by layer, each layer passing on only the columns still needed."""
    query = f"SELECT {', '.join(base)} FROM {source}"  # noqa: S608
    for layer in range(LAYERS):
        items = list(base)
        for plan in plans:
            computed = plan.layers()[layer]
            names = {item.rsplit(" AS ", 1)[1] for item in computed}
            items += [col for col in plan.live_after(layer) if col not in names]
            items += computed
        query = f"SELECT {', '.join(items)} FROM ({query})"  # noqa: S608
    return query
