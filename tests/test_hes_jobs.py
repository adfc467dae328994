"""The HES example jobs (jobs/hes_*): on dummy HES, and unchanged on NHS England's Artificial HES
imported from tests/data/artificial_hes, then through the control plane as a real dataset.

Exact values come from the engine's dummy-data path (`run_on_dummy`) and are checked against
aggregates computed here in Python from the dataset's rows, so that a mistake in the cohort SQL,
the truncation or the aggregation is not repeated by the check.
"""

from __future__ import annotations

import bisect
import csv
import functools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from trusted_env.cli import dummy as dummy_commands
from trusted_env.cli import researcher
from trusted_env.control import Actor, Database, Role, datasets, decisions, releases, runs, users
from trusted_env.control.review import review_run
from trusted_env.control.runs import RunState
from trusted_env.control.worker import Worker
from trusted_env.dp.cells import CellKey
from trusted_env.dummy import ensure_dummy_dataset
from trusted_env.engine import run_on_dummy
from trusted_env.errors import BudgetExceeded
from trusted_env.importing import import_extract_by_name
from trusted_env.release.model import Release
from trusted_env.schema import load_schema
from trusted_env.settings import Settings
from trusted_env.spec.job_folder import compile_job
from trusted_env.spec.outputs import MeanOutput
from trusted_env.spec.plan import Plan

ROOT = Path(__file__).parent.parent
ARTIFICIAL_HES = Path(__file__).parent / "data" / "artificial_hes"
APC_CSV = ARTIFICIAL_HES / "apc__artificial_hes_apc_0102_truncated.csv"
SCHEMA = load_schema("hes")
EMERGENCY, LENGTH_OF_STAY, EPISODES = (
    "hes_emergency_admissions",
    "hes_length_of_stay",
    "hes_episodes_per_patient",
)
JOBS = (EMERGENCY, LENGTH_OF_STAY, EPISODES)
BOUND = 5  # max_rows_per_patient of hes_episodes_per_patient
EMERGENCY_CODES = {"21", "22", "23", "24", "25", "2A", "2B", "2C", "2D", "28"}
Exact = dict[CellKey, float | None]


@functools.cache
def plan(job: str) -> Plan:
    return compile_job(ROOT / "jobs" / job)


