"""Task files for the measured processes, derived from the representative job's plan.

The exact path gets the same cohort SQL and, per output, a plain GROUP BY with the same
clamping and rounding to the declared bounds and grid that the engine applies; the OpenDP path
gets each output's parameters. Nothing here is timed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JOB_DIR = Path(__file__).resolve().parent / "representative_job"


def compile_plan() -> Any:
    from trusted_env.schema import load_schema
    from trusted_env.spec.job_folder import compile_job

    return compile_job(JOB_DIR, load_schema("primary_care"))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _clamped(output: Any) -> str:
    """The value on the output's grid within its bounds, as the engine computes it."""
    lower, upper = output.bounds
    step = output.resolution
    column = f"CAST({_quote(output.column)} AS DOUBLE)"
    return f"round(least(greatest({column}, {lower}), {upper}) / {step}) * {step}"


def exact_sql(output: Any) -> str:
    """A plain GROUP BY computing the output exactly (no key filtering, no noise)."""
    keys = [_quote(column) for column in output.group_columns]
    filters = [f"{_quote(output.where)} IS TRUE"] if output.where else []
    if output.type == "count":
        measure = "count(*)"
    else:
        column = _quote(output.column)
        filters.append(f"{column} IS NOT NULL AND NOT isnan(CAST({column} AS DOUBLE))")
        if output.nulls != "drop":
            raise ValueError("the benchmark's exact queries handle nulls: drop only")
        # The row count beside each value: the accuracy figures need each cell's size.
        measure = {
            "sum": f"sum({_clamped(output)}), count(*)",
            "mean": f"avg({_clamped(output)}), count(*)",
            "quantile": f"quantile_disc({_clamped(output)}, {getattr(output, 'quantile', 0.5)}), "
            "count(*)",
            "median": f"quantile_disc({_clamped(output)}, 0.5), count(*)",
        }[output.type]
    where = f" WHERE {' AND '.join(filters)}" if filters else ""
    group = " GROUP BY ALL" if keys else ""
    return f"SELECT {', '.join([*keys, measure])} FROM cohort{where}{group}"  # noqa: S608


def _group_keys(output: Any, schema: Any) -> list[list[Any]]:
    from trusted_env.validation.plan_checks import public_keys

    return [[group.column, list(public_keys(group, schema) or ())] for group in output.group_by]


def write_tasks(folder: Path, dataset: Path, plan: Any,
                settings: dict[str, Any]) -> dict[str, Path]:
    """One task file per mode for this dataset; returns their paths."""
    from trusted_env.schema import load_schema

    schema = load_schema(plan.dataset_schema)
    plan_path = folder / "plan.json"
    plan_path.write_text(plan.to_json(), encoding="utf-8")
    # The runner reads the dataset's schema as JSON from the control-plane database.
    schema_path = folder / "schema.json"
    schema_path.write_text(schema.model_dump_json(), encoding="utf-8")
    common = {
        "dataset": str(dataset),
        "threads": settings["threads"],
        "memory_limit": settings["memory_limit"],
        "cohort_sql": plan.sql,
        "codelists": {
            name: [row[codelist.columns.index("code")] for row in codelist.rows]
            for name, codelist in plan.codelists.items()
        },
    }
    outputs = [planned.output for planned in plan.outputs]
    tasks = {
        "tre": {**common, "plan": str(plan_path), "schema": str(schema_path)},
        "exact": {**common, "exact_sql": {o.name: exact_sql(o) for o in outputs}},
        "warm": {**common, "plan": str(plan_path), "schema": str(schema_path),
                 "exact_sql": {o.name: exact_sql(o) for o in outputs},
                 "warm_runs": settings["warm_runs"]},
        "opendp": {
            **common,
            "epsilon": plan.budget.epsilon,
            "weights": [planned.epsilon for planned in plan.outputs],
            "alpha": settings["alpha"],
            "max_length": settings["max_length"],
            "cohort_schema": cohort_types(dataset, plan, settings),
            "outputs": [_opendp_output(o, schema) for o in outputs],
        },
    }
    paths = {}
    for mode, task in tasks.items():
        paths[mode] = folder / f"task-{mode}.json"
        paths[mode].write_text(json.dumps(task, indent=1), encoding="utf-8")
    return paths


def _opendp_output(output: Any, schema: Any) -> dict[str, Any]:
    return {
        "name": output.name,
        "type": output.type,
        "column": getattr(output, "column", None),
        "bounds": list(getattr(output, "bounds", ()) or ()),
        "resolution": getattr(output, "resolution", None),
        "quantile": getattr(output, "quantile", None),
        "group_by": _group_keys(output, schema),
    }


def cohort_types(dataset: Path, plan: Any, settings: dict[str, Any]) -> dict[str, str]:
    """Column types of the cohort (a LIMIT 0 query: no data is read)."""
    import duckdb

    with duckdb.connect(str(dataset), read_only=True,
                        config={"threads": settings["threads"]}) as connection:
        for name in plan.codelists:
            connection.execute(f"CREATE TEMP TABLE {_quote(name)} (code VARCHAR)")
        described = connection.execute(
            f"DESCRIBE SELECT * FROM ({plan.sql}) LIMIT 0"  # noqa: S608
        ).fetchall()
    return {str(row[0]): str(row[1]) for row in described}
