"""Import a CSV extract into a DuckDB dataset, all or nothing.

The dataset, the rejects file and the summary are written to temporary files beside their
targets and renamed into place only when the whole import has succeeded, the dataset last: a
failed import leaves nothing half-written, and a present dataset is always a complete one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from trusted_env.canonical import canonical_json
from trusted_env.errors import SpecError
from trusted_env.importing.build import DatasetBuilder
from trusted_env.importing.content_hash import dataset_content_hash
from trusted_env.importing.errors import ExtractError
from trusted_env.importing.loader import load_import_rules, resolve_rules_path
from trusted_env.importing.reader import SourceFile, match_files, sha256_file
from trusted_env.importing.rules import ImportRules
from trusted_env.importing.summary import FileSummary, ImportSummary
from trusted_env.schema.loader import load_schema
from trusted_env.schema.model import DatasetSchema

REJECT_COLUMNS = (
    "source_file",
    "line",
    "table",
    "column",
    "source_column",
    "raw_value",
    "reason",
    "action",
)


def default_rejects_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.rejects.csv")


def summary_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.import.json")


def import_extract_by_name(
    schema: str | Path,
    extract_dir: Path,
    out: Path,
    *,
    rules: Path | None = None,
    rejects: Path | None = None,
    replace: bool = False,
) -> ImportSummary:
    """Resolve the schema (bundled name or path) and its import rules, then import."""
    dataset_schema = load_schema(schema)
    import_rules = load_import_rules(resolve_rules_path(schema, rules), dataset_schema)
    return import_extract(
        dataset_schema, import_rules, extract_dir, out, rejects=rejects, replace=replace
    )


def import_extract(
    schema: DatasetSchema,
    rules: ImportRules,
    extract_dir: Path,
    out: Path,
    *,
    rejects: Path | None = None,
    replace: bool = False,
) -> ImportSummary:
    rejects = rejects or default_rejects_path(out)
    if out.exists() and not replace:
        raise ExtractError(
            f"{out} already exists.", hint="Pass --replace to rebuild it, or choose another --out."
        )
    if out.resolve() == rejects.resolve():
        raise ExtractError("The dataset and the rejects file must be different files.")
    files, ignored = match_files(extract_dir, rules)
    out.parent.mkdir(parents=True, exist_ok=True)
    rejects.parent.mkdir(parents=True, exist_ok=True)
    with (
        _staged(out) as tmp_out,
        _staged(rejects) as tmp_rejects,
        _staged(summary_path(out)) as tmp_summary,
    ):
        conn = duckdb.connect(str(tmp_out))
        try:
            summary = _run(conn, schema, rules, files, ignored, tmp_rejects)
        finally:
            conn.close()
        tmp_summary.write_text(
            canonical_json(summary.model_dump(mode="json")) + "\n", encoding="utf-8"
        )
        os.replace(tmp_rejects, rejects)
        os.replace(tmp_summary, summary_path(out))
        os.replace(tmp_out, out)
    return summary


def _run(
    conn: Any,
    schema: DatasetSchema,
    rules: ImportRules,
    files: list[SourceFile],
    ignored: list[str],
    rejects: Path,
) -> ImportSummary:
    conn.execute("SET preserve_insertion_order = true")
    conn.execute("SET enable_progress_bar = false")
    _check_patterns(conn, rules)
    tables = DatasetBuilder(conn, schema, rules).build(files)
    reject_count = _write_rejects(conn, rejects)
    _drift_check(conn, schema)
    content_hash = dataset_content_hash(conn)
    file_summaries = _file_summaries(conn, files)
    conn.execute("CHECKPOINT")
    return ImportSummary(
        schema_name=schema.name,
        schema_version=schema.version,
        schema_hash=schema.hash,
        rules_hash=rules.hash,
        files=tuple(file_summaries),
        ignored_files=tuple(ignored),
        tables=tuple(tables),
        rejects=reject_count,
        content_hash=content_hash,
    )


def _check_patterns(conn: Any, rules: ImportRules) -> None:
    """Rules are checked with Python's `re`; DuckDB's RE2 accepts less (no look-arounds)."""
    for table, rule in rules.tables.items():
        for column, column_rule in rule.columns.items():
            if column_rule.pattern is None:
                continue
            try:
                conn.execute("SELECT regexp_full_match('', ?)", [column_rule.pattern])
            except duckdb.Error:
                raise SpecError(
                    f"{table}.{column}: the pattern {column_rule.pattern!r} is not supported.",
                    hint="Use RE2 syntax (no look-arounds or back-references).",
                ) from None


def _write_rejects(conn: Any, path: Path) -> int:
    header = ", ".join(
        f'{expr} AS "{name}"'
        for expr, name in zip(
            (
                "f.name",
                "r.line",
                "r.table_name",
                "r.column_name",
                "r.source_column",
                "r.raw_value",
                "r.reason",
                "r.action",
            ),
            REJECT_COLUMNS,
            strict=True,
        )
    )
    conn.execute(
        f"COPY (SELECT {header} FROM rejects r JOIN import_files f USING (_file) "  # noqa: S608
        f"ORDER BY r._file, r.line, r._table, r._position, r._column, r.reason) "
        f"TO '{_sql_path(path)}' (FORMAT csv, HEADER true)"
    )
    count: int = conn.execute("SELECT count(*) FROM rejects").fetchone()[0]
    return count


def _file_summaries(conn: Any, files: list[SourceFile]) -> list[FileSummary]:
    summaries = []
    for source in files:
        records, malformed = conn.execute(
            f'SELECT (SELECT count(*) FROM "stg_{source.table}" WHERE _file = $i), '  # noqa: S608
            f"(SELECT count(DISTINCT line) FROM malformed WHERE _file = $i)",
            {"i": source.index},
        ).fetchone()
        summaries.append(
            FileSummary(
                name=source.path.name,
                table=source.table,
                sha256=sha256_file(source.path),
                records=records + malformed,
                malformed=malformed,
            )
        )
    return summaries


def _drift_check(conn: Any, schema: DatasetSchema) -> None:
    """The runner's own check: a dataset this importer built must pass it."""
    # Imported here: the engine package is heavy and only this step needs it.
    from trusted_env.engine.drift import check_dataset_matches_schema

    check_dataset_matches_schema(conn, schema)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


@contextlib.contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`, removed (with DuckDB's side files) if still there."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
