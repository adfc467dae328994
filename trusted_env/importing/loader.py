"""Find, load and cross-check import rules against the dataset schema they load."""

from __future__ import annotations

import re
from pathlib import Path

from trusted_env.errors import SpecError
from trusted_env.importing.rules import ColumnRule, ImportRules, TableRule
from trusted_env.schema.loader import resolve_schema_path
from trusted_env.schema.model import Column, ColumnType, DatasetSchema, Table
from trusted_env.validation.messages import parse_model, read_yaml_file

RULES_DIR = Path(__file__).parent / "definitions"
NUMERIC = {ColumnType.INTEGER, ColumnType.FLOAT}


def resolve_rules_path(schema: str | Path, rules: Path | None = None) -> Path:
    """Explicit rules, else the bundled rules of a bundled schema, else `<schema>.import.yaml`."""
    if rules is not None:
        if not rules.is_file():
            raise SpecError(f"Import rules file {rules} does not exist.")
        return rules
    schema_path = resolve_schema_path(schema)
    bundled = RULES_DIR / schema_path.name
    sibling = schema_path.with_name(f"{schema_path.stem}.import.yaml")
    for candidate in (sibling, bundled):
        if candidate.is_file():
            return candidate
    raise SpecError(
        f"No import rules for schema '{schema}'.",
        hint=f"Write them in {sibling} or pass --rules PATH.",
    )


def load_import_rules(path: Path, schema: DatasetSchema) -> ImportRules:
    what = f"Import rules file {path}"
    raw = read_yaml_file(path, what)
    if isinstance(raw, dict):
        # Top-level `x-...` keys only hold YAML anchors shared by several rules.
        raw = {key: value for key, value in raw.items() if not str(key).startswith("x-")}
    rules = parse_model(
        ImportRules, raw, what, 'Quote codes in YAML ("01", "Y") so they stay text.'
    )
    problems = rule_problems(rules, schema)
    if problems:
        raise SpecError(
            f"Import rules file {path} does not fit schema '{schema.name}': {'; '.join(problems)}.",
            hint="Fix the rules (or the schema) so that every schema column is loaded.",
        )
    return rules


def rule_problems(rules: ImportRules, schema: DatasetSchema) -> list[str]:
    if rules.schema_name != schema.name or rules.schema_version != schema.version:
        return [
            f"the rules are for schema {rules.schema_name} v{rules.schema_version}, "
            f"not {schema.name} v{schema.version}"
        ]
    problems: list[str] = []
    missing = [name for name in schema.tables if name not in rules.tables]
    unknown = [name for name in rules.tables if name not in schema.tables]
    if missing:
        problems.append(f"no rules for tables {', '.join(missing)}")
    if unknown:
        problems.append(f"rules for tables not in the schema: {', '.join(unknown)}")
    for name, rule in rules.tables.items():
        if name in schema.tables:
            problems.extend(f"{name}: {p}" for p in _table_problems(rules, rule, schema, name))
    return problems


def _table_problems(
    rules: ImportRules, rule: TableRule, schema: DatasetSchema, name: str
) -> list[str]:
    table = schema.tables[name]
    problems = _name_problems(table)
    if rule.unpivot is not None:
        return problems + _unpivot_problems(rules, rule, schema, table)
    problems += [
        f"unique column '{c}' is not in the table" for c in rule.unique if c not in table.columns
    ]
    problems += [f"no rule for column '{c}'" for c in table.columns if c not in rule.columns]
    for column_name, column_rule in rule.columns.items():
        column = table.columns.get(column_name)
        if column is None:
            problems.append(f"rule for unknown column '{column_name}'")
            continue
        problems.extend(
            f"{column_name}: {p}" for p in _column_problems(column_rule, column, table, rule)
        )
    return problems


def _name_problems(table: Table) -> list[str]:
    """The importer's working columns are named `_x` and `<column>__x`; DuckDB ignores case."""
    problems = [
        f"column name '{c}' must not start with _ or contain __"
        for c in table.columns
        if c.startswith("_") or "__" in c
    ]
    folded = [c.casefold() for c in table.columns]
    problems += [
        f"column names '{c}' differ only in case"
        for c in table.columns
        if folded.count(c.casefold()) > 1
    ]
    return problems