@pytest.fixture(scope="module")
def artificial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artificial HES extract imported with the importer, as an operator would."""
    out = tmp_path_factory.mktemp("artificial") / "hes.duckdb"
    summary = import_extract_by_name("hes", ARTIFICIAL_HES, out)
    assert summary.schema_name == "hes"
    assert summary.table("hes_apc").rows_loaded == 2075
    return out


@pytest.fixture(scope="module")
def dummy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_dummy_dataset(SCHEMA, tmp_path_factory.mktemp("dummy"))


@pytest.fixture(scope="module", params=["dummy", "artificial"])
def dataset(request: pytest.FixtureRequest) -> Path:
    path: Path = request.getfixturevalue(request.param)
    return path


@functools.cache
def run_job(job: str, path: Path) -> tuple[Release, dict[str, Exact]]:
    return run_on_dummy(plan(job), path, SCHEMA)


def rows(path: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        result = connection.execute(sql)
        names = [column[0] for column in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def nulls_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)


def public_keys(job: str, output: str) -> list[CellKey]:
    planned = next(p for p in plan(job).outputs if p.output.name == output)
    key_sets = []
    for group in planned.output.group_by:
        keys = group.keys or SCHEMA.domain_of(group.keys_from or "")
        assert keys is not None
        key_sets.append(keys)
    cells: list[CellKey] = [()]
    for keys in key_sets:
        cells = [(*cell, key) for cell in cells for key in keys]
    return cells


def assert_cells(exact: Exact, expected: Mapping[CellKey, float], keys: Sequence[CellKey]) -> None:
    """Every public cell is there, with the expected value (missing = 0)."""
    assert set(exact) == set(keys)
    for cell in keys:
        assert exact[cell] == pytest.approx(expected.get(cell, 0.0), abs=1e-9), cell


def assert_release_has_every_cell(release: Release, job: str) -> None:
    assert release.epsilon_spent == plan(job).budget.epsilon
    for output in release.outputs:
        cells = public_keys(job, output.name)
        if output.type == "histogram":
            assert len(output.rows) == 6
            continue
        assert [tuple(row.keys.values()) for row in output.rows] == cells
        for row in output.rows:
            if output.type == "mean" and row.estimate is None:  # noisy count not above zero
                assert (row.ci_low, row.ci_high) == output_bounds(job, output.name)
                continue
            assert row.estimate is not None
            if output.type in {"count", "sum", "mean"}:
                assert row.ci_low is not None and row.ci_high is not None
                assert row.ci_low <= row.estimate <= row.ci_high


def output_bounds(job: str, name: str) -> tuple[float, float]:
    output = next(p.output for p in plan(job).outputs if p.output.name == name)
    assert isinstance(output, MeanOutput)
    return output.bounds


# --- hes_emergency_admissions ----------------------------------------------------------------


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    labels = ("0", "1-4", "5-17", "18-39", "40-59", "60-74", "75-84", "85+")
    return labels[bisect.bisect_right((1, 5, 18, 40, 60, 75, 85), age)]


def emergency_expected(path: Path) -> dict[str, dict[CellKey, float]]:
    episodes = rows(
        path,
        "SELECT patient_id, spell_id, episode_id, admission_date, episode_start_date, sex, "
        "age_at_start FROM hes_apc WHERE admission_method_group = 'emergency'",
    )
    by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for episode in episodes:
        by_patient[episode["patient_id"]].append(episode)
    patients: Counter[CellKey] = Counter()
    admissions: Counter[CellKey] = Counter()
    histogram: Counter[CellKey] = Counter()
    for own in by_patient.values():
        spells = {e["spell_id"] or ("no spell", e["episode_id"]) for e in own}
        first = min(
            own,
            key=lambda e: (
                nulls_last(e["admission_date"]),
                nulls_last(e["episode_start_date"]),
                e["episode_id"],
            ),
        )
        cell = (age_band(first["age_at_start"]), first["sex"])
        patients[cell] += 1
        admissions[cell] += min(len(spells), 5)
        labels = ("< 1", "[1, 2)", "[2, 3)", "[3, 5)", "[5, 10)", ">= 10")
        histogram[(labels[bisect.bisect_right((1, 2, 3, 5, 10), len(spells))],)] += 1
    return {
        "patients_by_age_sex": dict(patients),
        "admissions_by_age_sex": dict(admissions),
        "admissions_per_patient": dict(histogram),
    }


def test_emergency_admissions_exact_values(dataset: Path) -> None:
    release, exact = run_job(EMERGENCY, dataset)
    expected = emergency_expected(dataset)
    for name in ("patients_by_age_sex", "admissions_by_age_sex"):
        assert_cells(exact[name], expected[name], public_keys(EMERGENCY, name))
    histogram: list[CellKey] = [("< 1",), ("[1, 2)",), ("[2, 3)",), ("[3, 5)",), ("[5, 10)",)]
    histogram.append((">= 10",))
    assert_cells(exact["admissions_per_patient"], expected["admissions_per_patient"], histogram)
    assert exact["admissions_per_patient"][("< 1",)] == 0  # only patients with an admission
    assert_release_has_every_cell(release, EMERGENCY)


def test_emergency_admissions_on_the_artificial_extract(artificial: Path) -> None:
    """Every patient with an emergency episode in the CSV is counted once, in a public cell."""
    with APC_CSV.open(newline="", encoding="utf-8") as handle:
        emergency_patients = {
            row["PSEUDO_HESID"]
            for row in csv.DictReader(handle)
            if row["ADMIMETH"] in EMERGENCY_CODES
        }
    assert len(emergency_patients) == 495
    _, exact = run_job(EMERGENCY, artificial)
    assert sum(v or 0 for v in exact["patients_by_age_sex"].values()) == 495
    assert sum(v or 0 for v in exact["admissions_per_patient"].values()) == 495
    infants = exact["patients_by_age_sex"][("0", "male")] or 0
    assert infants + (exact["patients_by_age_sex"][("0", "female")] or 0) > 0


# --- hes_length_of_stay ----------------------------------------------------------------------

CHAPTERS = (
    ("A00", "B99", "I Infectious and parasitic (A00-B99)"),
    ("C00", "D48", "II Neoplasms (C00-D48)"),
    ("D50", "D89", "III Blood and immune (D50-D89)"),
    ("E00", "E90", "IV Endocrine and metabolic (E00-E90)"),
    ("F00", "F99", "V Mental and behavioural (F00-F99)"),
    ("G00", "G99", "VI Nervous system (G00-G99)"),
    ("H00", "H59", "VII Eye (H00-H59)"),
    ("H60", "H95", "VIII Ear (H60-H95)"),
    ("I00", "I99", "IX Circulatory (I00-I99)"),
    ("J00", "J99", "X Respiratory (J00-J99)"),
    ("K00", "K93", "XI Digestive (K00-K93)"),
    ("L00", "L99", "XII Skin (L00-L99)"),
    ("M00", "M99", "XIII Musculoskeletal (M00-M99)"),
    ("N00", "N99", "XIV Genitourinary (N00-N99)"),
    ("O00", "O99", "XV Pregnancy and childbirth (O00-O99)"),
    ("P00", "P96", "XVI Perinatal (P00-P96)"),
    ("Q00", "Q99", "XVII Congenital (Q00-Q99)"),
    ("R00", "R99", "XVIII Symptoms and signs (R00-R99)"),
    ("S00", "T98", "XIX Injury and poisoning (S00-T98)"),
    ("V01", "Y98", "XX External causes (V01-Y98)"),
    ("Z00", "Z99", "XXI Health services contact (Z00-Z99)"),
    ("U00", "U99", "XXII Special purposes (U00-U99)"),
)


def chapter(code: str) -> str | None:
    found = [name for low, high, name in CHAPTERS if low <= code[:3] <= high]
    assert len(found) <= 1
    return found[0] if found else None


def first_discharged_stays(path: Path) -> dict[str, list[int]]:
    """Per chapter, the length of stay of each patient's first discharged spell."""
    episodes = rows(
        path,
        "SELECT patient_id, spell_id, admission_date, length_of_stay, primary_diagnosis, "
        "episode_start_date, episode_order, episode_id FROM hes_apc WHERE spell_id IS NOT NULL",
    )
    spells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for episode in episodes:
        spells[(episode["patient_id"], episode["spell_id"])].append(episode)
    firsts: dict[str, tuple[tuple[bool, Any], str, int, str]] = {}
    for (patient, spell), own in spells.items():
        first = min(
            own,
            key=lambda e: (
                nulls_last(e["episode_start_date"]),
                nulls_last(e["episode_order"]),
                e["episode_id"],
            ),
        )
        stays = [e["length_of_stay"] for e in own if e["length_of_stay"] is not None]
        admitted = min((e["admission_date"] for e in own if e["admission_date"]), default=None)
        if not stays or first["primary_diagnosis"] is None:
            continue
        candidate = (nulls_last(admitted), spell, max(stays), first["primary_diagnosis"])
        if patient not in firsts or candidate[:2] < firsts[patient][:2]:
            firsts[patient] = candidate
    by_chapter: dict[str, list[int]] = defaultdict(list)
    for _, _, stay, diagnosis in firsts.values():
        name = chapter(diagnosis)
        if name is not None:
            by_chapter[name].append(stay)
    return by_chapter


