"""Build each table of the dataset from the staged records, collecting rejects and counts.

A table read from files: stage its files, run every column through its value pipeline
(`sqlgen`), reject rows whose required values are missing or invalid and later duplicates of a
`unique` key, and insert the rest in file order. An unpivot table: one candidate row per
non-empty cell of the loaded rows of its parent, through the same pipeline, in file order then
position. Every problem goes to the `rejects` temp table; nothing is dropped without a count.
"""

from __future__ import annotations

from typing import Any

from trusted_env.importing.reader import SourceFile, stage_file
from trusted_env.importing.rules import ColumnRule, ImportRules
from trusted_env.importing.sqlgen import ColumnPlan, layered_select, lit, q
from trusted_env.importing.summary import RuleCount, TableSummary
from trusted_env.schema.model import DatasetSchema

_SETUP = [
    "CREATE TEMP TABLE import_files (_file INTEGER, name VARCHAR)",
    "CREATE TEMP TABLE malformed (_file INTEGER, table_name VARCHAR, line BIGINT, "
    "source_column VARCHAR, raw_value VARCHAR, reason VARCHAR)",
    "CREATE TEMP TABLE rejects (_file INTEGER, line BIGINT, _table INTEGER, _position INTEGER, "
    "_column INTEGER, table_name VARCHAR, column_name VARCHAR, source_column VARCHAR, "
    "raw_value VARCHAR, reason VARCHAR, action VARCHAR)",
]
_ACTION = "CASE WHEN _rejected THEN 'row rejected' ELSE 'value set to NULL' END"


