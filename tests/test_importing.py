"""Importing NHS England's Artificial HES (tests/data/artificial_hes) with the hes schema.

Expected numbers are checked against the raw CSV read independently with Python's csv module,
so a wrong count in the importer cannot also be a wrong count in the test.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from trusted_env.engine.drift import check_dataset_matches_schema
from trusted_env.importing import (
    ExtractError,
    ImportSummary,
    dataset_file_content_hash,
    import_extract_by_name,
    load_import_rules,
    resolve_rules_path,
    summary_path,
)
from trusted_env.schema import load_schema
from trusted_env.schema.loader import available_schemas

HES = Path(__file__).parent / "data" / "artificial_hes"
APC = HES / "apc__artificial_hes_apc_0102_truncated.csv"
AE = HES / "ae__artificial_hes_ae_0708_truncated.csv"
OP = HES / "op__artificial_hes_op_0304_truncated.csv"
INFANT_BANDS = {
    "7001": "less than 1 day",
    "7002": "1 to 6 days",
    "7003": "7 to 28 days",
    "7004": "29 to 90 days",
    "7005": "91 to 181 days",
    "7006": "182 to 272 days",
    "7007": "273 days to under 1 year",
}


@dataclass(frozen=True)
class Imported:
    summary: ImportSummary
    dataset: Path
    rejects: Path


def _raw(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _import(out: Path) -> Imported:
    summary = import_extract_by_name("hes", HES, out)
    return Imported(summary, out, out.with_name(f"{out.stem}.rejects.csv"))


@pytest.fixture(scope="module")
def hes(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    return _import(tmp_path_factory.mktemp("hes") / "hes.duckdb")


def _rows(dataset: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(dataset), read_only=True)
    try:
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


def test_one_hes_schema_holds_all_three_extracts(hes: Imported) -> None:
    assert (hes.summary.schema_name, hes.summary.schema_version) == ("hes", 1)
    assert [table.table for table in hes.summary.tables] == [
        "hes_apc",
        "hes_apc_diagnoses",
        "hes_apc_procedures",
        "hes_ae",
        "hes_op",
    ]
    assert "hes_apc" not in available_schemas()  # the old name is gone, not a second schema


def test_counts_match_the_extract(hes: Imported) -> None:
    apc = _raw(APC)
    assert len(apc) == 2075
    assert len({row["PSEUDO_HESID"] for row in apc}) == 994
    episodes, patients = _rows(
        hes.dataset, "SELECT count(*), count(DISTINCT patient_id) FROM hes_apc"
    )[0]
    assert (episodes, patients) == (2075, 994)
    for table, path, count in (("hes_ae", AE, 1000), ("hes_op", OP, 1000)):
        assert len(_raw(path)) == count
        assert _rows(hes.dataset, f"SELECT count(*) FROM {table}")[0][0] == count
        summary = hes.summary.table(table)
        assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (count, count, 0)
    apc_summary = hes.summary.table("hes_apc")
    assert (apc_summary.rows_read, apc_summary.rows_loaded, apc_summary.rows_rejected) == (
        2075,
        2075,
        0,
    )
    assert [f.records for f in hes.summary.files] == [2075, 1000, 1000]


def test_every_table_accounts_for_every_row(hes: Imported) -> None:
    for table in hes.summary.tables:
        loaded = _rows(hes.dataset, f"SELECT count(*) FROM {table.table}")[0][0]
        assert table.rows_loaded == loaded
        assert (
            table.rows_read == table.rows_loaded + table.rows_rejected + table.rows_skipped_by_rule
        )


def test_diagnosis_and_procedure_cells_are_all_accounted_for(hes: Imported) -> None:
    apc = _raw(APC)
    diag = [row[f"DIAG_4_{i:02d}"].strip() for row in apc for i in range(1, 21)]
    proc = [row[f"OPERTN_4_{i:02d}"].strip() for row in apc for i in range(1, 25)]
    diagnoses = hes.summary.table("hes_apc_diagnoses")
    assert diagnoses.rows_read == sum(1 for v in diag if v) == 5682
    assert diagnoses.rows_skipped_by_rule == diag.count("-") == 781
    assert (diagnoses.rows_loaded, diagnoses.rows_rejected) == (4898, 3)
    procedures = hes.summary.table("hes_apc_procedures")
    assert procedures.rows_read == sum(1 for v in proc if v) == 3113
    assert procedures.nulled("opcs4_code", "'-' = no operation performed") == proc.count("-") == 989
    assert procedures.nulled("opcs4_code", "'&' = not known") == proc.count("&") == 15
    assert (procedures.rows_loaded, procedures.rows_rejected) == (2108, 1)
    first = _rows(hes.dataset, "SELECT count(*) FROM hes_apc_diagnoses WHERE position = 1")[0][0]
    assert first == sum(1 for row in apc if row["DIAG_4_01"].strip()) - 1  # 7999 is rejected


def test_rejects_file_lists_exactly_the_bad_values(hes: Imported) -> None:
    with hes.rejects.open(newline="", encoding="utf-8") as handle:
        rejects = list(csv.DictReader(handle))
    icd10 = "does not match the pattern [A-Z][0-9]{2}[0-9X]"
    expected = [
        (679, "hes_apc", "primary_diagnosis", "DIAG_4_01", "7999", icd10, "value set to NULL"),
        (679, "hes_apc_diagnoses", "icd10_code", "DIAG_4_01", "7999", icd10, "row rejected"),
        (1333, "hes_apc_diagnoses", "icd10_code", "DIAG_4_02", "0000", icd10, "row rejected"),
        (
            1625,
            "hes_apc_procedures",
            "opcs4_code",
            "OPERTN_4_04",
            "8   ",
            "does not match the pattern [A-Z][0-9]{3}",
            "row rejected",
        ),
        (1698, "hes_apc_diagnoses", "icd10_code", "DIAG_4_06", "0000", icd10, "row rejected"),
    ]
    found = [
        (
            int(r["line"]),
            r["table"],
            r["column"],
            r["source_column"],
            r["raw_value"],
            r["reason"],
            r["action"],
        )
        for r in rejects
    ]
    assert found == expected
    assert {r["source_file"] for r in rejects} == {APC.name}
    assert hes.summary.rejects == 5
    # The line numbers point at the physical lines of the file (header = line 1).
    lines = APC.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    for line, _, _, column, raw, _, _ in expected:
        assert next(csv.reader([lines[line - 1]]))[header.index(column)] == raw


def test_hes_placeholder_dates_are_counted_and_nulled(hes: Imported) -> None:
    apc, op = _raw(APC), _raw(OP)
    apc_summary, op_summary = hes.summary.table("hes_apc"), hes.summary.table("hes_op")
    invalid, null = "'1801-01-01' = invalid date submitted", "'1800-01-01' = null date submitted"
    for column, source in (
        ("decision_to_admit_date", "ELECDATE"),
        ("admission_date", "ADMIDATE"),
        ("discharge_date", "DISDATE"),
        ("episode_start_date", "EPISTART"),
        ("episode_end_date", "EPIEND"),
    ):
        raw = Counter(row[source] for row in apc)
        assert apc_summary.nulled(column, invalid) == raw["1801-01-01"]
        assert apc_summary.nulled(column, null) == raw["1800-01-01"] == 0
        nulls = _rows(hes.dataset, f"SELECT count(*) FROM hes_apc WHERE {column} IS NULL")[0][0]
        assert nulls == raw["1801-01-01"] + raw[""]
    assert apc_summary.nulled("decision_to_admit_date", invalid) == 42
    raw_req = Counter(row["REQDATE"] for row in op)
    assert op_summary.nulled("referral_request_date", null) == raw_req["1800-01-01"] == 142
    assert op_summary.nulled("referral_request_date", invalid) == raw_req["1801-01-01"] == 37
    dates = _rows(
        hes.dataset,
        "SELECT count(*) FROM hes_apc WHERE '1800-01-01' IN (admission_date, discharge_date, "
        "decision_to_admit_date, episode_start_date, episode_end_date) OR '1801-01-01' IN "
        "(admission_date, discharge_date, decision_to_admit_date, episode_start_date, "
        "episode_end_date)",
    )
    assert dates[0][0] == 0


def test_infant_age_codes_map_to_age_zero_and_a_band(hes: Imported) -> None:
    loaded = dict(
        (
            (e, (a, b))
            for e, a, b in _rows(
                hes.dataset, "SELECT episode_id, age_at_start, infant_age_band FROM hes_apc"
            )
        )
    )
    infants = 0
    for row in _raw(APC):
        code = row["STARTAGE"]
        if code in INFANT_BANDS:
            infants += 1
            assert loaded[row["EPIKEY"]] == (0, INFANT_BANDS[code])
        else:
            assert loaded[row["EPIKEY"]] == (int(code), None)
    assert infants == 236
    assert (
        hes.summary.table("hes_apc").nulled("infant_age_band", "not in the map (unmapped: null)")
        == 2075 - 236
    )
    # A&E and outpatients write the same codes as decimals (7005.0).
    for table, path, source, column in (
        ("hes_ae", AE, "ARRIVALAGE", "age_at_arrival"),
        ("hes_op", OP, "APPTAGE", "age_at_appointment"),
    ):
        raw = Counter(row[source] for row in _raw(path))
        bands = dict(
            _rows(
                hes.dataset,
                f"SELECT infant_age_band, count(*) FROM {table} WHERE {column} = 0 GROUP BY 1",
            )
        )
        assert bands == {INFANT_BANDS[c]: raw[f"{c}.0"] for c in INFANT_BANDS if raw[f"{c}.0"]}
        assert (
            _rows(hes.dataset, f"SELECT count(*) FROM {table} WHERE {column} IS NULL")[0][0]
            == raw[""]
        )


def test_loaded_values_lie_within_the_declared_domains(hes: Imported) -> None:
    schema = load_schema("hes")
    checked = 0
    for table_name, table in schema.tables.items():
        for column_name, column in table.columns.items():
            if column.domain is None:
                continue
            values = {
                v for (v,) in _rows(hes.dataset, f"SELECT DISTINCT {column_name} FROM {table_name}")
            }
            allowed = set(column.domain) | ({None} if column.nullable else set())
            assert values <= allowed, (table_name, column_name, values - allowed)
            checked += 1
    assert checked == 20  # 10 in hes_apc, 5 each in hes_ae and hes_op
    sexes = dict(_rows(hes.dataset, "SELECT sex, count(*) FROM hes_apc GROUP BY 1"))
    assert sexes == {"female": 1108, "male": 965, "not known": 2}


def test_codes_and_labels_come_from_the_data_dictionary() -> None:
    """Domains and maps must be the dictionary's, not whatever the data happens to contain."""
    dictionary = {f["Field"]: f for f in json.loads((HES / "hes_apc_metadata.json").read_text())}

    def codes(field: str) -> list[str]:
        found: list[str] = []
        for line in dictionary[field]["Values"].splitlines():
            match = re.match(r"^\s*([0-9A-Z]{1,4})\s*=", line)
            if match and match.group(1) not in found:
                found.append(match.group(1))
        return found

    schema = load_schema("hes")
    apc = schema.tables["hes_apc"].columns
    for column, field in (
        ("admission_method", "ADMIMETH"),
        ("admission_source", "ADMISORC"),
        ("patient_classification", "CLASSPAT"),
        ("discharge_method", "DISMETH"),
        ("ethnicity_code", "ETHNOS"),
    ):
        assert list(apc[column].domain or ()) == codes(field), column
    rules = load_import_rules(resolve_rules_path("hes"), schema).tables["hes_apc"].columns
    for column, field in (
        ("sex", "SEX"),
        ("ethnicity", "ETHNOS"),
        ("region", "RESGOR"),
        ("admission_method_group", "ADMIMETH"),
    ):
        assert set(rules[column].map or {}) == set(codes(field)), column
    infant_codes = [c for c in codes("STARTAGE") if c.startswith("7")]
    assert list(rules["infant_age_band"].map or {}) == infant_codes == list(INFANT_BANDS)
    for column in ("admission_date", "discharge_date", "decision_to_admit_date"):
        assert set(rules[column].nulls) == {"1800-01-01", "1801-01-01"}
    assert "Method of Admission" in (apc["admission_method"].description)


