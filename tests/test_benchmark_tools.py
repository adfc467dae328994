"""The benchmark's own tools: its exact baseline computes what tre computes, and its error
figure for whole-number releases is the one OpenDP's noise actually gives.

A benchmark whose baseline answered a different question, or whose error figures were off,
would compare nothing; these run the real scripts on a small dummy dataset.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from trusted_env.engine import run_on_dummy
from trusted_env.schema import DatasetSchema

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from bench_accuracy import integer_error, tumult_errors  # noqa: E402
from bench_tasks import compile_plan, write_tasks  # noqa: E402
from bench_workers import run_exact  # noqa: E402


def _exact_rows(tmp_path: Path, dataset: Path, plan: Any) -> dict[str, list[list[Any]]]:
    settings = {"threads": 2, "memory_limit": "1GB", "alpha": 0.05, "max_length": 4_000,
                "warm_runs": 0}
    tasks = write_tasks(tmp_path, dataset, plan, settings)
    task = json.loads(tasks["exact"].read_text(encoding="utf-8"))
    results: dict[str, list[list[Any]]] = run_exact(task)["results"]
    return results


def test_the_exact_baseline_computes_the_same_aggregates_as_the_engine(
    tmp_path: Path, dummy_dataset: Path, primary_care: DatasetSchema
) -> None:
    plan = compile_plan()
    baseline = _exact_rows(tmp_path, dummy_dataset, plan)
    _, engine = run_on_dummy(plan, dummy_dataset, primary_care)
    for planned in plan.outputs:
        output = planned.output
        width = len(output.group_columns)
        rows = baseline[output.name]
        assert rows, output.name
        for row in rows:
            cell = tuple(str(key) for key in row[:width])
            expected = engine[output.name][cell]
            assert expected is not None
            assert math.isclose(float(row[width]), expected, rel_tol=1e-9, abs_tol=1e-9), (
                output.name, cell)
        if width:
            # Cells with no rows: a count of 0 in the engine, no row in a GROUP BY.
            populated = {cell for cell, value in engine[output.name].items()
                         if value is not None and (output.type != "count" or value > 0)}
            assert populated == {tuple(str(k) for k in row[:width]) for row in rows}


@pytest.mark.parametrize("scale", [1.0, 4.0, 9.5])
def test_whole_number_error_is_what_opendp_discrete_noise_gives(scale: float) -> None:
    """95% of OpenDP's discrete Laplace draws lie within k, and fewer than 95% within k - 1."""
    from trusted_env.dp.mechanisms import integer_laplace

    mechanism = integer_laplace(1, 1 / scale)
    k = integer_error("Integer Laplace", mechanism.scale, 0.05)
    draws = mechanism.release([0] * 40_000)
    beyond = sum(abs(x) > k for x in draws) / len(draws)
    beyond_one_less = sum(abs(x) > k - 1 for x in draws) / len(draws)
    # Standard error of each fraction is ~0.0011: the bands are five of them wide.
    assert beyond <= 0.05 + 0.0055
    assert beyond_one_less > 0.05 - 0.0055


def test_whole_number_error_of_rounded_continuous_noise() -> None:
    """SmartNoise rounds continuous Laplace noise; 95% of rounded draws lie within k.

    The draws only check the benchmark's arithmetic (a Laplace variable is the difference of
    two exponential ones); nothing here releases anything.
    """
    scale = 4.0
    k = integer_error("Laplace", scale, 0.05)
    generator = random.Random(20261121)
    draws = [round(generator.expovariate(1 / scale) - generator.expovariate(1 / scale))
             for _ in range(40_000)]
    assert sum(abs(x) > k for x in draws) / len(draws) <= 0.05 + 0.0055
    assert sum(abs(x) > k - 1 for x in draws) / len(draws) > 0.05 - 0.0055


def test_tumult_mean_error_covers_its_noisy_sum_of_deviations_over_noisy_count() -> None:
    """Tumult's mean: (sum of deviations from the midpoint + Laplace) / (count + geometric)
    + midpoint. At least 95% of such releases lie within the benchmark's half-width (a union
    bound over both noises' 97.5% accuracies, as for every path), and well under 95% within
    half of it: the figure is conservative, not vacuous (seeded draws check arithmetic only)."""
    plan = compile_plan()
    planned = next(p for p in plan.outputs if p.output.name == "mean_hba1c_by_region")
    n, mean, midpoint = 2_000, 42.0, 85.0
    noise = [{"mechanism": "LAPLACE", "scale": 520.0}, {"mechanism": "GEOMETRIC", "scale": 8.0}]
    [half_width] = tumult_errors(planned, noise, midpoint, [["London", mean, n]])
    generator = random.Random(20261121)

    def laplace(scale: float) -> float:
        return generator.expovariate(1 / scale) - generator.expovariate(1 / scale)

    def geometric(scale: float) -> int:
        # Two-sided geometric: the difference of two geometric variables with p = 1 - e^(-1/s).
        rate = 1 / scale
        return math.floor(generator.expovariate(rate)) - math.floor(generator.expovariate(rate))

    releases = [(n * (mean - midpoint) + laplace(520.0)) / (n + geometric(8.0)) + midpoint
                for _ in range(40_000)]
    def covered(width: float) -> float:
        return sum(abs(r - mean) <= width for r in releases) / len(releases)

    assert covered(half_width) >= 0.95
    assert covered(half_width / 2) < 0.95
