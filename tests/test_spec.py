"""Job spec validation: what a researcher may write, and the message when they get it wrong."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from trusted_env.errors import SpecError
from trusted_env.spec.job_folder import load_spec, parse_codelist
from trusted_env.spec.model import JobSpec

MINIMAL: dict[str, Any] = {
    "name": "example",
    "description": "An example job.",
    "dataset": "primary_care",
    "budget": {"epsilon": 1.0},
    "outputs": [{"name": "patients", "type": "count"}],
}

MEAN: dict[str, Any] = {
    "name": "mean_hba1c",
    "type": "mean",
    "column": "hba1c",
    "bounds": [20, 150],
    "resolution": 0.1,
    "nulls": "drop",
}


def _spec(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(MINIMAL)
    spec.update(changes)
    return spec


def _refused(spec: dict[str, Any], tmp_path: Path) -> str:
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path)
    return str(caught.value)


def test_minimal_spec_is_accepted() -> None:
    spec = JobSpec.model_validate(MINIMAL)
    assert spec.outputs[0].type == "count"
    assert spec.budget.delta == 0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"unknown_key": 1}, "unknown_key"),
        ({"budget": {"epsilon": 0}}, "budget.epsilon"),
        ({"budget": {"epsilon": math.inf}}, "budget.epsilon"),
        ({"budget": {"epsilon": 1, "delta": 0.5}}, "budget.delta"),
        ({"outputs": []}, "outputs"),
        ({"name": "Has Spaces"}, "name"),
        ({"outputs": [{"name": "a", "type": "count"}, {"name": "a", "type": "count"}]},
         "unique"),
        ({"outputs": [{"name": "a", "type": "variance"}]}, "type"),
    ],
)
def test_invalid_top_level_is_refused_naming_the_field(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    assert expected in _refused(_spec(**change), tmp_path)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"bounds": None}, "bounds"),
        ({"bounds": [150, 20]}, "lower < upper"),
        ({"bounds": [20.05, 150]}, "not a multiple of the resolution"),
        ({"resolution": 0}, "resolution"),
        ({"nulls": None}, "nulls"),
        ({"nulls": "impute"}, "impute_value"),
        ({"nulls": "drop", "impute_value": 3}, "only used with nulls: impute"),
        ({"column": None}, "column"),
    ],
)
def test_numeric_outputs_need_bounds_grid_and_null_policy(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    output = {**MEAN, **change}
    output = {key: value for key, value in output.items() if value is not None}
    assert expected in _refused(_spec(outputs=[output]), tmp_path)


def test_group_keys_need_exactly_one_public_source(tmp_path: Path) -> None:
    both = {"column": "region", "keys": ["a"], "keys_from": "patients.region"}
    neither = {"column": "region"}
    for group in (both, neither):
        message = _refused(_spec(outputs=[{"name": "n", "type": "count", "group_by": [group]}]),
                           tmp_path)
        assert "exactly one of keys" in message


def test_keys_from_data_needs_a_delta_and_a_count(tmp_path: Path) -> None:
    grouped = {"name": "n", "type": "count",
               "group_by": [{"column": "practice", "keys_from_data": True}]}
    assert "set budget.delta" in _refused(_spec(outputs=[grouped]), tmp_path)
    mean = {**MEAN, "group_by": [{"column": "practice", "keys_from_data": True}]}
    message = _refused(_spec(outputs=[mean], budget={"epsilon": 1, "delta": 1e-7}), tmp_path)
    assert "only count outputs" in message
    accepted = JobSpec.model_validate(_spec(outputs=[grouped], budget={"epsilon": 1,
                                                                       "delta": 1e-7}))
    assert accepted.allocate() == [(1.0, 1e-7)]


def test_delta_without_thresholded_keys_is_refused(tmp_path: Path) -> None:
    assert "remove delta" in _refused(_spec(budget={"epsilon": 1, "delta": 1e-7}), tmp_path)


def test_budget_split_never_exceeds_the_total() -> None:
    outputs = [{"name": f"o{i}", "type": "count", "weight": w}
               for i, w in enumerate([1, 3, 7, 0.1, 2.9])]
    for epsilon in (0.1, 0.3, 1.0, 2.7, 9.99):
        for split in ("even", "weights"):
            spec = JobSpec.model_validate(
                _spec(outputs=outputs, budget={"epsilon": epsilon, "split": split}))
            shares = [eps for eps, _ in spec.allocate()]
            assert math.fsum(shares) <= epsilon
            assert math.fsum(shares) == pytest.approx(epsilon, rel=1e-12)
    weighted = JobSpec.model_validate(_spec(outputs=outputs[:2],
                                            budget={"epsilon": 1, "split": "weights"}))
    assert [eps for eps, _ in weighted.allocate()] == pytest.approx([0.25, 0.75])


def test_quantile_candidates_are_limited() -> None:
    with pytest.raises(ValueError, match="coarser resolution"):
        JobSpec.model_validate(_spec(outputs=[
            {**MEAN, "type": "median", "bounds": [0, 100000], "resolution": 0.1}]))


def test_histogram_edges_must_increase() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        JobSpec.model_validate(_spec(outputs=[
            {"name": "h", "type": "histogram", "column": "x", "bins": [1, 1, 2],
             "nulls": "drop"}]))


def test_codelists_need_a_code_column_and_are_canonical() -> None:
    with pytest.raises(SpecError, match="no 'code' column"):
        parse_codelist("c", "term\nx\n")
    first = parse_codelist("c", "code,term\n2,b\n1,a\n1,a\n\n")
    second = parse_codelist("c", "Code , term\n1,a\n2,b\n")
    assert first == second
    assert first.rows == (("1", "a"), ("2", "b"))


def test_job_schema_is_exported_for_editors() -> None:
    schema = JobSpec.model_json_schema()
    assert schema["additionalProperties"] is False
    assert {"name", "description", "dataset", "budget", "outputs"} <= set(schema["required"])