def _column_problems(rule: ColumnRule, column: Column, table: Table, owner: TableRule) -> list[str]:
    problems: list[str] = []
    if rule.source is None and rule.derive is None:
        problems.append("declare `from` (a source column) or `derive`")
    problems += _check_problems(rule, column)
    if rule.derive is not None:
        problems += _derive_problems(rule, column, table, owner)
    return problems


def _check_problems(rule: ColumnRule, column: Column) -> list[str]:
    problems: list[str] = []
    if (rule.min is not None or rule.max is not None) and column.type not in NUMERIC:
        problems.append("min/max apply to integer and float columns")
    if rule.pattern is not None:
        if column.type is not ColumnType.STRING:
            problems.append("pattern applies to string columns")
        try:
            re.compile(rule.pattern)
        except re.error as exc:
            problems.append(f"pattern is not a valid regular expression ({exc})")
    if rule.map is not None and column.domain is not None:
        outside = sorted({v for v in rule.map.values() if v not in column.domain})
        if outside:
            problems.append(f"map produces values outside the domain: {', '.join(outside)}")
    if rule.unmapped == "null" and not column.nullable:
        problems.append("unmapped: null on a required column would reject rows; use reject")
    return problems


def _derive_problems(rule: ColumnRule, column: Column, table: Table, owner: TableRule) -> list[str]:
    derive = rule.derive
    if derive is None:
        return []
    problems: list[str] = []
    for ref in derive.inputs():
        ref_rule = owner.columns.get(ref)
        if ref not in table.columns or ref_rule is None:
            problems.append(f"derives from unknown column '{ref}'")
        elif ref_rule.derive is not None:
            problems.append(f"derives from '{ref}', which is itself derived")
        elif derive.days_between is not None and table.columns[ref].type is not ColumnType.DATE:
            problems.append(f"days_between needs date columns; '{ref}' is not one")
    if derive.days_between is not None and column.type is not ColumnType.INTEGER:
        problems.append("days_between produces an integer column")
    if derive.hash_of is not None and column.type is not ColumnType.STRING:
        problems.append("hash_of produces a string column")
    return problems


def _unpivot_problems(
    rules: ImportRules, rule: TableRule, schema: DatasetSchema, table: Table
) -> list[str]:
    unpivot = rule.unpivot
    if unpivot is None:
        return []
    parent_rule = rules.tables.get(unpivot.of)
    if parent_rule is None or parent_rule.files is None or unpivot.of not in schema.tables:
        return [f"unpivot.of '{unpivot.of}' is not a table read from files"]
    parent = schema.tables[unpivot.of]
    problems: list[str] = []
    expected = {*unpivot.carry, unpivot.position, unpivot.value}
    if set(table.columns) != expected or len(expected) != len(unpivot.carry) + 2:
        problems.append(
            "the table's columns must be exactly the carried columns, position and value"
        )
    for carried in unpivot.carry:
        source = parent.columns.get(carried)
        target = table.columns.get(carried)
        if source is None or target is None or source.type is not target.type:
            problems.append(f"carried column '{carried}' must exist with the same type in both")
    position = table.columns.get(unpivot.position)
    if position is None or position.type is not ColumnType.INTEGER or position.nullable:
        problems.append("the position column must be a required integer column")
    value = table.columns.get(unpivot.value)
    if value is None or value.nullable:
        problems.append("the value column must be a required column")
    extra = [c for c in rule.columns if c != unpivot.value]
    if extra:
        problems.append(f"only the value column takes rules, not {', '.join(extra)}")
    value_rule = rule.columns.get(unpivot.value)
    if value_rule is not None and value is not None:
        if value_rule.source is not None or value_rule.derive is not None:
            problems.append("the value column's rule takes no `from` or `derive`")
        problems += _check_problems(value_rule, value)
    return problems
