"""Find an extract's files, check their headers and stage their records in DuckDB.

Every field is read as text (DuckDB's CSV reader with explicit VARCHAR columns, no type
sniffing): types are checked afterwards so that a bad value is reported, not guessed at.
Records the CSV parser cannot split (wrong number of fields, bad encoding, unterminated quote)
are kept by DuckDB's `store_rejects` with their line number and reported as rejected rows.

Line numbers count the header as line 1 and one line per record, as DuckDB counts them: they
are the physical line numbers unless a quoted field spans lines or the file has blank lines.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trusted_env.importing.errors import ExtractError
from trusted_env.importing.rules import CsvFormat, ImportRules
from trusted_env.importing.sqlgen import lit, q

_PY_ENCODINGS = {"utf-8": "utf-8-sig", "latin-1": "latin-1", "utf-16": "utf-16"}


@dataclass(frozen=True)
class SourceFile:
    index: int
    table: str
    path: Path
    header: tuple[str, ...]


def match_files(extract_dir: Path, rules: ImportRules) -> tuple[list[SourceFile], list[str]]:
    """Files of each table read from files (sorted by name) and the files no table reads."""
    if not extract_dir.is_dir():
        raise ExtractError(
            f"{extract_dir} is not a directory.",
            hint="Pass the directory that holds the extract's CSV files.",
        )
    names = sorted(p.name for p in extract_dir.iterdir() if p.is_file())
    claimed: dict[str, str] = {}
    found: list[SourceFile] = []
    for table in rules.file_tables():
        pattern = rules.tables[table].files or ""
        matched = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            raise ExtractError(
                f"No file in {extract_dir} matches '{pattern}' (the files of table {table}).",
                hint="Check the directory, or the `files` pattern in the import rules.",
            )
        for name in matched:
            if name in claimed:
                raise ExtractError(
                    f"File {name} matches the files of tables {claimed[name]} "
                    f"and {table}; make the `files` patterns exclusive."
                )
            claimed[name] = table
            path = extract_dir / name
            header = read_header(path, rules.csv)
            _check_header(path, header, table, rules)
            found.append(SourceFile(len(found), table, path, header))
    ignored = [n for n in names if n not in claimed and not n.startswith(".")]
    return found, ignored


def read_header(path: Path, fmt: CsvFormat) -> tuple[str, ...]:
    try:
        with path.open(encoding=_PY_ENCODINGS[fmt.encoding], newline="") as handle:
            row = next(csv.reader(handle, delimiter=fmt.delimiter, quotechar=fmt.quote), None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ExtractError(
            f"Cannot read the header line of {path.name}: {exc}.",
            hint=f"The import rules expect {fmt.encoding} CSV.",
        ) from None
    if not row:
        raise ExtractError(f"{path.name} is empty: it has no header line.")
    return tuple(name.strip() for name in row)


def _check_header(path: Path, header: tuple[str, ...], table: str, rules: ImportRules) -> None:
    folded = [name.casefold() for name in header]
    duplicates = sorted({name for name in header if folded.count(name.casefold()) > 1})
    if duplicates:
        raise ExtractError(
            f"The header of {path.name} repeats columns: {', '.join(duplicates)}.",
            hint="Column names must be distinct, ignoring case.",
        )
    missing = [name for name in rules.source_columns(table) if name not in header]
    if missing:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        shown = ", ".join(missing[:10]) + more
        raise ExtractError(
            f"{path.name} lacks columns that table {table} is loaded from: {shown}.",
            hint="Is this the right file (and delimiter) for the table? Nothing was imported.",
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_file(conn: Any, source: SourceFile, aliases: dict[str, str], fmt: CsvFormat) -> str:
    """Read the file into a temp table (each needed source column under its alias) and its
    malformed records into `malformed`; return a query giving its rows with _file and _line."""
    tag = f"{source.table}_{source.index}"
    raw, rej, scan = q(f"raw_{tag}"), f"rej_{tag}", f"scan_{tag}"
    declared = ", ".join(f"{lit(name)}: 'VARCHAR'" for name in source.header)
    reader = (
        f"read_csv({lit(str(source.path))}, header = true, auto_detect = false, "
        f"columns = {{{declared}}}, delim = {lit(fmt.delimiter)}, quote = {lit(fmt.quote)}, "
        f"escape = {lit(fmt.quote)}, encoding = {lit(fmt.encoding)}, "
        f"store_rejects = true, rejects_table = {lit(rej)}, rejects_scan = {lit(scan)})"
    )
    selected = ", ".join(f"{q(name)} AS {q(alias)}" for name, alias in aliases.items())
    # preserve_insertion_order keeps the records in file order, so rowid is the record index.
    conn.execute(f"CREATE TEMP TABLE {raw} AS SELECT {selected} FROM {reader}")  # noqa: S608
    conn.execute(
        # One entry per record: DuckDB reports e.g. each missing column separately.
        f"INSERT INTO malformed SELECT {source.index}, {lit(source.table)}, line, "  # noqa: S608
        f"COALESCE(arg_min(column_name, column_idx), ''), trim(arg_min(csv_line, column_idx), "
        f"'\r\n'), 'malformed CSV record: ' || arg_min(error_type, column_idx) || ' (' || "
        f"arg_min(error_message, column_idx) || ')' FROM {q(rej)} GROUP BY line"
    )
    line = "2 + r.rowid"
    if conn.execute(f"SELECT count(*) FROM {q(rej)}").fetchone()[0]:  # noqa: S608
        # Records the parser skipped shift the record numbers of the records after them.
        line += (
            f" + (SELECT count(*) FROM (SELECT line, row_number() OVER (ORDER BY line) - 1 AS k "  # noqa: S608
            f"FROM (SELECT DISTINCT line FROM {q(rej)})) WHERE line - 2 - k <= r.rowid)"
        )
    staged = ", ".join(q(alias) for alias in aliases.values())
    return (
        f"SELECT CAST({source.index} AS INTEGER) AS _file, CAST({line} AS BIGINT) AS _line, "  # noqa: S608
        f"{staged} FROM {raw} r"
    )
