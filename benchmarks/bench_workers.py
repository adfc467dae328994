"""The measured processes: one run of the representative job, in a fresh interpreter.

    python benchmarks/bench_workers.py tre    TASK.json RESULT.json
    python benchmarks/bench_workers.py exact  TASK.json RESULT.json
    python benchmarks/bench_workers.py opendp TASK.json RESULT.json

TASK.json (written by run_benchmark.py) names the dataset, the DuckDB limits and, per mode, the
plan JSON (tre), the exact SQL (exact) or the OpenDP queries' parameters (opendp). Each mode
imports only what it needs, so the process's wall time and peak memory, measured from outside
with /usr/bin/time, are those of that path alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()


def connect_as_analyst(task: dict[str, Any]) -> Any:
    """The exact path and the peers open the dataset as an analyst would: read-only, the same
    limits, codelists as TEMP tables. Imports only DuckDB, so every peer's environment can
    use it."""
    import duckdb

    connection = duckdb.connect(
        task["dataset"], read_only=True,
        config={"threads": task["threads"], "memory_limit": task["memory_limit"]},
    )
    for name, codes in task["codelists"].items():
        connection.execute(
            f'CREATE TEMP TABLE "{name}" AS SELECT unnest($1::VARCHAR[]) AS code', [codes]
        )
    return connection


def run_exact(task: dict[str, Any]) -> dict[str, Any]:
    """Exact aggregates: the cohort once into a TEMP table, then one GROUP BY per output."""
    import duckdb  # noqa: F401  (imported here so that the mark below includes it)

    marks = {"imported": time.perf_counter()}
    connection = connect_as_analyst(task)
    connection.execute(f"CREATE TEMP TABLE cohort AS {task['cohort_sql']}")
    marks["cohort"] = time.perf_counter()
    results = {}
    for name, sql in task["exact_sql"].items():
        results[name] = [list(row) for row in connection.execute(sql).fetchall()]
    marks["aggregates"] = time.perf_counter()
    connection.close()  # frees DuckDB's memory: ~0.9 s at 50M patients; tre closes too
    marks["closed"] = time.perf_counter()
    return {"results": results, "marks": marks}


def run_tre(task: dict[str, Any]) -> dict[str, Any]:
    """The trusted runner's path: a canonical plan through `trusted_env.engine.run_plan`."""
    marks: dict[str, float] = {}
    from trusted_env.engine import SandboxLimits, run_plan
    from trusted_env.schema import DatasetSchema
    from trusted_env.spec.plan import Plan

    marks["imported"] = time.perf_counter()
    plan = Plan.model_validate_json(Path(task["plan"]).read_text(encoding="utf-8"))
    schema = DatasetSchema.model_validate_json(Path(task["schema"]).read_text(encoding="utf-8"))
    limits = SandboxLimits(threads=task["threads"], memory_limit=task["memory_limit"])
    marks["plan loaded"] = time.perf_counter()

    def progress(message: str) -> None:
        marks[message] = time.perf_counter()

    release = run_plan(plan, Path(task["dataset"]), schema, limits, progress)
    marks["released"] = time.perf_counter()
    return {"release": release.model_dump(mode="json"), "marks": marks}


def run_opendp(task: dict[str, Any]) -> dict[str, Any]:
    """OpenDP's polars Context as documented: the cohort frame copied into a Context."""
    marks: dict[str, float] = {}
    import opendp.prelude as dp
    import polars as pl

    marks["imported"] = time.perf_counter()
    dp.enable_features("contrib")
    connection = connect_as_analyst(task)
    frame = connection.sql(task["cohort_sql"]).pl()
    connection.close()
    marks["cohort copied into polars"] = time.perf_counter()
    from opendp_reference import queries

    context = dp.Context.compositor(
        data=frame.lazy(),
        privacy_unit=dp.unit_of(contributions=1),
        privacy_loss=dp.loss_of(epsilon=task["epsilon"]),
        split_by_weights=task["weights"],
        margins=[dp.polars.Margin(by=[], max_length=task["max_length"])],
    )
    released, summaries = {}, {}
    for name, query in queries(context, task, dp, pl).items():
        summaries[name] = query.summarize(alpha=task["alpha"]).to_dicts()
        released[name] = query.release().collect().to_dicts()
        marks[f"released {name}"] = time.perf_counter()
    return {"released": released, "summaries": summaries, "marks": marks}


def run_compile(task: dict[str, Any]) -> dict[str, Any]:
    """Time building each output's OpenDP measurements from the plan (no data), cold."""
    from trusted_env.dp.opendp_core import opendp
    from trusted_env.dp.planned import expected_accuracy
    from trusted_env.spec.plan import Plan

    plan = Plan.model_validate_json(Path(task["plan"]).read_text(encoding="utf-8"))
    marks = {"imported": time.perf_counter()}
    opendp()
    marks["opendp core loaded"] = time.perf_counter()
    per_output = {}
    for planned in plan.outputs:
        started = time.perf_counter()
        expected_accuracy(planned)
        per_output[planned.output.name] = time.perf_counter() - started
    return {"per_output_seconds": per_output, "marks": marks}


def run_warm(task: dict[str, Any]) -> dict[str, Any]:
    """Both paths run repeatedly in one process, as the runner (`tre worker`) runs jobs.

    The first run of each pays the imports; the later ones show the per-run cost alone. The
    paths alternate, each opening the dataset afresh every run, and tre's memoised OpenDP
    measurements are dropped before each of its runs: a worker meets a new plan every time.
    """
    from trusted_env.dp import mechanisms
    from trusted_env.engine import SandboxLimits, run_plan
    from trusted_env.schema import DatasetSchema
    from trusted_env.spec.plan import Plan

    plan = Plan.model_validate_json(Path(task["plan"]).read_text(encoding="utf-8"))
    schema = DatasetSchema.model_validate_json(Path(task["schema"]).read_text(encoding="utf-8"))
    limits = SandboxLimits(threads=task["threads"], memory_limit=task["memory_limit"])
    seconds: dict[str, list[float]] = {"tre": [], "exact": []}

    def tre() -> None:
        for builder in (mechanisms.integer_laplace, mechanisms._quantile_selector,
                        mechanisms.thresholded_counts):
            builder.cache_clear()
        run_plan(plan, Path(task["dataset"]), schema, limits)

    paths = {"tre": tre, "exact": lambda: run_exact(task)}
    for repeat in range(task["warm_runs"] + 1):
        for mode in (["tre", "exact"] if repeat % 2 == 0 else ["exact", "tre"]):
            started = time.perf_counter()
            paths[mode]()
            seconds[mode].append(time.perf_counter() - started)
    return {"seconds": seconds, "marks": {}}


MODES = {"exact": run_exact, "tre": run_tre, "opendp": run_opendp, "compile": run_compile,
         "warm": run_warm}


def main() -> None:
    mode, task_path, result_path = sys.argv[1:4]
    task = json.loads(Path(task_path).read_text(encoding="utf-8"))
    result = MODES[mode](task)
    result["marks"] = {key: value - STARTED for key, value in result["marks"].items()}
    result["seconds_in_python"] = time.perf_counter() - STARTED
    Path(result_path).write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
