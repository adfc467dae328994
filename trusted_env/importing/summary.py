"""What an import did: counts per file and table, and the rules that nulled values.

The summary holds exact counts and file names, so (like the rejects file) it stays inside the
trusted environment with the dataset. It holds no paths or times: importing the same extract
with the same schema and rules gives the same summary.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleCount(_Strict):
    column: str
    rule: str
    count: int


class TableSummary(_Strict):
    """rows_read = rows_loaded + rows_rejected + rows_skipped_by_rule."""

    table: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_skipped_by_rule: int = 0
    values_set_to_null: int = 0
    nulled_by_rule: tuple[RuleCount, ...] = ()

    def nulled(self, column: str, rule: str) -> int:
        return sum(c.count for c in self.nulled_by_rule if c.column == column and c.rule == rule)


class FileSummary(_Strict):
    name: str
    table: str
    sha256: str
    records: int
    malformed: int


class ImportSummary(_Strict):
    schema_name: str
    schema_version: int
    schema_hash: str
    rules_hash: str
    files: tuple[FileSummary, ...]
    ignored_files: tuple[str, ...]
    tables: tuple[TableSummary, ...]
    rejects: int
    content_hash: str

    def table(self, name: str) -> TableSummary:
        for summary in self.tables:
            if summary.table == name:
                return summary
        raise KeyError(name)