def score_median(values: list[int], candidates: range) -> int:
    """The candidate OpenDP's median aims at: the first minimising |#(x < c) - #(x > c)|
    (make_quantile_score_candidates with alpha 0.5), which with ties need not be an order
    statistic."""
    scores = [abs(sum(v < c for v in values) - sum(v > c for v in values)) for c in candidates]
    return candidates[scores.index(min(scores))]


def test_length_of_stay_exact_values(dataset: Path) -> None:
    release, exact = run_job(LENGTH_OF_STAY, dataset)
    by_chapter = first_discharged_stays(dataset)
    keys = public_keys(LENGTH_OF_STAY, "patients_by_chapter")
    counts: dict[CellKey, float] = {(name,): len(stays) for name, stays in by_chapter.items()}
    assert_cells(exact["patients_by_chapter"], counts, keys)
    assert sum(1 for stays in by_chapter.values() if stays) >= 15  # chapters are populated
    for (name,) in keys:
        stays = sorted(by_chapter.get(name, []))
        mean, median = (
            exact["mean_length_of_stay_by_chapter"][(name,)],
            exact["median_length_of_stay_by_chapter"][(name,)],
        )
        if not stays:
            assert mean is None and median is None
            continue
        clamped = [min(max(stay, 0), 60) for stay in stays]
        assert mean == pytest.approx(sum(clamped) / len(clamped), abs=1e-9), name
        assert median == score_median(stays, candidates=range(121)), name
        assert median is not None and min(min(stays), 120) <= median <= min(max(stays), 120)
    assert_release_has_every_cell(release, LENGTH_OF_STAY)
    medians = release.output("median_length_of_stay_by_chapter").rows
    assert all(0 <= (row.estimate or 0) <= 120 and row.ci_low is None for row in medians)


