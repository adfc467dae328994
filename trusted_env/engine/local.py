"""Runs on dummy data: the DP release plus the exact values beside it.

Dummy data is not sensitive, so a researcher may compare DP estimates with exact ones. The
trusted runner never calls this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trusted_env.dp.cells import CellKey
from trusted_env.dp.outputs import below_above
from trusted_env.dp.planned import mean_grid
from trusted_env.engine.connection import SandboxLimits
from trusted_env.engine.executor import (
    ExactCells,
    Progress,
    assemble_release,
    compute_all_exact,
    release_output,
)
from trusted_env.release.model import Release
from trusted_env.schema import DatasetSchema
from trusted_env.spec.outputs import MeanOutput, QuantileOutput, SumOutput
from trusted_env.spec.plan import Plan
from trusted_env.validation.plan_checks import check_plan_for_run

ExactValues = dict[str, dict[CellKey, float | None]]


def run_on_dummy(plan: Plan, dataset_path: Path, schema: DatasetSchema,
                 limits: SandboxLimits | None = None,
                 progress: Progress | None = None) -> tuple[Release, ExactValues]:
    checked = check_plan_for_run(plan, schema)
    exact = compute_all_exact(checked, dataset_path, limits or SandboxLimits(), progress)
    release = assemble_release(plan, [release_output(cells) for cells in exact])
    return release, {cells.planned.output.name: exact_estimates(cells) for cells in exact}


def exact_estimates(cells: ExactCells) -> dict[CellKey, float | None]:
    """What each released estimate aims at, computed without noise."""
    output = cells.planned.output
    keys = cells.layout.cells() if cells.layout.public else list(cells.values)
    return {cell: _exact_value(output, cells.values.get(cell)) for cell in keys}


def _exact_value(output: Any, value: Any) -> float | None:
    if isinstance(output, SumOutput):
        return (value or 0) * output.resolution
    if isinstance(output, MeanOutput):
        centred_sum, count = value or (0, 0)
        grid = mean_grid(output)
        return None if count == 0 else grid.value(grid.centre + centred_sum / count)
    if isinstance(output, QuantileOutput):
        return _exact_quantile(output, value)
    return float(value or 0)


def _exact_quantile(output: QuantileOutput, histogram: list[int] | None) -> float | None:
    if histogram is None or sum(histogram) == 0:
        return None
    lower, upper = output.bounds_in_units()
    below, above = below_above(histogram, upper - lower + 1)
    score = [abs((1 - output.quantile) * lt - output.quantile * gt)
             for lt, gt in zip(below, above, strict=True)]
    return (lower + score.index(min(score))) * output.resolution
