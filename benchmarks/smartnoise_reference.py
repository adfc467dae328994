"""The representative job through SmartNoise SQL, as its documentation shows (peer reference).

SmartNoise SQL pins an older OpenDP than trusted-env, so it runs from its own virtual
environment (see the README's "Performance" section):

    benchmarks/.data/snsql/bin/python benchmarks/smartnoise_reference.py TASK.json RESULT.json

The cohort comes from DuckDB as a pandas frame; SmartNoise's pandas reader copies it into an
in-memory SQLite database and rewrites each query with noise. Each output spends its epsilon:
a count is one statistic, a mean two (SUM and COUNT), so each statistic gets its share.
SmartNoise has no private quantile, so the median is skipped.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
ALPHA = 0.05


def _metadata(types: dict[str, str], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    bounds = {o["column"]: o["bounds"] for o in outputs if o.get("column")}
    columns: dict[str, Any] = {}
    for name, kind in types.items():
        numeric = kind.startswith(("INTEGER", "BIGINT", "DOUBLE", "FLOAT", "DECIMAL"))
        column: dict[str, Any] = {
            "type": ("float" if kind.startswith(("DOUBLE", "FLOAT", "DECIMAL")) else "int")
            if numeric else "string",
            "nullable": True,
        }
        if name in bounds:
            column["lower"], column["upper"] = bounds[name]
        columns[name] = column
    # One row per patient: row privacy is patient privacy. Keys are not censored (no delta).
    table = {"row_privacy": True, "censor_dims": False, **columns}
    return {"bench": {"bench": {"cohort": table}}}


def _sql(output: dict[str, Any], measures: str) -> str:
    keys = [column for column, _ in output["group_by"]]
    where = f" WHERE {output['column']} IS NOT NULL" if output.get("column") else ""
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    return f"SELECT {', '.join([*keys, measures])} FROM bench.cohort{where}{group}"  # noqa: S608


def main() -> None:
    task = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    import duckdb  # noqa: F401  (imported here so that the mark below includes it)
    import snsql
    from bench_workers import connect_as_analyst

    marks = {"imported": time.perf_counter()}
    connection = connect_as_analyst(task)
    frame = connection.sql(task["cohort_sql"]).df()
    connection.close()
    marks["cohort copied into pandas"] = time.perf_counter()
    metadata = _metadata(task["cohort_schema"], task["outputs"])
    # One reader (one copy into SQLite); each query gets its own privacy parameters.
    reader = snsql.from_df(frame, privacy=snsql.Privacy(epsilon=1.0, delta=0.0),
                           metadata=metadata)
    marks["cohort copied into SQLite"] = time.perf_counter()
    released, accuracy = {}, {}
    for output, epsilon in zip(task["outputs"], task["weights"], strict=True):
        if output["type"] not in ("count", "mean"):
            continue
        statistics = 1 if output["type"] == "count" else 2
        reader.privacy = snsql.Privacy(epsilon=epsilon / statistics, delta=0.0)
        if output["type"] == "count":
            query = _sql(output, "COUNT(*) AS n")
            accuracy[output["name"]] = reader.get_simple_accuracy(query, ALPHA)
        else:
            query = _sql(output, f"AVG({output['column']}) AS mean")
            parts = _sql(output, f"SUM({output['column']}) AS s, COUNT({output['column']}) AS n")
            accuracy[output["name"]] = reader.get_simple_accuracy(parts, ALPHA / 2)
        cost = reader.get_privacy_cost(query)
        released[output["name"]] = {"rows": [list(row) for row in reader.execute(query)],
                                     "epsilon_spent": cost[0]}
        marks[f"released {output['name']}"] = time.perf_counter()
    result = {"released": released, "accuracy": accuracy,
              "marks": {k: v - STARTED for k, v in marks.items()}}
    Path(sys.argv[2]).write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
