"""The importer's rules on a small hand-written extract: every kind of reject, exactly once."""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from trusted_env.cli.dataset_build import register_build
from trusted_env.errors import SpecError
from trusted_env.importing import ExtractError, ImportSummary, import_extract_by_name

SCHEMA = """\
name: tiny
version: 1
description: A tiny dataset for importer tests.
tables:
  people:
    description: One row per visit.
    patient_id: patient_id
    columns:
      patient_id: {type: string, description: Person.}
      visit: {type: integer, description: Visit number.}
      score: {type: float, nullable: true, description: Score.}
      start: {type: date, nullable: true, description: Start.}
      end: {type: date, nullable: true, description: End (a reserved word in SQL).}
      days: {type: integer, nullable: true, description: Days from start to end.}
      group: {type: string, description: Group., domain: [a, b, "c'd"]}
      flag: {type: boolean, nullable: true, description: Flag.}
  codes:
    description: One row per code of a visit.
    patient_id: patient_id
    columns:
      patient_id: {type: string, description: Person.}
      visit: {type: integer, description: Visit number.}
      position: {type: integer, description: Position.}
      code: {type: string, description: Code.}
"""
RULES = """\
schema: tiny
schema_version: 1
tables:
  people:
    files: "people*.csv"
    unique: [patient_id, visit]
    columns:
      patient_id: {from: ID, pattern: "P[0-9]+"}
      visit: {from: VISIT}
      score: {from: SCORE}
      start: {from: START, nulls: {"1801-01-01": invalid date submitted}}
      end: {from: END}
      days: {derive: {days_between: {start: start, end: end}}, min: 0}
      group: {from: GRP, map: {"1": a, "2": b, "3": "c'd"}}
      flag: {from: FLAG, map: {"Y": "true", "N": "false"}, unmapped: "null"}
  codes:
    unpivot: {of: people, cells: [C1, C2], position: position, value: code,
              carry: [patient_id, visit]}
    columns:
      code: {nulls: {"-": no code}, pattern: "[A-Z][0-9]"}
"""
PEOPLE = [
    "ID,VISIT,SCORE,START,END,GRP,FLAG,C1,C2",
    "P1,1,1.5,2001-01-01,2001-01-05,1,Y,A1,B2",
    "P2,2.0,x,2001-02-30,2001-01-01,2,N,-,Z9",
    "P3,1,,1801-01-01,2001-01-01,3,Q,a1,",
    "P1,1,2,2001-01-01,2001-01-01,1,Y,C3,",
    ",1,2,2001-01-01,2001-01-01,1,Y,,",
    "P5,4.5,2,2001-01-01,2001-01-01,9,Y,,",
    "P6,1,2,2001-01-01",
    "P7,1,2,2001-03-01,2001-02-01,1,y,D4,E5",
]
DUPLICATE = "duplicate patient_id, visit: the same value was loaded from people.csv line 2"
EXPECTED_REJECTS = [
    ("3", "people", "score", "SCORE", "x", "is not a number", "value set to NULL"),
    (
        "3",
        "people",
        "start",
        "START",
        "2001-02-30",
        "is not a valid date (YYYY-MM-DD)",
        "value set to NULL",
    ),
    ("4", "codes", "code", "C1", "a1", "does not match the pattern [A-Z][0-9]", "row rejected"),
    ("5", "people", "patient_id, visit", "ID, VISIT", "P1, 1", DUPLICATE, "row rejected"),
    ("6", "people", "patient_id", "ID", "", "required value is missing", "row rejected"),
    ("7", "people", "visit", "VISIT", "4.5", "is not a whole number", "row rejected"),
    ("7", "people", "group", "GRP", "9", "is not a code of the map", "row rejected"),
    (
        "9",
        "people",
        "days",
        "derived from start, end",
        "-28",
        "is below the minimum 0",
        "value set to NULL",
    ),
]


def _extract(tmp_path: Path, lines: list[str] = PEOPLE, newline: str = "\n") -> Path:
    (tmp_path / "tiny.yaml").write_text(SCHEMA, encoding="utf-8")
    (tmp_path / "tiny.import.yaml").write_text(RULES, encoding="utf-8")
    extract = tmp_path / "extract"
    extract.mkdir(exist_ok=True)
    (extract / "people.csv").write_bytes((newline.join(lines) + newline).encode("utf-8"))
    return extract


def _import(tmp_path: Path, extract: Path, out: str = "tiny.duckdb") -> ImportSummary:
    return import_extract_by_name(tmp_path / "tiny.yaml", extract, tmp_path / out)