# --- hes_episodes_per_patient (max_rows_per_patient: 5) ---------------------------------------


def truncated_cohort(path: Path) -> list[dict[str, Any]]:
    """The job's cohort with each patient's rows beyond the bound dropped, as documented in
    engine/cohort.py: rows kept in the order of a hash of the whole row, per patient."""
    return rows(
        path,
        f"WITH raw AS ({plan(EPISODES).sql}), "
        "ordered AS (SELECT *, row_number() OVER (PARTITION BY patient_id ORDER BY hash(r)) "
        "AS nth FROM raw AS r) SELECT * EXCLUDE (nth) FROM ordered WHERE nth <= "
        f"{BOUND}",
    )


def test_episode_counts_are_truncated_to_the_bound(dataset: Path) -> None:
    release, exact = run_job(EPISODES, dataset)
    episodes = rows(dataset, "SELECT patient_id, admission_method_group FROM hes_apc")
    per_patient = Counter(e["patient_id"] for e in episodes)
    kept = truncated_cohort(dataset)
    assert Counter(r["patient_id"] for r in kept) == {
        p: min(n, BOUND) for p, n in per_patient.items()
    }
    assert any(n > BOUND for n in per_patient.values())  # the bound bites on this data
    group_keys = public_keys(EPISODES, "episodes_by_method_group")
    by_group: Counter[CellKey] = Counter((r["admission_method_group"],) for r in kept)
    assert_cells(exact["episodes_by_method_group"], dict(by_group), group_keys)
    by_method: Counter[CellKey] = Counter((r["admission_method"],) for r in kept)
    assert_cells(
        exact["episodes_by_method"], dict(by_method), public_keys(EPISODES, "episodes_by_method")
    )
    bands: Counter[CellKey] = Counter((r["age_band"],) for r in kept if r["day_case"])
    assert_cells(
        exact["day_cases_by_age_band"], dict(bands), public_keys(EPISODES, "day_cases_by_age_band")
    )
    # Whatever rows a patient keeps: no more than the bound, all of them if they had fewer.
    untruncated: Counter[CellKey] = Counter(
        (e["admission_method_group"],) for e in episodes if per_patient[e["patient_id"]] <= BOUND
    )
    everything: Counter[CellKey] = Counter((e["admission_method_group"],) for e in episodes)
    for cell in group_keys:
        assert (
            untruncated[cell] <= (exact["episodes_by_method_group"][cell] or 0) <= everything[cell]
        )
    total = sum(v or 0 for v in exact["episodes_by_method_group"].values())
    assert total == sum(min(n, BOUND) for n in per_patient.values()) < len(episodes)
    assert_release_has_every_cell(release, EPISODES)
    # Noise for a patient who moves up to 5 counts: scale 5 / epsilon per output.
    for output in release.outputs:
        assert output.noise_scales["count"] == pytest.approx(BOUND / output.epsilon, rel=1e-9)