def test_rows_are_stored_in_file_order(hes: Imported) -> None:
    keys = [k for (k,) in _rows(hes.dataset, "SELECT episode_id FROM hes_apc ORDER BY rowid")]
    assert keys == [row["EPIKEY"] for row in _raw(APC)]


def test_the_dataset_passes_the_runners_drift_check(hes: Imported) -> None:
    conn = duckdb.connect(str(hes.dataset), read_only=True)
    try:
        check_dataset_matches_schema(conn, load_schema("hes"))
    finally:
        conn.close()


def test_reimporting_gives_the_same_dataset(hes: Imported, tmp_path: Path) -> None:
    again = _import(tmp_path / "again.duckdb")
    assert again.summary == hes.summary
    assert dataset_file_content_hash(again.dataset) == dataset_file_content_hash(hes.dataset)
    assert again.summary.content_hash == dataset_file_content_hash(hes.dataset)
    assert again.rejects.read_bytes() == hes.rejects.read_bytes()
    assert summary_path(again.dataset).read_bytes() == summary_path(hes.dataset).read_bytes()
    for table in hes.summary.tables:
        sql = f"SELECT * FROM {table.table} ORDER BY rowid"
        assert _rows(again.dataset, sql) == _rows(hes.dataset, sql)


def test_the_content_hash_sees_a_changed_value(hes: Imported, tmp_path: Path) -> None:
    copy = tmp_path / "changed.duckdb"
    shutil.copy(hes.dataset, copy)
    conn = duckdb.connect(str(copy))
    try:
        conn.execute("UPDATE hes_apc SET length_of_stay = length_of_stay + 1 WHERE rowid = 7")
    finally:
        conn.close()
    assert dataset_file_content_hash(copy) != dataset_file_content_hash(hes.dataset)