def _rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _fetch(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_each_kind_of_problem_is_reported_once(tmp_path: Path, newline: str) -> None:
    summary = _import(tmp_path, _extract(tmp_path, newline=newline))
    rejects = _rejects(tmp_path / "tiny.rejects.csv")
    malformed = [r for r in rejects if r["reason"].startswith("malformed CSV record")]
    assert [(r["line"], r["raw_value"], r["action"]) for r in malformed] == [
        ("8", "P6,1,2,2001-01-01", "row rejected")
    ]
    assert "MISSING COLUMNS" in malformed[0]["reason"]
    others = [
        (
            r["line"],
            r["table"],
            r["column"],
            r["source_column"],
            r["raw_value"],
            r["reason"],
            r["action"],
        )
        for r in rejects
        if r not in malformed
    ]
    assert others == EXPECTED_REJECTS
    assert {r["source_file"] for r in rejects} == {"people.csv"}
    assert summary.rejects == len(EXPECTED_REJECTS) + 1
    people = summary.table("people")
    assert (people.rows_read, people.rows_loaded, people.rows_rejected) == (8, 4, 4)
    assert people.values_set_to_null == 3
    assert people.nulled("start", "'1801-01-01' = invalid date submitted") == 1
    assert people.nulled("flag", "not in the map (unmapped: null)") == 2
    codes = summary.table("codes")
    assert (codes.rows_read, codes.rows_loaded, codes.rows_rejected) == (7, 5, 1)
    assert codes.rows_skipped_by_rule == codes.nulled("code", "'-' = no code") == 1


def test_loaded_values_are_typed_cleaned_and_in_file_order(tmp_path: Path) -> None:
    _import(tmp_path, _extract(tmp_path))
    out = tmp_path / "tiny.duckdb"
    rows = _fetch(
        out,
        "SELECT patient_id, visit, score, CAST(start AS VARCHAR), "
        'CAST("end" AS VARCHAR), days, "group", flag FROM people ORDER BY rowid',
    )
    assert rows == [
        ("P1", 1, 1.5, "2001-01-01", "2001-01-05", 4, "a", True),
        ("P2", 2, None, None, "2001-01-01", None, "b", False),
        ("P3", 1, None, None, "2001-01-01", None, "c'd", None),
        ("P7", 1, 2.0, "2001-03-01", "2001-02-01", None, "a", None),
    ]
    codes = _fetch(out, "SELECT patient_id, visit, position, code FROM codes ORDER BY rowid")
    assert codes == [
        ("P1", 1, 1, "A1"),
        ("P1", 1, 2, "B2"),
        ("P2", 2, 2, "Z9"),
        ("P7", 1, 1, "D4"),
        ("P7", 1, 2, "E5"),
    ]
    types = dict(
        _fetch(
            out,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'people'",
        )
    )
    assert types == {
        "patient_id": "VARCHAR",
        "visit": "BIGINT",
        "score": "DOUBLE",
        "start": "DATE",
        "end": "DATE",
        "days": "BIGINT",
        "group": "VARCHAR",
        "flag": "BOOLEAN",
    }


def test_files_are_read_in_name_order_and_named_in_rejects(tmp_path: Path) -> None:
    extract = _extract(tmp_path, [PEOPLE[0], PEOPLE[2]])
    (extract / "people.csv").rename(extract / "people_2.csv")
    (extract / "people_1.csv").write_text("\n".join([PEOPLE[0], PEOPLE[1], PEOPLE[1]]) + "\n")
    (extract / "notes.txt").write_text("not data")
    summary = _import(tmp_path, extract)
    assert [f.name for f in summary.files] == ["people_1.csv", "people_2.csv"]
    assert summary.ignored_files == ("notes.txt",)
    rejects = _rejects(tmp_path / "tiny.rejects.csv")
    assert [(r["source_file"], r["line"], r["column"]) for r in rejects] == [
        ("people_1.csv", "3", "patient_id, visit"),
        ("people_2.csv", "2", "score"),
        ("people_2.csv", "2", "start"),
    ]
    assert rejects[0]["reason"].endswith("people_1.csv line 2")
    ids = _fetch(tmp_path / "tiny.duckdb", "SELECT patient_id FROM people ORDER BY rowid")
    assert ids == [("P1",), ("P2",)]


def test_missing_column_fails_closed_and_writes_nothing(tmp_path: Path) -> None:
    lines = [line.rsplit(",", 1)[0] for line in PEOPLE]  # drops C2
    with pytest.raises(
        ExtractError,
        match=r"people.csv lacks columns that table people is "
        r"loaded from: C2",
    ):
        _import(tmp_path, _extract(tmp_path, lines))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "extract",
        "tiny.import.yaml",
        "tiny.yaml",
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda d: (d / "people.csv").rename(d / "persons.csv"),
            r"No file in .* matches 'people\*\.csv' \(the files of table people\)",
        ),
        (lambda d: (d / "people.csv").write_text(""), r"people.csv is empty"),
        (lambda d: (d / "people.csv").write_text("ID,id,VISIT\n"), r"repeats columns: ID, id"),
        (
            lambda d: (d / "people.csv").write_bytes(b"ID,\xff\n"),
            r"Cannot read the header line of people.csv",
        ),
    ],
)
def test_bad_extracts_fail_closed(
    tmp_path: Path, setup: Callable[[Path], object], message: str
) -> None:
    extract = _extract(tmp_path)
    setup(extract)
    with pytest.raises(ExtractError, match=message):
        _import(tmp_path, extract)
    assert not (tmp_path / "tiny.duckdb").exists()