def test_the_bound_bites_on_the_artificial_extract(artificial: Path) -> None:
    with APC_CSV.open(newline="", encoding="utf-8") as handle:
        per_patient = Counter(row["PSEUDO_HESID"] for row in csv.DictReader(handle))
    _, exact = run_job(EPISODES, artificial)
    total = sum(v or 0 for v in exact["episodes_by_method_group"].values())
    assert total == sum(min(n, BOUND) for n in per_patient.values()) == 1582
    assert sum(per_patient.values()) == 2075


# --- Through the control plane -----------------------------------------------------------------

OPERATOR = Actor.operator()


class ControlPlane(NamedTuple):
    db: Database
    alice: Actor
    sam: Actor


@pytest.fixture
def control(tmp_path: Path, artificial: Path) -> Iterator[ControlPlane]:
    """A fresh control plane with the artificial HES registered as a real dataset (epsilon 4)."""
    db = Database(f"sqlite:///{tmp_path / 'control.db'}")
    try:
        with db.transaction() as session:
            users.create_user(session, OPERATOR, "alice", Role.RESEARCHER)
            users.create_user(session, OPERATOR, "sam", Role.STEWARD)
            datasets.register_dataset(
                session,
                OPERATOR,
                name="artificial_hes",
                path=artificial,
                schema=load_schema("hes"),
                budget_epsilon=4.0,
            )
        with db.transaction() as session:
            alice, sam = users.actor_for(session, "alice"), users.actor_for(session, "sam")
        yield ControlPlane(db, alice, sam)
    finally:
        db.dispose()


def in_session(control: ControlPlane, action: Callable[[Any], Any]) -> Any:
    with control.db.transaction() as session:
        return action(session)


def submit(control: ControlPlane, job: str) -> int:
    """Alice submits the job's canonical plan against the registered artificial HES."""
    with control.db.transaction() as session:
        return runs.submit_run(session, control.alice, "artificial_hes", plan(job)).id


def approve(control: ControlPlane, run_id: int, reason: str = "HES example job") -> None:
    with control.db.transaction() as session:
        decisions.approve_run(session, control.sam, run_id, reason)