def test_length_of_stay_is_derived_from_the_dates(hes: Imported) -> None:
    mismatches = _rows(
        hes.dataset,
        "SELECT count(*) FROM hes_apc WHERE length_of_stay IS DISTINCT FROM "
        "date_diff('day', admission_date, discharge_date)",
    )
    assert mismatches[0][0] == 0
    placeholders = {"", "1800-01-01", "1801-01-01"}
    both_dates = sum(
        1
        for row in _raw(APC)
        if row["ADMIDATE"] not in placeholders and row["DISDATE"] not in placeholders
    )
    known = _rows(hes.dataset, "SELECT count(length_of_stay), min(length_of_stay) FROM hes_apc")
    assert known[0] == (both_dates, 0)
    assert both_dates == 1994


def test_the_wrong_hes_file_fails_closed(tmp_path: Path) -> None:
    extract = tmp_path / "extract"
    extract.mkdir()
    shutil.copy(AE, extract / AE.name)
    shutil.copy(OP, extract / OP.name)
    with pytest.raises(ExtractError, match=r"matches 'apc\*\.csv' \(the files of table hes_apc\)"):
        import_extract_by_name("hes", extract, tmp_path / "hes.duckdb")
    shutil.copy(OP, extract / "apc_from_the_wrong_system.csv")  # outpatients, not APC
    with pytest.raises(
        ExtractError,
        match=r"apc_from_the_wrong_system.csv lacks columns that table hes_apc is loaded from: "
        r"EPIKEY, EPISTART, EPIEND, EPIORDER, .* and \d+ more\. Is this the right file",
    ):
        import_extract_by_name("hes", extract, tmp_path / "hes.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extract"]