def test_extract_must_be_a_directory(tmp_path: Path) -> None:
    extract = _extract(tmp_path)
    with pytest.raises(ExtractError, match="is not a directory"):
        _import(tmp_path, extract / "people.csv")


def test_existing_dataset_is_replaced_only_when_asked(tmp_path: Path) -> None:
    extract = _extract(tmp_path)
    first = _import(tmp_path, extract)
    with pytest.raises(ExtractError, match="already exists"):
        _import(tmp_path, extract)
    again = import_extract_by_name(
        tmp_path / "tiny.yaml", extract, tmp_path / "tiny.duckdb", replace=True
    )
    assert again == first
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"3": "c\'d"', '"3": c'), r"group: map produces values outside the domain: c"),
        (('"1": a, ', "1: a, "), r"Input should be a valid string"),
        (
            ("      flag: {", "      flagged: {"),
            r"people: no rule for column 'flag'; people: rule for unknown column 'flagged'\.",
        ),
        (("schema: tiny", "schema: other"), r"the rules are for schema other v1, not tiny v1"),
        (('pattern: "P[0-9]+"', 'pattern: "P(?=1)"'), r"RE2 syntax"),
        (("min: 0", 'pattern: "x"'), r"days: pattern applies to string columns"),
        (
            ("{from: START, nulls", "{derive: {hash_of: [start]}, nulls"),
            r"nulls, map and drop_zero_decimals apply to source values only",
        ),
    ],
)
def test_rules_that_do_not_fit_fail_closed(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    extract = _extract(tmp_path)
    rules = tmp_path / "tiny.import.yaml"
    text = rules.read_text()
    assert change[0] in text
    rules.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(SpecError, match=message):
        _import(tmp_path, extract)
    assert not (tmp_path / "tiny.duckdb").exists()
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_file_matched_by_two_tables_is_refused(tmp_path: Path) -> None:
    extract = _extract(tmp_path)
    schema = SCHEMA + textwrap.indent(
        "others:\n  description: Same files.\n  patient_id: patient_id\n  columns:\n"
        "    patient_id: {type: string, description: Person.}\n",
        "  ",
    )
    (tmp_path / "tiny.yaml").write_text(schema)
    with (tmp_path / "tiny.import.yaml").open("a") as rules:
        rules.write('  others:\n    files: "p*.csv"\n    columns:\n      patient_id: {from: ID}\n')
    with pytest.raises(ExtractError, match="matches the files of tables people and others"):
        _import(tmp_path, extract)


def test_cli_prints_a_summary(tmp_path: Path) -> None:
    extract = _extract(tmp_path)
    app = typer.Typer()
    dataset = typer.Typer()
    register_build(dataset)
    app.add_typer(dataset, name="dataset")
    out = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(
        app,
        [
            "dataset",
            "build",
            "--schema",
            str(tmp_path / "tiny.yaml"),
            "--from-csv",
            str(extract),
            "--out",
            str(out),
            "--rejects",
            str(tmp_path / "bad.csv"),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "people" in result.output and "codes" in result.output
    assert f"Rejects: 9 lines in {tmp_path / 'bad.csv'}" in result.output
    assert "'1801-01-01' = invalid date submitted" in result.output
    assert out.exists() and (tmp_path / "bad.csv").exists()
    failed = CliRunner().invoke(
        app,
        [
            "dataset",
            "build",
            "--schema",
            "no_such_schema",
            "--from-csv",
            str(extract),
            "--out",
            str(out),
        ],
    )
    assert isinstance(failed.exception, SpecError)
