"""`tre` end to end, as a real process: exit codes, messages, outputs on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import JOBS, REPO


def tre(*args: str, cwd: Path = REPO,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI, with arguments from the test
        [sys.executable, "-m", "trusted_env.cli.app", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_check_shows_reads_outputs_and_accuracy() -> None:
    result = tre("check", str(JOBS / "hba1c_control"))
    assert result.returncode == 0, result.stderr
    for expected in ("clinical_events", "mean_hba1c_by_imd", "median_hba1c", "epsilon"):
        assert expected in result.stdout
    as_json = json.loads(tre("check", str(JOBS / "hba1c_control"), "--json").stdout)
    assert [o["name"] for o in as_json["outputs"]] == [
        "mean_hba1c_by_imd", "poor_control_by_imd", "median_hba1c", "hba1c_distribution"]
    assert sum(o["epsilon"] for o in as_json["outputs"]) <= as_json["epsilon"]


def test_plan_hash_is_stable_across_processes(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out in (first, second):
        result = tre("check", str(JOBS / "flu_vaccine_uptake"), "--plan-out", str(out))
        assert result.returncode == 0, result.stderr
    assert first.read_bytes() == second.read_bytes()


def test_run_writes_release_and_shows_exact_values(tmp_path: Path, dummy_dataset: Path) -> None:
    out = tmp_path / "out"
    result = tre("run", str(JOBS / "flu_vaccine_uptake"), "--dataset", str(dummy_dataset),
                 "--out", str(out), "--json", "--show-exact")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {o["name"] for o in document["outputs"]} == {"uptake_by_region",
                                                        "vaccinated_by_region_sex"}
    assert set(document["exact"]) == {"uptake_by_region", "vaccinated_by_region_sex"}
    assert (out / "release.json").is_file()
    assert (out / "uptake_by_region.csv").read_text().startswith("region,estimate,ci_low,ci_high")


EXAMPLE_JOBS = sorted(path for path in JOBS.iterdir() if (path / "job.yaml").is_file())


@pytest.mark.parametrize("job", EXAMPLE_JOBS, ids=[job.name for job in EXAMPLE_JOBS])
def test_every_example_job_runs_on_dummy_data(
    job: Path, tmp_path_factory: pytest.TempPathFactory, dummy_dataset: Path
) -> None:
    """Each job on its schema's dummy data: the shared fixture, or one generated on first use
    in a temporary dummy-data folder (as `tre run` does in a fresh clone)."""
    dataset_schema = yaml.safe_load((job / "job.yaml").read_text())["dataset"]
    dataset = ["--dataset", str(dummy_dataset)] if dataset_schema == "primary_care" else []
    dummy_dir = tmp_path_factory.getbasetemp() / "dummy_data_for_jobs"
    out = tmp_path_factory.mktemp("out")
    result = tre("run", str(job), *dataset, "--out", str(out),
                 env={"TRE_DUMMY_DATA_DIR": str(dummy_dir)})
    assert result.returncode == 0, f"{job.name}: {result.stderr}"
    assert (out / "release.json").is_file()


def test_bad_input_is_one_clear_message_and_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("name: x\ndescription: d\ndataset: primary_care\n"
                                       "budget: {epsilon: 1}\noutputs: [{name: n, type: count}]\n")
    (tmp_path / "cohort.sql").write_text("SELECT patient_id FROM patients; DROP TABLE patients")
    result = tre("check", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error:")


def test_usage_errors_exit_2() -> None:
    assert tre("check").returncode == 2
    assert tre("check", "/no/such/job").returncode == 2