class DatasetBuilder:
    def __init__(self, conn: Any, schema: DatasetSchema, rules: ImportRules) -> None:
        self.conn = conn
        self.schema = schema
        self.rules = rules
        self.order = list(schema.tables)
        # Staged source columns get neutral names: DuckDB identifiers ignore case, so a
        # source column SEX would otherwise collide with the target column sex.
        self.aliases: dict[str, dict[str, str]] = {
            table: {name: f"_s{i}" for i, name in enumerate(rules.source_columns(table))}
            for table in rules.file_tables()
        }

    def build(self, files: list[SourceFile]) -> list[TableSummary]:
        for statement in _SETUP:
            self.conn.execute(statement)
        for source in files:
            self.conn.execute(
                f"INSERT INTO import_files VALUES ({source.index}, {lit(source.path.name)})"  # noqa: S608
            )
        summaries: dict[str, TableSummary] = {}
        for table in self.rules.file_tables():
            mine = [f for f in files if f.table == table]
            summaries[table] = self._file_table(table, mine)
            for child in self.rules.children_of(table):
                summaries[child] = self._unpivot_table(child)
        return [summaries[name] for name in self.order]

    def _plans(self, table: str) -> list[ColumnPlan]:
        rules = self.rules.tables[table].columns
        aliases = self.aliases[table]
        plans = []
        for name, column in self.schema.tables[table].columns.items():
            source = rules[name].source
            raw = None if source is None else q(aliases[source])
            plans.append(ColumnPlan(name, column, rules[name], raw))
        return plans

    def _file_table(self, table: str, files: list[SourceFile]) -> TableSummary:
        aliases = self.aliases[table]
        staged = [stage_file(self.conn, source, aliases, self.rules.csv) for source in files]
        # A view, not a copy: the pipeline below reads the staged records once.
        self.conn.execute(f"CREATE TEMP VIEW {q('stg_' + table)} AS {' UNION ALL '.join(staged)}")
        plans = self._plans(table)
        required = [p.h("p") for p in plans if not p.column.nullable]
        rejected = " OR ".join(f"{p} IS NOT NULL" for p in required) or "false"
        base = ["_file", "_line", *(q(alias) for alias in self.aliases[table].values())]
        query = layered_select(q("stg_" + table), plans, base)
        final = q("final_" + table)
        self.conn.execute(
            f"CREATE TEMP TABLE {final} AS SELECT *, ({rejected}) AS _rejected, "  # noqa: S608
            f"CAST(NULL AS VARCHAR) AS _dup FROM ({query})"
        )
        self._reject_duplicates(table, final)
        self._record_rejects(table, final, plans)
        self._insert(table, final, "NOT _rejected", "_file, _line")
        return self._file_table_summary(table, final, plans)

    def _reject_duplicates(self, table: str, final: str) -> None:
        """Reject every later row (in file order) whose `unique` key was already loaded."""
        keys = self.rules.tables[table].unique
        if not keys:
            return
        window = f"OVER (PARTITION BY {', '.join(q(k) for k in keys)} ORDER BY _file, _line)"
        label = lit(f"duplicate {', '.join(keys)}: the same value was loaded from ")
        # Only the key columns go through the window; the wide table is updated in place.
        self.conn.execute(
            f"UPDATE {final} SET _rejected = true, _dup = d.reason FROM ("  # noqa: S608
            f"SELECT r._file, r._line, {label} || f.name || ' line ' || r.first_line AS reason "
            f"FROM (SELECT _file, _line, row_number() {window} AS n, first_value(_file) {window} "
            f"AS first_file, first_value(_line) {window} AS first_line FROM {final} "
            f"WHERE NOT _rejected) r JOIN import_files f ON f._file = r.first_file WHERE r.n > 1"
            f") d WHERE {final}._file = d._file AND {final}._line = d._line"
        )

    def _record_rejects(self, table: str, final: str, plans: list[ColumnPlan]) -> None:
        t = self.order.index(table)
        for c, plan in enumerate(plans):
            self.conn.execute(
                f"INSERT INTO rejects SELECT _file, _line, {t}, 0, {c}, {lit(table)}, "  # noqa: S608
                f"{lit(plan.name)}, {lit(plan.source_label())}, {plan.raw_for_report()}, "
                f"{plan.h('p')}, {_ACTION} FROM {final} WHERE {plan.h('p')} IS NOT NULL"
            )
        keys = self.rules.tables[table].unique
        if keys:
            by_name = {p.name: p for p in plans}
            raw = ", ".join(by_name[k].raw_for_report() for k in keys)
            sources = ", ".join(by_name[k].source_label() for k in keys)
            self.conn.execute(
                f"INSERT INTO rejects SELECT _file, _line, {t}, 0, -1, {lit(table)}, "  # noqa: S608
                f"{lit(', '.join(keys))}, {lit(sources)}, concat_ws(', ', {raw}), _dup, "
                f"'row rejected' FROM {final} WHERE _dup IS NOT NULL"
            )
        self.conn.execute(
            f"INSERT INTO rejects SELECT _file, line, {t}, 0, -2, table_name, '', source_column, "  # noqa: S608
            f"raw_value, reason, 'row rejected' FROM malformed WHERE table_name = {lit(table)}"
        )

    def _insert(self, table: str, source: str, where: str, order: str) -> None:
        columns = self.schema.tables[table].columns
        definitions = ", ".join(
            f"{q(name)} {col.type.duckdb_type}{'' if col.nullable else ' NOT NULL'}"
            for name, col in columns.items()
        )
        names = ", ".join(q(name) for name in columns)
        self.conn.execute(f"CREATE TABLE main.{q(table)} ({definitions})")
        self.conn.execute(
            f"INSERT INTO main.{q(table)} SELECT {names} FROM {source} "  # noqa: S608
            f"WHERE {where} ORDER BY {order}"
        )

    def _file_table_summary(self, table: str, final: str, plans: list[ColumnPlan]) -> TableSummary:
        invalid = (
            " + ".join(
                f"count(*) FILTER (WHERE NOT _rejected AND {p.h('e')} IS NOT NULL)"
                for p in plans
                if p.column.nullable
            )
            or "0"
        )
        loaded, rejected, nulled = self.conn.execute(
            f"SELECT count(*) FILTER (WHERE NOT _rejected), count(*) FILTER (WHERE _rejected), "  # noqa: S608
            f"{invalid} FROM {final}"
        ).fetchone()
        malformed = self.conn.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT _file, line FROM malformed "  # noqa: S608
            f"WHERE table_name = {lit(table)})"
        ).fetchone()[0]
        return TableSummary(
            table=table,
            rows_read=loaded + rejected + malformed,
            rows_loaded=loaded,
            rows_rejected=rejected + malformed,
            values_set_to_null=nulled,
            nulled_by_rule=self._rule_counts(final, plans, "NOT _rejected"),
        )

    def _rule_counts(
        self, source: str, plans: list[ColumnPlan], where: str
    ) -> tuple[RuleCount, ...]:
        counts: list[RuleCount] = []
        for plan in plans:
            if plan.raw_sql is None or not (plan.rule.nulls or plan.rule.unmapped == "null"):
                continue
            rows = self.conn.execute(
                f"SELECT {plan.h('rule')}, count(*) FROM {source} WHERE {where} AND "  # noqa: S608
                f"{plan.h('rule')} IS NOT NULL GROUP BY 1 ORDER BY 1"
            ).fetchall()
            counts.extend(RuleCount(column=plan.name, rule=r, count=n) for r, n in rows)
        return tuple(counts)

    def _unpivot_table(self, table: str) -> TableSummary:
        unpivot = self.rules.tables[table].unpivot
        if unpivot is None:
            raise ValueError(f"{table} is not an unpivot table")
        value = self.schema.tables[table].columns[unpivot.value]
        rule = self.rules.tables[table].columns.get(unpivot.value, ColumnRule())
        plan = ColumnPlan(unpivot.value, value, rule, q("_cell"))
        cell_columns = ["_file", "_line", q(unpivot.position), "_cell_source", "_cell"]
        cell_columns += [q(c) for c in unpivot.carry]
        query = layered_select(f"({self._cells(table)})", [plan], cell_columns)
        final = q("final_" + table)
        # A cell nulled by a declared rule (e.g. '-' = no code) is skipped, not rejected.
        self.conn.execute(
            f"CREATE TEMP TABLE {final} AS SELECT *, ({plan.h('p')} IS NOT NULL AND "  # noqa: S608
            f"{plan.h('rule')} IS NULL) AS _rejected FROM ({query}) WHERE {plan.h('t')} IS NOT NULL"
        )
        self.conn.execute(
            f"INSERT INTO rejects SELECT _file, _line, {self.order.index(table)}, "  # noqa: S608
            f"{q(unpivot.position)}, 0, {lit(table)}, {lit(plan.name)}, _cell_source, "
            f"{plan.raw_for_report()}, {plan.h('p')}, 'row rejected' FROM {final} WHERE _rejected"
        )
        self._insert(table, final, f"{plan.h('p')} IS NULL", f"_file, _line, {q(unpivot.position)}")
        loaded, rejected, skipped = self.conn.execute(
            f"SELECT count(*) FILTER (WHERE {plan.h('p')} IS NULL), count(*) FILTER (WHERE "  # noqa: S608
            f"_rejected), count(*) FILTER (WHERE {plan.h('rule')} IS NOT NULL) FROM {final}"
        ).fetchone()
        return TableSummary(
            table=table,
            rows_read=loaded + rejected + skipped,
            rows_loaded=loaded,
            rows_rejected=rejected,
            rows_skipped_by_rule=skipped,
            nulled_by_rule=self._rule_counts(final, [plan], "true"),
        )

    def _cells(self, table: str) -> str:
        """One candidate row per non-empty cell of the loaded rows of the parent table."""
        unpivot = self.rules.tables[table].unpivot
        if unpivot is None:
            raise ValueError(f"{table} is not an unpivot table")
        parent = q("final_" + unpivot.of)
        aliases = self.aliases[unpivot.of]
        carried = ", ".join(q(c) for c in unpivot.carry)
        return " UNION ALL ".join(
            f"SELECT _file, _line, {i} AS {q(unpivot.position)}, {lit(cell)} AS _cell_source, "  # noqa: S608
            f"{q(aliases[cell])} AS _cell, {carried} FROM {parent} WHERE NOT _rejected "
            f"AND {q(aliases[cell])} IS NOT NULL"
            for i, cell in enumerate(unpivot.cells, start=1)
        )