def test_hes_jobs_run_through_the_control_plane(
    control: ControlPlane, artificial: Path, tmp_path: Path
) -> None:
    ids = {job: submit(control, job) for job in JOBS}
    review = in_session(control, lambda s: review_run(s, control.sam, ids[EPISODES]))
    assert review.plan.max_rows_per_patient == BOUND  # the steward sees the bound
    assert review.can_decide and review.budget_after.remaining_epsilon == pytest.approx(3.0)
    assert {o.name: o.cells for o in review.plan.outputs} == {
        "episodes_by_method_group": 4,
        "episodes_by_method": 22,
        "day_cases_by_age_band": 3,
    }
    one_per_patient = in_session(control, lambda s: review_run(s, control.sam, ids[EMERGENCY]))
    assert one_per_patient.plan.max_rows_per_patient == 1
    for run_id in ids.values():
        approve(control, run_id)
    worker = Worker(control.db, Settings(data_dir=tmp_path))
    assert {worker.run_once() for _ in JOBS} == set(ids.values())
    assert worker.run_once() is None

    budget = in_session(control, lambda s: datasets.get_dataset(s, OPERATOR, "artificial_hes"))
    assert budget.budget.spent_epsilon == pytest.approx(3.5)  # 1 + 1.5 + 1, charged once each
    assert budget.budget.remaining_epsilon == pytest.approx(0.5)

    view = in_session(
        control, lambda s: releases.get_release_for_run(s, control.alice, ids[EPISODES])
    )
    assert in_session(control, lambda s: runs.get_run(s, control.alice, ids[EPISODES])).state is (
        RunState.RELEASED
    )
    assert view.epsilon == 1.0 and view.approval is not None and view.approval.steward == "sam"
    _, exact = run_job(EPISODES, artificial)
    expected = {o.name: o for o in review.plan.outputs}
    for output in view.release.outputs:
        half_width = expected[output.name].accuracy_95
        assert half_width is not None
        assert output.noise_scales == expected[output.name].noise_scales
        assert len(output.rows) == expected[output.name].cells
        for row in output.rows:
            assert row.estimate is not None and row.ci_low is not None and row.ci_high is not None
            assert row.ci_high - row.estimate == pytest.approx(half_width)
            assert row.estimate - row.ci_low == pytest.approx(half_width)
            true = exact[output.name][tuple(row.keys.values())] or 0
            # 10 interval half-widths: fails with probability ~1e-13 per cell.
            assert abs(row.estimate - true) <= 10 * half_width

    # What is left of the budget cannot pay for another run.
    again = submit(control, EMERGENCY)
    with pytest.raises(BudgetExceeded):
        approve(control, again)


def test_released_los_table_through_the_control_plane(
    control: ControlPlane, tmp_path: Path
) -> None:
    run_id = submit(control, LENGTH_OF_STAY)
    approve(control, run_id, "ICD-10 chapters are public keys")
    assert Worker(control.db, Settings(data_dir=tmp_path)).run_once() == run_id
    view = in_session(control, lambda s: releases.get_release_for_run(s, control.alice, run_id))
    csv_text = releases.export_release(view, releases.ExportFormat.CSV).decode()
    assert "XXI Health services contact (Z00-Z99)" in csv_text
    medians = view.release.output("median_length_of_stay_by_chapter")
    assert len(medians.rows) == 22 and all(row.ci_low is None for row in medians.rows)
    assert math.isclose(view.release.epsilon_spent, 1.5)


# --- The researcher's commands -----------------------------------------------------------------


def test_tre_generates_dummy_hes_and_checks_and_runs_the_jobs(tmp_path: Path) -> None:
    app = typer.Typer()
    researcher.register(app)
    dummy_commands.register(app)
    cli = CliRunner()
    generated = cli.invoke(
        app, ["dummy", "generate", "--schema", "hes", "--out", str(tmp_path / "hes.duckdb")]
    )
    assert generated.exit_code == 0, generated.output
    assert "hes_apc_diagnoses" in generated.output
    for job in JOBS:
        checked = cli.invoke(app, ["check", str(ROOT / "jobs" / job)])
        assert checked.exit_code == 0, checked.output
        bound = "at most 5 rows each" if job == EPISODES else "must have one row each"
        assert bound in " ".join(checked.output.split())
        ran = cli.invoke(
            app,
            [
                "run",
                str(ROOT / "jobs" / job),
                "--dataset",
                str(tmp_path / "hes.duckdb"),
                "--out",
                str(tmp_path / job),
                "--json",
            ],
        )
        assert ran.exit_code == 0, ran.output
        released = Release.model_validate_json(ran.stdout)
        assert released.job_name == job and released.epsilon_spent == plan(job).budget.epsilon
